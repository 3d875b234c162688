#!/usr/bin/env python3
"""CPU time of verifying one real GitHub attestation (Sigstore bundle), offline.

Runs examples/verify_attestation (release, static, as bench/run.sh builds it) on the cli/cli
v2.96.0 attest-build-provenance bundle of tests/fixtures/attestations with N = 0, 1 and MANY
verifications per process, and takes the child's user + system CPU time from wait4:
first = cpu(1) - cpu(0), what one image costs in a run (trust roots parsed once, then one bundle);
each further = (cpu(MANY) - cpu(1)) / (MANY - 1). Medians over the runs.
"""
import argparse
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXE = os.path.join(ROOT, "target", "x86_64-unknown-linux-gnu", "release", "examples", "verify_attestation")
BUNDLE = os.path.join(ROOT, "tests", "fixtures", "attestations", "cli-gh-2.96.0-slsa.sigstore.json")
DIGEST = "sha256:83d5c2ccad5498f58bf6368acb1ab32588cf43ab3a4b1c301bf36328b1c8bd60"
GOAL_MS = 50


def cpu(n):
    p = subprocess.Popen([EXE, BUNDLE, DIGEST, "cli/cli", str(n)], stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    err = p.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"verify_attestation {n} failed: {err}")
    return usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="few runs: only keeps the harness working")
    ap.add_argument("--runs", type=int, default=5)
    args, _ = ap.parse_known_args()
    runs, many = (1, 20) if args.quick else (args.runs, 200)
    first, further = [], []
    for _ in range(runs):
        c0, c1, cn = cpu(0), cpu(1), cpu(many)
        first.append(max(c1 - c0, 0.0))
        further.append(max(cn - c1, 0.0) / (many - 1))
    f, g = statistics.median(first) * 1000, statistics.median(further) * 1000
    print()
    print(f"Attestation verification, CPU per bundle (runs: {runs}, {many} verifications for the steady figure)")
    print()
    print("| measure | result | goal | met |")
    print("|---|---|---|---|")
    print(f"| Verify one attestation, first in the process (trust roots parsed) | {f:.1f} ms | <= {GOAL_MS} ms | {'yes' if f <= GOAL_MS else 'no'} |")
    print(f"| Verify one attestation, each further one | {g:.2f} ms | <= {GOAL_MS} ms | {'yes' if g <= GOAL_MS else 'no'} |")


if __name__ == "__main__":
    main()
