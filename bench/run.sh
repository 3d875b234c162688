#!/usr/bin/env bash
# Benchmarks image-resolver against the shell recipes in bench/baseline/ on the same images in the
# same run.
#   bench/run.sh          full: a 260 MB 5-layer image, 5 alternating runs, a 1 GB artifact for memory
#   bench/run.sh --quick  small image, one run (CI keeps the harness working with it)
# Uses the stack of scripts/stack.sh when its variables (IR_*) are set; else starts its own with
# scripts/stack.sh on REG_PORT / AUTH_PORT (the stack's defaults unless set) in its own STACK_DIR,
# and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${IR_DOCKER_HOST:-}" ]; then
  # a directory of its own: `stack.sh start` restarts whatever stack runs from its STACK_DIR
  export STACK_DIR=${STACK_DIR:-/tmp/image-resolver-bench}
  stack_env=$(scripts/stack.sh start) # a failed start stops here (an eval of it would not)
  trap 'scripts/stack.sh stop || true' EXIT
  eval "$stack_env"
fi
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target x86_64-unknown-linux-gnu -q --bins --example verify_attestation
python3 bench/bench.py "$@"
python3 bench/attestation.py "$@"
python3 bench/images.py "$@"
python3 bench/promote.py "$@"
python3 bench/pull.py "$@" # pull-with client against daemon, through a shaping proxy
# clean mode: the full size removes 2,000 of 10,000 tags on each side (distribution 2.8 deletes in
# time proportional to the repository's tags: about 9 minutes a side); `--plan-only` is the dry run alone
python3 bench/clean.py "$@"
