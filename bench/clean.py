#!/usr/bin/env python3
"""`mode: clean` on a repository of 10,000 tags, 2,000 of them removable, against the seed-style
shell loop (bench/baseline/clean-recipe.sh: list the tags, filter, HEAD and DELETE per tag).

The repository: 2,000 tags of closed pull requests (each its own digest; 100 of those digests
also carry a `v*` release tag), 1,000 tags of open pull requests, 1,000 tags of an existing
branch, 5,900 unrecognised tags and the 100 release tags. Both sides clean a fresh copy of it; the
recipe is handed the 2,000 closed tags (it cannot ask GitHub), so both remove the same tags — and
the recipe, deleting by digest, takes the 100 release tags along. A GitHub stand-in (open pull
requests a page at a time, each closed one asked, the branch list) counts the API calls.

Reported: wall time of each side, image-resolver's peak RSS (ru_maxrss from wait4), its GitHub API
calls and registry requests (from the registry's access log, when $IR_STACK_DIR has it). Needs the
stack of scripts/stack.sh (IR_* variables) and the release binary that bench/run.sh builds.
`--quick`: 1,000 tags, 200 removable (keeps the harness working). `--tags N --removable M`: a
repository of N tags of which M are removable (the other kinds scale with N).

Why the full removal is slow: distribution 2.8 answers `DELETE /v2/<name>/manifests/<digest>` by
listing every tag of the repository and reading each one's link to find those naming the digest
(the tag store's `Lookup`, one tag after another), so each deletion costs time proportional to the
repository's tags, on either side. `--delete-cost` measures one deletion's time at 1,000 tags and
in the full-size repository (after image-resolver's run), the registry's share of any removal.
"""
import argparse
import hashlib
import http.server
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BASELINE, BIN, E, REGISTRY  # noqa: E402

RECIPE = os.path.join(BASELINE, "clean-recipe.sh")
TOKEN = "ghs_BenchToken0123456789abcdefXYZ"
OCI = "application/vnd.oci.image.manifest.v1+json"


def timed(cmd, env, log):
    """Runs cmd, its output into the file `log`; returns (seconds, peak RSS in KiB of the process
    itself). Not through pipes: a clean's log (a line per deletion) outgrows a pipe's buffer, and
    a child writing to a pipe nobody reads waits forever."""
    with open(log, "wb") as out:
        t = time.monotonic()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        elapsed = time.monotonic() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed:\n{open(log, errors='replace').read()[-3000:]}")
    return elapsed, usage.ru_maxrss


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def curl(*args, data=None):
    return subprocess.run(["curl", "-sSf", *args], input=data, check=True, capture_output=True).stdout


def blob(repo, data):
    d = sha256(data)
    head = curl("-X", "POST", "-D", "-", "-o", "/dev/null", f"http://{REGISTRY}/v2/{repo}/blobs/uploads/").decode()
    loc = next(line.split(":", 1)[1].strip() for line in head.splitlines() if line.lower().startswith("location:"))
    if loc.startswith("/"):
        loc = f"http://{REGISTRY}{loc}"
    sep = "&" if "?" in loc else "?"
    curl("-X", "PUT", "-H", "content-type: application/octet-stream", "--data-binary", "@-",
         f"{loc}{sep}digest={d}", data=data)
    return {"mediaType": "application/octet-stream", "digest": d, "size": len(data)}


