#!/usr/bin/env bash
# Runs every test: installs what is missing, starts the real stack (dockerd, two registries),
# runs clippy, unit and integration tests, the quick benchmark and the workflow linters, then
# stops what it started. Run as root on Debian; see README. STACK_DIR, REG_PORT and AUTH_PORT
# choose the stack's directory and ports (scripts/stack.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
need_root
need_rust
need_python
cargo clippy --version >/dev/null 2>&1 || prereq_fail "clippy is needed: \`rustup component add clippy\`"

# the pinned workflow linters, installed first so a missing one fails before the long part
scripts/lint-workflows.sh --install

stack_env=$(scripts/stack.sh start)
trap 'scripts/stack.sh stop || true' EXIT
eval "$stack_env"

# the tests' own Sigstore root is accepted only by a build with `test-trust-root`
# (src/provenance/trust/README.md); the release build below never has it
cargo clippy --all-targets --locked --features test-trust-root -- -D warnings
# the fully static binary the action image ships (tests/container.rs builds the image from it)
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target x86_64-unknown-linux-gnu
cargo test --all-targets --locked --features test-trust-root
bash bench/run.sh --quick
scripts/lint-workflows.sh
