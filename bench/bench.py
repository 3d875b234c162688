#!/usr/bin/env python3
"""image-resolver against the shell recipes it replaces, on the same images in the same run.

Medians of alternating runs; ratios as the issue defines them. Peak memory is the child's
ru_maxrss from wait4. Needs the stack from scripts/stack.sh (IR_* variables).
"""
import argparse
import hashlib
import http.server
import json
import os
import platform
import random
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the shell recipes image-resolver replaces, kept with the benchmark that times them
BASELINE = os.path.join(ROOT, "bench", "baseline")
# the binary the action image ships: fully static
BIN = os.path.join(ROOT, "target", "x86_64-unknown-linux-gnu", "release", "image-resolver")
E = os.environ
DOCKER = [E["IR_DOCKER_CLI"], "-H", E["IR_DOCKER_HOST"]]
REGISTRY = E["IR_REGISTRY"]
HEAD = "c0ffee00" * 5
STALE = "5ca1ab1e" * 5


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout.strip()


def docker(*args):
    return sh(*DOCKER, *args)


def timed(cmd, env=None, expect_ok=True):
    """Runs cmd; returns (seconds, peak RSS in KiB of the process itself)."""
    # output to a file, not a pipe: nobody reads a pipe while wait4 waits, and a process that
    # writes more than a pipe holds (64 KiB) would block forever
    with tempfile.TemporaryFile() as log:
        t = time.monotonic()
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.monotonic() - t
        log.seek(0)
        out = log.read().decode(errors="replace")
    ok = os.waitstatus_to_exitcode(status) == 0
    if ok != expect_ok:
        sys.exit(f"{cmd[0]} {'failed' if expect_ok else 'succeeded'} unexpectedly:\n{out[-3000:]}")
    return elapsed, usage.ru_maxrss


def build_image(tag, revision, layers, layer_bytes, work):
    ctx = tempfile.mkdtemp(dir=work)
    lines = ["FROM scratch"]
    for i in range(layers):
        with open(os.path.join(ctx, f"layer{i}.bin"), "wb") as f:
            left = layer_bytes
            while left:
                n = min(left, 1 << 20)
                f.write(random.randbytes(n))
                left -= n
        lines.append(f"COPY layer{i}.bin /layer{i}.bin")
    lines.append(f"LABEL org.opencontainers.image.revision={revision}")
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    docker("build", "-q", "-t", tag, ctx)
    shutil.rmtree(ctx)
    return docker("inspect", "--format", "{{.Id}}", tag)


def forget(*names):
    for n in names:
        subprocess.run([*DOCKER, "rmi", "-f", n], capture_output=True)


