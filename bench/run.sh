#!/usr/bin/env bash
# Benchmarks image-resolver against ../shared/baseline on the same images in the same run.
#   bench/run.sh          full: a 260 MB 5-layer image, 5 alternating runs, a 1 GB artifact for memory
#   bench/run.sh --quick  small image, one run (CI keeps the harness working with it)
# Uses the stack of scripts/stack.sh when IR_* is set, else starts (and stops) its own.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${IR_DOCKER_HOST:-}" ]; then
  eval "$(STACK_DIR=/tmp/image-resolver-bench REG_PORT=5111 AUTH_PORT=5112 scripts/stack.sh start)"
  trap 'STACK_DIR=/tmp/image-resolver-bench scripts/stack.sh stop || true' EXIT
fi
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target x86_64-unknown-linux-gnu -q --bins --example verify_attestation
python3 bench/bench.py "$@"
python3 bench/attestation.py "$@"
python3 bench/images.py "$@"
python3 bench/promote.py "$@"
