#!/usr/bin/env python3
"""`mode: promote` against what it replaces, on the same image in the same run.

1. Same-registry promote of a 250 MB image: image-resolver (one manifest PUT) vs
   bench/baseline/promote-recipe.sh (docker pull, tag, push) with the image not in the daemon.
2. Cross-registry promote of the same image (open registry -> htpasswd registry, a fresh
   repository each run, so every blob moves): image-resolver vs `skopeo copy`.
3. Peak RSS (ru_maxrss from wait4) of image-resolver promoting a 1 GB image across registries.

Medians of alternating runs. Needs the stack of scripts/stack.sh (IR_* variables) and the release
binary that bench/run.sh builds. `--quick`: a small image, one run (keeps the harness working).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BASELINE, BIN, DOCKER, E, REGISTRY, build_image, docker, forget, timed  # noqa: E402

RECIPE = os.path.join(BASELINE, "promote-recipe.sh")
AUTH = E["IR_AUTH_REGISTRY"]
USER, PASS = E["IR_REGISTRY_USER"], E["IR_REGISTRY_PASS"]
HEAD = "c0ffee00" * 5
# containers/image's blob-info cache: root's, and a user's
BLOB_INFO_CACHES = ["/var/lib/containers/cache/blob-info-cache-v1.boltdb",
                    os.path.expanduser("~/.local/share/containers/cache/blob-info-cache-v1.boltdb")]


def promote_env(work, source, targets):
    out = os.path.join(work, "output")
    open(out, "w").close()
    event = os.path.join(work, "event.json")
    with open(event, "w") as f:
        json.dump({}, f)
    return {"PATH": E["PATH"], "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_EVENT_PATH": event,
            "GITHUB_SHA": HEAD, "GITHUB_REF_NAME": "main", "GITHUB_REPOSITORY": "acme/charon",
            "GITHUB_OUTPUT": out, "INPUT_IMAGE": source, "INPUT_SHA": HEAD, "INPUT_MODE": "promote",
            "INPUT_PROMOTE-TO": "\n".join(targets), "INPUT_PROMOTE-USERNAME": USER,
            "INPUT_PROMOTE-PASSWORD": PASS, "INPUT_SUMMARY": "false"}


def skopeo(source, target):
    return ["skopeo", "copy", "--quiet", "--preserve-digests", "--src-tls-verify=false",
            "--dest-tls-verify=false", "--dest-creds", f"{USER}:{PASS}",
            f"docker://{source}", f"docker://{target}"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    runs = 1 if a.quick else 5
    big_layers, big_size = (1, 8 << 20) if a.quick else (4, 256 << 20)
    layers, size = (1, 3 << 20) if a.quick else (5, 50 << 20)
    mb = f"{layers * size / 1e6:.0f} MB"
    rows = []
    with tempfile.TemporaryDirectory() as work:
        repo = f"{REGISTRY}/bench/promote"
        source = f"{repo}:v1"
        build_image(source, HEAD, layers, size, work)
        docker("push", "-q", source)
        forget(source)

        # 1. same registry: the recipe pulls the whole image through the daemon
        ir, recipe = [], []
        for i in range(runs):
            env = promote_env(work, source, [f"{repo}:ir-{i}"])
            ir.append(timed([BIN], env=env)[0])
            renv = dict(os.environ, SOURCE=source, TARGET=f"{repo}:recipe-{i}",
                        PATH=f"{os.path.dirname(E['IR_DOCKER_CLI'])}:{E['PATH']}",
                        DOCKER_HOST=E["IR_DOCKER_HOST"])
            recipe.append(timed(["bash", RECIPE], env=renv)[0])
            forget(source, f"{repo}:recipe-{i}")
        same = (statistics.median(recipe), statistics.median(ir))
        rows.append((f"Same-registry promote, {mb}: recipe / image-resolver",
                     f"{same[0] / same[1]:.0f}×", "≥ 50×", same[0] / same[1] >= 50,
                     f"{same[1]:.3f} s", f"{same[0]:.2f} s"))

        # 2. another registry: every blob streamed, both sides into a fresh repository
        ir, sk = [], []
        for i in range(runs):
            stamp = f"{os.getpid()}-{i}"
            ir.append(timed([BIN], env=promote_env(work, source, [f"{AUTH}/bench/ir-{stamp}:v1"]))[0])
            # skopeo remembers where it saw each blob and would mount it from there instead of
            # copying: forget, so both sides move every byte
            for cache in BLOB_INFO_CACHES:
                if os.path.exists(cache):
                    os.remove(cache)
            sk.append(timed(skopeo(source, f"{AUTH}/bench/skopeo-{stamp}:v1"))[0])
        cross = (statistics.median(ir), statistics.median(sk))
        rows.append((f"Cross-registry promote, {mb}: image-resolver / skopeo copy",
                     f"{cross[0] / cross[1]:.2f}", "≤ 1.0", cross[0] / cross[1] <= 1.0,
                     f"{cross[0]:.2f} s", f"{cross[1]:.2f} s"))

        # 3. memory at 1 GB
        big = f"{REGISTRY}/bench/promote-big:v1"
        build_image(big, HEAD, big_layers, big_size, work)
        docker("push", "-q", big)
        forget(big)
        _, rss = timed([BIN], env=promote_env(work, big, [f"{AUTH}/bench/big-{os.getpid()}:v1"]))
        rows.append((f"Peak RSS, cross-registry promote of {big_layers * big_size / 1e9:.1f} GB", f"{rss / 1024:.1f} MiB", "≤ 64 MiB",
                     rss <= 64 * 1024, "", ""))

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"date {time.strftime('%Y-%m-%d')}; command: python3 bench/promote.py{' --quick' if a.quick else ''}")
    print("| measure | result | goal | met | image-resolver | baseline |")
    print("|---|---|---|---|---|---|")
    for name, result, goal, met, mine, theirs in rows:
        print(f"| {name} | {result} | {goal} | {'yes' if met else 'NO'} | {mine} | {theirs} |")


if __name__ == "__main__":
    main()
