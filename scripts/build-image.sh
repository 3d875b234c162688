#!/usr/bin/env bash
# Builds the action image offline from a static binary built on this host.
#   scripts/build-image.sh TAG   (DOCKER_HOST / IR_DOCKER_HOST pick the daemon)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-image-resolver:dev}
# IR_PREBUILT=1: the static binary is already built (scripts/test.sh builds it before the tests)
if [ "${IR_PREBUILT:-0}" != 1 ]; then
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target x86_64-unknown-linux-gnu -q
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp Dockerfile "$ctx/"
mkdir -p "$ctx/target/x86_64-unknown-linux-gnu/release"
cp target/x86_64-unknown-linux-gnu/release/image-resolver "$ctx/target/x86_64-unknown-linux-gnu/release/"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
cli=${IR_DOCKER_CLI:-docker}
host=${IR_DOCKER_HOST:-${DOCKER_HOST:-unix:///var/run/docker.sock}}
# the legacy builder builds only the stages the target needs: no network, no base image
DOCKER_BUILDKIT=0 "$cli" -H "$host" build -q --target runtime \
  --build-arg BINARY=target/x86_64-unknown-linux-gnu/release/image-resolver -t "$tag" "$ctx" >/dev/null
echo "$tag"
