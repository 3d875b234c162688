#!/usr/bin/env python3
"""Several images in one step (`images`) against one step per image, on the same images in the
same run: 4 images of 60 MB each (2 layers), cold (nothing in the daemon), pulled from the
loopback registry. Medians of alternating runs; the ratio is images-step / sum of single steps.
Needs the stack from scripts/stack.sh (IR_* variables) and the static release binary.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import subprocess  # noqa: E402

from bench import BIN, DOCKER, E, HEAD, REGISTRY, build_image, docker, forget, timed  # noqa: E402

NAMES = ["api", "worker", "web", "jobs"]


def event(work):
    path = os.path.join(work, "event.json")
    with open(path, "w") as f:
        json.dump({"workflow_run": {"id": 1, "run_number": 1, "run_attempt": 1, "event": "push",
                                    "conclusion": "success", "head_sha": HEAD, "head_branch": "main",
                                    "pull_requests": [], "name": "build",
                                    "head_repository": {"id": 1, "full_name": "acme/charon"},
                                    "repository": {"id": 1, "full_name": "acme/charon"}},
                   "repository": {"id": 1, "full_name": "acme/charon"}}, f)
    return path


def env(work, ev, inputs):
    out = os.path.join(work, "output")
    open(out, "w").close()
    e = {"PATH": E["PATH"], "GITHUB_EVENT_NAME": "workflow_run", "GITHUB_EVENT_PATH": ev,
         "GITHUB_REPOSITORY": "acme/charon", "GITHUB_OUTPUT": out, "DOCKER_HOST": E["IR_DOCKER_HOST"],
         "GITHUB_API_URL": "http://127.0.0.1:9", "INPUT_FALLBACK": "none"}
    e.update(inputs)
    return e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-images-") as work:
        run(args, work)


def run(args, work):
    runs, mb = (1, 2) if args.quick else (5, 60)
    ev = event(work)
    tag = f"main-{HEAD[:7]}"
    repos = {n: f"{REGISTRY}/bench-images/{n}" for n in NAMES}
    ids = {}
    for n, r in repos.items():
        ids[n] = build_image(f"{r}:{tag}", HEAD, 2, mb * (1 << 20) // 2, work)
        docker("push", f"{r}:{tag}")

    def cold():
        # forget by ID: every tag and the layers go, so each run pulls everything again
        forget(*ids.values())

    def pulls(parallel):
        # the daemon alone: `docker pull` of the same four, at once or one after another
        t = time.monotonic()
        cmds = [[*DOCKER, "pull", "-q", f"{r}:{tag}"] for r in repos.values()]
        if parallel:
            for p in [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in cmds]:
                p.wait()
        else:
            for c in cmds:
                subprocess.run(c, check=True, stdout=subprocess.DEVNULL)
        return time.monotonic() - t

    together, apart, floor = [], [], []
    lines = "\n".join(f"{n}={r}" for n, r in repos.items())
    for _ in range(runs):
        cold()
        t, _ = timed([BIN], env=env(work, ev, {"INPUT_IMAGES": lines}))
        together.append(t)
        cold()
        total = 0.0
        for n, r in repos.items():
            t, _ = timed([BIN], env=env(work, ev, {"INPUT_IMAGE": r}))
            total += t
        apart.append(total)
        cold()
        at_once = pulls(True)
        cold()
        floor.append(at_once / pulls(False))
    cold()
    forget(*(f"{r}:{tag}" for r in repos.values()))
    a, b = statistics.median(together), statistics.median(apart)
    ratios = sorted(x / y for x, y in zip(together, apart))
    print()
    print(f"Several images ({len(NAMES)} × {mb} MB, cold), runs per side: {runs}; "
          f"date {time.strftime('%Y-%m-%d')}; command: python3 bench/images.py{' --quick' if args.quick else ''}")
    print()
    print("| measure | ratio | goal | met | images step s | single steps s |")
    print("|---|---|---|---|---|---|")
    r = statistics.median(ratios)
    print(f"| {len(NAMES)} images, one `images` step / {len(NAMES)} sequential single-image steps "
          f"(median of pairs; min {ratios[0]:.2f}, max {ratios[-1]:.2f}) | {r:.2f} | <= 0.6 | "
          f"{'yes' if r <= 0.6 else 'no'} | {a:.2f} | {b:.2f} |")
    print(f"| the daemon alone: 4 `docker pull` at once / one after another (median) | "
          f"{statistics.median(floor):.2f} | | | | |")


if __name__ == "__main__":
    main()