class GitHub(http.server.BaseHTTPRequestHandler):
    """Just enough of GitHub for one artifact: list, 302 to the blob, the blob."""
    zip_path = None
    digest = None
    protocol_version = "HTTP/1.1"
    # headers and body go out as separate writes: with Nagle on, each answer waits for the
    # client's delayed ACK (40 ms on Linux), which would be timed as ours
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        host = self.headers.get("host")
        if "/git/commits/" in path:
            # the revision check's same-tree look-up: every commit has a tree of its own here
            sha = path.rsplit("/", 1)[1]
            body = json.dumps({"sha": sha, "tree": {"sha": hashlib.sha1(sha.encode()).hexdigest()}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path.endswith("/artifacts"):
            body = json.dumps({"total_count": 1, "artifacts": [{
                "id": 1, "name": "push-image", "size_in_bytes": os.path.getsize(self.zip_path),
                "expired": False, "digest": self.digest}]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path.endswith("/zip"):
            self.send_response(302)
            self.send_header("location", f"http://{host}/blob/artifact.zip")
            self.send_header("content-length", "0")
            self.end_headers()
        elif path.startswith("/blob/"):
            self.send_response(200)
            self.send_header("content-length", str(os.path.getsize(self.zip_path)))
            self.end_headers()
            with open(self.zip_path, "rb") as f:
                shutil.copyfileobj(f, self.wfile, 1 << 20)
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()


def serve(zip_path):
    digest = hashlib.sha256()
    with open(zip_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    GitHub.zip_path, GitHub.digest = zip_path, "sha256:" + digest.hexdigest()
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), GitHub)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def resolver_env(work, image, event, extra=None):
    out = os.path.join(work, "output")
    open(out, "w").close()
    env = {"PATH": E["PATH"], "GITHUB_EVENT_NAME": "workflow_run", "GITHUB_EVENT_PATH": event,
           "GITHUB_REPOSITORY": "acme/charon", "GITHUB_OUTPUT": out, "DOCKER_HOST": E["IR_DOCKER_HOST"],
           "INPUT_IMAGE": image, "INPUT_LOCAL-TAG": "charon:local", "INPUT_GITHUB-TOKEN": "bench-token"}
    env.update(extra or {})
    return env


def event_file(work, head, tag_branch):
    ev = {"action": "completed", "repository": {"id": 1, "full_name": "acme/charon"},
          "workflow_run": {"id": 4242, "run_number": 1, "run_attempt": 1, "name": "build", "event": "push",
                           "conclusion": "success", "head_sha": head, "head_branch": tag_branch, "pull_requests": [],
                           "head_repository": {"id": 1, "full_name": "acme/charon", "owner": {"login": "acme"}},
                           "repository": {"id": 1, "full_name": "acme/charon"}}}
    p = os.path.join(work, "event.json")
    with open(p, "w") as f:
        json.dump(ev, f)
    return p


def first_request(work, event):
    """Seconds from spawning the binary to its first connection (a registry that never answers)."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    port = lst.getsockname()[1]
    env = resolver_env(work, f"127.0.0.1:{port}/acme/charon", event,
                       {"INPUT_MODE": "verify", "INPUT_RETRIES": "1", "INPUT_FALLBACK": "none"})
    t = time.monotonic()
    p = subprocess.Popen([BIN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn, _ = lst.accept()
    elapsed = time.monotonic() - t
    conn.close()
    lst.close()
    p.wait()
    return elapsed


def zip_artifact(tar, dest):
    # as actions/upload-artifact zips it: deflate, level 6
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.write(tar, "charon-image.tar")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small image, one run: only keeps the harness working")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--big-mb", type=int, default=1024, help="size of the second artifact")
    ap.add_argument("--big-runs", type=int, default=3, help="runs per side at --big-mb")
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    layers, layer_mb = (3, 1) if args.quick else (5, 52)
    work = tempfile.mkdtemp(prefix="ir-bench-")
    results = []
    try:
        repo = f"{REGISTRY}/bench/charon"
        good_tag, stale_tag = f"main-{HEAD[:7]}", f"stale-{HEAD[:7]}"
        print(f"building a {layers}-layer image of {layers * layer_mb} MB", flush=True)
        image_id = build_image(f"{repo}:{good_tag}", HEAD, layers, layer_mb << 20, work)
        docker("push", "-q", f"{repo}:{good_tag}")
        stale_id = build_image(f"{repo}:{stale_tag}", STALE, layers, layer_mb << 20, work)
        docker("push", "-q", f"{repo}:{stale_tag}")
        tar = os.path.join(work, "image.tar")
        docker("save", "-o", tar, f"{repo}:{good_tag}")
        zip_path = os.path.join(work, "artifact.zip")
        zip_artifact(tar, zip_path)
        forget(stale_id, f"{repo}:{stale_tag}")

        event = event_file(work, HEAD, "main")
        recipe_env = dict(E, DOCKER_HOST=E["IR_DOCKER_HOST"], PATH=os.path.dirname(E["IR_DOCKER_CLI"]) + ":" + E["PATH"])

        def cold():
            forget(image_id, f"{repo}:{good_tag}", "charon:local")

        # 1. cold pull
        ir, sh_ = [], []
        for _ in range(runs):
            cold()
            sh_.append(timed(["bash", f"{BASELINE}/registry-recipe.sh"],
                             env=dict(recipe_env, IMAGE=repo, TAG=good_tag, LOCAL="charon:local", EXPECTED_SHA=HEAD))[0])
            cold()
            ir.append(timed([BIN], env=resolver_env(work, repo, event, {"INPUT_FALLBACK": "none"}))[0])
        results.append(("Cold pull, %d MB, %d layers" % (layers * layer_mb, layers), "image-resolver / registry-recipe",
                        statistics.median(ir) / statistics.median(sh_), "<= 1.05", statistics.median(ir), statistics.median(sh_)))

        # 2. stale image: the recipe pulls it all, then fails; we refuse from the config
        stale_event = event_file(work, HEAD, "stale")
        # a GitHub stand-in answers the same-tree look-up a mismatch costs (two calls)
        api, api_base = serve(stale_event)
        ir, sh_ = [], []
        for _ in range(runs):
            # by ID too: the recipe's `docker tag` leaves charon:stale holding the image
            forget(stale_id, f"{repo}:{stale_tag}", "charon:stale")
            sh_.append(timed(["bash", f"{BASELINE}/registry-recipe.sh"], expect_ok=False,
                             env=dict(recipe_env, IMAGE=repo, TAG=stale_tag, LOCAL="charon:stale", EXPECTED_SHA=HEAD))[0])
            forget(stale_id, f"{repo}:{stale_tag}", "charon:stale")
            ir.append(timed([BIN], expect_ok=False, env=resolver_env(
                work, repo, stale_event, {"INPUT_FALLBACK": "none", "GITHUB_API_URL": api_base}))[0])
        api.shutdown()
        results.append(("Stale image (another commit's label)", "registry-recipe / image-resolver",
                        statistics.median(sh_) / statistics.median(ir), ">= 50", statistics.median(ir), statistics.median(sh_)))

        # 3. artifact fallback against `docker load -i` of the same tar on disk and the recipe,
        # and 4. its peak memory; at the image's size and at --big-mb
        event_ok = event
        memory = []

        def artifact_rows(tar_path, zip_file, loaded, image, n):
            srv, base = serve(zip_file)
            ir, sh_, load, rss = [], [], [], []

            def forget_all():
                forget(image, loaded, "charon:local")

            for _ in range(n):
                forget_all()
                load.append(timed([*DOCKER, "load", "-q", "-i", tar_path])[0])
                forget_all()
                sh_.append(timed(["bash", f"{BASELINE}/artifact-recipe.sh"],
                                 env=dict(recipe_env, ZIP_URL=f"{base}/blob/artifact.zip", TAR="charon-image.tar",
                                          LOADED=loaded, LOCAL="charon:local", EXPECTED_SHA=HEAD))[0])
                forget_all()
                t, m = timed([BIN], env=resolver_env(work, f"{REGISTRY}/bench/missing", event_ok, {"GITHUB_API_URL": base}))
                ir.append(t)
                rss.append(m)
            srv.shutdown()
            forget_all()
            mb = os.path.getsize(tar_path) >> 20
            a, b, c = statistics.median(ir), statistics.median(load), statistics.median(sh_)
            results.append((f"Artifact fallback, {mb} MB tar (zip, deflate 6)", "image-resolver / docker load -i",
                            a / b, "<= 1.15", a, b))
            results.append((f"Artifact fallback, {mb} MB tar (zip, deflate 6)", "image-resolver / artifact-recipe",
                            a / c, "<= 0.6", a, c))
            memory.append((f"{mb} MB artifact", max(rss) / 1024))

        artifact_rows(tar, zip_path, f"{repo}:{good_tag}", image_id, runs)
        if not args.quick:
            big_layers = max(1, args.big_mb // 128)
            big_id = build_image(f"{repo}:big", HEAD, big_layers, 128 << 20, work)
            big_tar = os.path.join(work, "big.tar")
            docker("save", "-o", big_tar, f"{repo}:big")
            forget(f"{repo}:big", big_id)
            os.remove(zip_path)
            zip_artifact(big_tar, zip_path)
            artifact_rows(big_tar, zip_path, f"{repo}:big", big_id, max(1, args.big_runs))
            os.remove(big_tar)

        # 5. size and start
        start = []
        for _ in range(max(runs, 3)):
            env = resolver_env(work, f"{REGISTRY}/bench/nothing", event, {"INPUT_MODE": "compute"})
            start.append(timed([BIN], env=env)[0])
        first = [first_request(work, event) for _ in range(max(runs, 5))]
        size = os.path.getsize(BIN)
        out = sh(os.path.join(ROOT, "scripts", "build-image.sh"), "image-resolver:bench", env=dict(E, IR_PREBUILT="1"))
        image_size = int(docker("inspect", "--format", "{{.Size}}", out))

        print()
        print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
              f"date {time.strftime('%Y-%m-%d')}; runs per side: {runs}; command: bench/run.sh{' --quick' if args.quick else ''}")
        print()
        print("| measure | ratio | goal | met | image-resolver s | baseline s |")
        print("|---|---|---|---|---|---|")
        for name, how, ratio, goal, a, b in results:
            op, bound = goal.split()
            met = ratio <= float(bound) if op == "<=" else ratio >= float(bound)
            print(f"| {name}: {how} | {ratio:.2f} | {goal} | {'yes' if met else 'no'} | {a:.2f} | {b:.2f} |")
        for name, mib in memory:
            print(f"| Peak RSS, {name} | {mib:.1f} MiB | <= 64 MiB | {'yes' if mib <= 64 else 'no'} | | |")
        print(f"| Action image size | {image_size / 1e6:.1f} MB | <= 15 MB | {'yes' if image_size <= 15e6 else 'no'} | | |")
        print(f"| Binary size (static release) | {size / 1e6:.1f} MB | | | | |")
        print(f"| Start to first network request (verify mode) | {statistics.median(first) * 1000:.1f} ms | | | | |")
        print(f"| Start to exit, compute mode (no network) | {statistics.median(start) * 1000:.1f} ms | | | | |")
        forget(image_id, f"{repo}:{good_tag}", "charon:local", "charon:stale")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
