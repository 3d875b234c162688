#!/usr/bin/env python3
"""`pull-with: client` against `pull-with: daemon`, the same image in the same run, alternating.

A shaping proxy of the bench's own sits in front of the stack's registry on loopback: each TCP
connection through it gets its own throughput cap and a round-trip delay (half each way), as a
registry far away or behind a CDN edge gives one stream. Both sides pull through it: the daemon
pulls from a loopback address (plain HTTP by Docker's default), so the image reference names the
proxy's loopback port. Medians of alternating runs; peak RSS is the binary's ru_maxrss from wait4.
Needs the stack from scripts/stack.sh (IR_* variables) and the static release binary.
"""
import argparse
import os
import queue
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BIN, DOCKER, E, HEAD, REGISTRY, build_image, docker, event_file, forget  # noqa: E402

CHUNK = 64 << 10
# chunks queued per direction of a connection: the proxy's buffer stays small (512 KiB)
DEPTH = 8


class Shaper:
    """A TCP proxy on 127.0.0.1 to `upstream`: every connection capped at `rate` bytes/s each
    way, each byte held `rtt / 2` each way. Threads end with their sockets; `stop` ends the
    accept loop within half a second."""

    def __init__(self, upstream, rtt_s, rate):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.delay, self.rate = rtt_s / 2, rate
        self.lst = socket.socket()
        self.lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(64)
        self.lst.settimeout(0.5)
        self.host = f"127.0.0.1:{self.lst.getsockname()[1]}"
        self.stopped = threading.Event()
        self.connections = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def stop(self):
        self.stopped.set()

    def accept(self):
        while not self.stopped.is_set():
            try:
                c, _ = self.lst.accept()
            except socket.timeout:
                continue
            self.connections += 1
            try:
                u = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            for s in (c, u):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.pipe(c, u)
            self.pipe(u, c)
        self.lst.close()

    def pipe(self, src, dst):
        q = queue.Queue(maxsize=DEPTH)

        def read():
            while True:
                try:
                    data = src.recv(CHUNK)
                except OSError:
                    data = b""
                q.put((time.monotonic() + self.delay, data))
                if not data:
                    return

        def write():
            free = 0.0  # when the connection's cap lets the next byte go
            while True:
                due, data = q.get()
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                if not data:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                if self.rate:
                    now = time.monotonic()
                    free = max(free, now)
                    if free > now:
                        time.sleep(free - now)
                    free += len(data) / self.rate
                try:
                    dst.sendall(data)
                except OSError:
                    # the other side went: drain until the reader ends
                    while q.get()[1]:
                        pass
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()