def seed(repo, n_removable, work, total=None):
    """Writes the repository of `total` tags (five times the removable ones unless given);
    returns the closed tags, the tag count and the open pull requests."""
    layer = blob(repo, b"bench layer " + repo.encode())
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                      "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode()
    config = blob(repo, cfg)
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"

    def manifest(i):
        doc = {"schemaVersion": 2, "mediaType": OCI, "config": config, "layers": [layer],
               "annotations": {"bench.n": str(i)}}
        path = os.path.join(work, f"m{i}.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    total = total or n_removable * 5
    open_n, branch_n, release_n = total // 10, total // 10, n_removable // 20
    other_n = total - n_removable - open_n - branch_n - release_n
    puts, closed = [], []
    for i in range(n_removable):  # closed PRs 10001.., each its own digest
        tag = f"pr-{10001 + i}-{i:07x}"
        closed.append(tag)
        path = manifest(i)
        puts.append((tag, path))
        if i < release_n:
            puts.append((f"v1.{i}", path))
    for i in range(open_n):  # open PRs 1..
        puts.append((f"pr-{1 + i}-{i:07x}", manifest(100_000 + i)))
    for i in range(branch_n):  # the existing branch
        puts.append((f"main-{i:07x}", manifest(200_000 + i)))
    shared = manifest(300_000)
    for i in range(other_n):
        puts.append((f"build-{i}", shared))
    lines = []
    for tag, path in puts:
        lines.append(f'url = "http://{REGISTRY}/v2/{repo}/manifests/{tag}"\nrequest = "PUT"\n'
                     f'header = "content-type: {OCI}"\ndata-binary = "@{path}"\nsilent\nshow-error\n'
                     f'fail\nretry = 3\nretry-all-errors\noutput = "/dev/null"\n')
    cfgfile = os.path.join(work, "puts")
    with open(cfgfile, "w") as f:
        f.write("next\n".join(lines))
    subprocess.run(["curl", "-K", cfgfile], check=True)
    return closed, len(puts), open_n


class GitHub:
    """The API calls clean mode makes, answered from `open_n` open and the closed PRs."""

    def __init__(self, open_n, closed_numbers):
        self.calls = 0
        closed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 86400))
        gh = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are separate writes: with Nagle on, each answer waits for an ACK
            disable_nagle_algorithm = True

            def log_message(self, *a):
                pass

            def do_GET(self):
                gh.calls += 1
                u = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                parts = u.path.strip("/").split("/")
                link = None
                if parts[-1] == "pulls":
                    per, page = int(q.get("per_page", 30)), int(q.get("page", 1))
                    nums = list(range(1, open_n + 1))[(page - 1) * per: page * per]
                    body = [{"number": n, "state": "open"} for n in nums]
                    if page * per < open_n:
                        link = f'<http://{self.headers["host"]}{u.path}?state=open&per_page={per}&page={page + 1}>; rel="next"'
                elif parts[-2] == "pulls":
                    n = int(parts[-1])
                    body = ({"number": n, "state": "closed", "closed_at": closed_at} if n in closed_numbers
                            else {"number": n, "state": "open", "closed_at": None})
                elif parts[-1] == "branches":
                    body = [{"name": "main", "protected": False}]
                else:
                    body = {"message": "Not Found"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if link:
                    self.send_header("link", link)
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"


def registry_requests(mark, repo, agent="image-resolver/"):
    """Requests for `repo` in the registry's access log after byte offset `mark`, by `agent`."""
    log = os.path.join(E.get("IR_STACK_DIR", ""), "reg-open.log")
    if not os.path.exists(log):
        return None
    n = 0
    with open(log, "rb") as f:
        f.seek(mark)
        for line in f:
            if line.startswith(b"127.") and f" /v2/{repo}/".encode() in line and agent.encode() in line:
                n += 1
    return n


def log_mark():
    log = os.path.join(E.get("IR_STACK_DIR", ""), "reg-open.log")
    return os.path.getsize(log) if os.path.exists(log) else 0


def delete_median(repo, tags):
    """The median time of deleting the digests of `tags` (5 of them), one at a time."""
    times = []
    for tag in tags[:5]:
        d = curl("-I", "-H", f"accept: {OCI}", f"http://{REGISTRY}/v2/{repo}/manifests/{tag}").decode()
        digest = next(l.split(":", 1)[1].strip() for l in d.splitlines()
                      if l.lower().startswith("docker-content-digest"))
        t = time.monotonic()
        curl("-X", "DELETE", "-o", "/dev/null", f"http://{REGISTRY}/v2/{repo}/manifests/{digest}")
        times.append(time.monotonic() - t)
    return sorted(times)[len(times) // 2]


def delete_cost(work):
    """One deletion's time in a repository of 1,000 tags of its own."""
    repo = f"bench/clean-cost-{os.getpid()}"
    closed, n, _ = seed(repo, 200, work, total=1000)
    return n, delete_median(repo, closed)


def tags_of(repo):
    return json.loads(curl(f"http://{REGISTRY}/v2/{repo}/tags/list"))["tags"] or []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--plan-only", action="store_true",
                    help="only the dry run (the plan) at full size: distribution 2.8 deletes a manifest in time proportional to the repository's tags, so removing 2,000 of 10,000 takes some 9 minutes a side")
    ap.add_argument("--removable", type=int, help="removable tags (the repository holds five times as many, unless --tags)")
    ap.add_argument("--tags", type=int, help="tags in the repository")
    ap.add_argument("--delete-cost", action="store_true",
                    help="also time one manifest deletion at 1,000 tags and at the repository's size")
    a = ap.parse_args()
    removable = a.removable or (200 if a.quick else 2000)
    stamp = os.getpid()
    with tempfile.TemporaryDirectory() as work:
        cost = [delete_cost(work)] if a.delete_cost else None
        ours, theirs = f"bench/clean-ir-{stamp}", f"bench/clean-recipe-{stamp}"
        t = time.monotonic()
        closed, total, open_n = seed(ours, removable, work, a.tags)
        if not a.plan_only:
            seed(theirs, removable, work, a.tags)
        seeding = time.monotonic() - t
        gh = GitHub(open_n, {int(c.split("-")[1]) for c in closed})
        out = os.path.join(work, "output")
        open(out, "w").close()
        event = os.path.join(work, "event.json")
        with open(event, "w") as f:
            json.dump({"schedule": "0 3 * * *"}, f)
        env = {"PATH": E["PATH"], "GITHUB_EVENT_NAME": "schedule", "GITHUB_EVENT_PATH": event,
               "GITHUB_SHA": "c0ffee00" * 5, "GITHUB_REF_NAME": "main", "GITHUB_REPOSITORY": "acme/charon",
               "GITHUB_API_URL": gh.url, "GITHUB_OUTPUT": out, "INPUT_IMAGE": f"{REGISTRY}/{ours}",
               "INPUT_MODE": "clean", "INPUT_KEEP": "latest", "INPUT_GITHUB-TOKEN": TOKEN,
               "INPUT_SUMMARY": "false"}
        mark = log_mark()
        dry_time, dry_rss = timed([BIN], dict(env, **{"INPUT_DRY-RUN": "true"}), os.path.join(work, "dry.log"))
        dry_removed = outputs(out)["removed"].splitlines()
        dry_calls = (gh.calls, registry_requests(mark, ours))
        if a.plan_only:
            report(a, total, removable, seeding, (dry_time, dry_rss, dry_calls, len(dry_removed)), None, cost)
            return
        gh.calls = 0
        open(out, "w").close()
        mark = log_mark()
        ir_time, rss = timed([BIN], env, os.path.join(work, "clean.log"))
        ir_requests = registry_requests(mark, ours)
        removed = outputs(out)["removed"].splitlines()
        left = tags_of(ours)
        if cost is not None:  # the full-size repository, once image-resolver is done with it
            cost.append((len(left), delete_median(ours, [t for t in left if t.startswith("main-")])))
        filt = os.path.join(work, "closed")
        with open(filt, "w") as f:
            f.write("\n".join(closed) + "\n")
        renv = dict(os.environ, REGISTRY=REGISTRY, REPOSITORY=theirs, FILTER=filt)
        mark = log_mark()
        recipe_time, _ = timed(["bash", RECIPE], renv, os.path.join(work, "recipe.log"))
        recipe_requests = registry_requests(mark, theirs, agent="curl/")
        left_recipe = tags_of(theirs)
    report(a, total, removable, seeding, (dry_time, dry_rss, dry_calls, len(dry_removed)),
           (ir_time, rss, (gh.calls, ir_requests, recipe_requests), removed, left, recipe_time, left_recipe), cost)


def outputs(path):
    """The runner's `name<<DELIMITER` file."""
    out, lines = {}, open(path).read().splitlines()
    i = 0
    while i < len(lines):
        name, delim = lines[i].split("<<", 1)
        j = lines.index(delim, i + 1)
        out[name] = "\n".join(lines[i + 1:j])
        i = j + 1
    return out


def report(a, total, removable, seeding, dry, real, cost):
    release_n = removable // 20
    dry_time, dry_rss, (dry_calls, dry_requests), dry_removed = dry
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"date {time.strftime('%Y-%m-%d')}; command: python3 bench/clean.py{' --quick' if a.quick else ''}{' --plan-only' if a.plan_only else ''}{f' --removable {a.removable}' if a.removable else ''}{f' --tags {a.tags}' if a.tags else ''}{' --delete-cost' if a.delete_cost else ''}; "
          f"seeding the repositories took {seeding:.0f} s")
    print("| measure | result | goal | met | image-resolver | baseline |")
    print("|---|---|---|---|---|---|")
    for n, t in cost or []:
        print(f"| One manifest DELETE in a repository of {n} tags (registry only, median of 5) | {t:.3f} s | | | | |")
    print(f"| Dry run (the plan) of {total} tags, {removable} removable: wall time | {dry_time:.2f} s | | | | |")
    print(f"| Peak RSS, dry run of {total} tags | {dry_rss / 1024:.1f} MiB | ≤ 64 MiB | {'yes' if dry_rss <= 64 * 1024 else 'NO'} | | |")
    print(f"| API calls, dry run: GitHub / registry | {dry_calls} / {dry_requests} | | | | |")
    print(f"| Tags the dry run would remove | {dry_removed} | {removable} | {'yes' if dry_removed == removable else 'NO'} | | |")
    if real is None:
        return
    ir_time, rss, (calls, ir_requests, recipe_requests), removed, left, recipe_time, left_recipe = real
    print(f"| Clean {total} tags ({removable} removable): image-resolver / seed-style loop | "
          f"{ir_time / recipe_time:.2f} | | | {ir_time:.2f} s | {recipe_time:.2f} s |")
    print(f"| Peak RSS, clean of {total} tags | {rss / 1024:.1f} MiB | ≤ 64 MiB | {'yes' if rss <= 64 * 1024 else 'NO'} | | |")
    print(f"| GitHub API calls (open PRs listed, each closed PR asked, branches) | {calls} | | | | |")
    print(f"| Registry requests | | | | {ir_requests} | {recipe_requests} |")
    print(f"| Tags removed | {len(removed)} | {removable} | {'yes' if len(removed) == removable else 'NO'} | "
          f"{total - len(left)} gone | {total - len(left_recipe)} gone |")
    print(f"| Release tags sharing a removed digest, still there | "
          f"{sum(t.startswith('v1.') for t in left)} of {release_n} | {release_n} | "
          f"{'yes' if sum(t.startswith('v1.') for t in left) == release_n else 'NO'} | | "
          f"{sum(t.startswith('v1.') for t in left_recipe)} of {release_n} |")


if __name__ == "__main__":
    main()