def run_binary(env):
    """(seconds, peak RSS KiB, output) of one run of the binary; exits on failure."""
    t = time.monotonic()
    p = subprocess.Popen([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.monotonic() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"image-resolver failed:\n{out[-3000:]}")
    return elapsed, usage.ru_maxrss, out


def pull_env(work, image, event, by):
    out = os.path.join(work, "output")
    open(out, "w").close()
    return {"PATH": E["PATH"], "GITHUB_EVENT_NAME": "workflow_run", "GITHUB_EVENT_PATH": event,
            "GITHUB_REPOSITORY": "acme/charon", "GITHUB_OUTPUT": out, "DOCKER_HOST": E["IR_DOCKER_HOST"],
            "GITHUB_API_URL": "http://127.0.0.1:9", "INPUT_IMAGE": image, "INPUT_FALLBACK": "none",
            "INPUT_PULL-WITH": by}


def case(work, event, name, layers, layer_mb, rtt_ms, rate_mb, runs):
    """Builds and pushes the image, then alternates daemon and client pulls, cold each time."""
    repo = f"{REGISTRY}/bench-pull/{name}"
    tag = f"main-{HEAD[:7]}"
    print(f"{name}: building {layers} × {layer_mb} MB", flush=True)
    image_id = build_image(f"{repo}:{tag}", HEAD, layers, layer_mb << 20, work)
    docker("push", "-q", f"{repo}:{tag}")
    # the load floor: `docker load` of the same image from a tar on disk
    tar = os.path.join(work, "image.tar")
    docker("save", "-o", tar, f"{repo}:{tag}")
    forget(image_id)
    t = time.monotonic()
    docker("load", "-q", "-i", tar)
    load_floor = time.monotonic() - t
    os.remove(tar)
    forget(image_id)
    shaped = rtt_ms > 0 or rate_mb > 0
    proxy = Shaper(REGISTRY, rtt_ms / 1000, rate_mb * 1e6) if shaped else None
    via = f"{proxy.host}/bench-pull/{name}" if proxy else repo
    daemon, client, rss, fetched = [], [], [], []
    try:
        for _ in range(runs):
            for by, times in (("daemon", daemon), ("client", client)):
                forget(image_id, f"{via}:{tag}")
                t, m, out = run_binary(pull_env(work, via, event, by))
                times.append(t)
                if by == "client":
                    rss.append(m)
                    got = re.search(r"Loaded sha256:\w+: .* in ([0-9.]+)s, the last byte fetched after ([0-9.]+)s "
                                    r"\((\d+ blob\(s\) in \d+ ranges, \d+ whole)\)", out)
                    if got:
                        fetched.append(f"{got.group(2)} s / {got.group(1)} s ({got.group(3)})")
    finally:
        if proxy:
            proxy.stop()
        forget(image_id, f"{via}:{tag}", f"{repo}:{tag}")
    shape = f"{rtt_ms} ms RTT, {rate_mb} MB/s per connection" if shaped else "loopback, no shaping"
    return {"name": f"{layers * layer_mb} MB, {layers} layer(s), {shape}",
            "daemon": statistics.median(daemon), "client": statistics.median(client),
            "rss": max(rss) / 1024, "load": load_floor, "fetched": fetched[-1] if fetched else "",
            "runs": runs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small image, one run: only keeps the harness working")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", action="append", default=[], metavar="CASE",
                    help="run only this case (one-1g, four-250m, plain-250m); may be repeated")
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as work:
        event = event_file(work, HEAD, "main")
        if args.quick:
            rows.append((case(work, event, "quick-shaped", 1, 16, 20, 20, runs), None))
            rows.append((case(work, event, "quick-plain", 2, 8, 0, 0, runs), None))
        else:
            cases = [("one-1g", 1, 1024, 20, 20, 0.4), ("four-250m", 4, 62, 20, 20, 0.7),
                     ("plain-250m", 4, 62, 0, 0, 1.1)]
            for name, layers, mb, rtt, rate, goal in cases:
                if not args.only or name in args.only:
                    rows.append((case(work, event, name, layers, mb, rtt, rate, runs), goal))
    print()
    print(f"Client pull against daemon pull, runs per side: {runs} (alternating, cold); "
          f"date {time.strftime('%Y-%m-%d')}; command: python3 bench/pull.py{' --quick' if args.quick else ''}")
    print()
    print("| image, network | client / daemon | goal | met | client s | daemon s | docker load -i s | client: last byte / loaded, s (last run) |")
    print("|---|---|---|---|---|---|---|---|")
    for r, goal in rows:
        ratio = r["client"] / r["daemon"]
        met = "" if goal is None else ("yes" if ratio <= goal else "no")
        shown = "" if goal is None else f"<= {goal}"
        print(f"| {r['name']} | {ratio:.2f} | {shown} | {met} | {r['client']:.2f} | {r['daemon']:.2f} | "
              f"{r['load']:.2f} | {r['fetched']} |")
    big = rows[0][0]
    if not args.quick and "1024 MB" not in big["name"]:
        return
    print(f"| Peak RSS of the client pull, {big['name']} | {big['rss']:.1f} MiB | "
          f"{'' if args.quick else '<= 64 MiB'} | {'' if args.quick else ('yes' if big['rss'] <= 64 else 'no')} | | | | |")


if __name__ == "__main__":
    main()
