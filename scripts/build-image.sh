#!/usr/bin/env bash
# Builds the action image offline from a static binary built on this host.
#   scripts/build-image.sh TAG   (DOCKER_HOST / IR_DOCKER_HOST pick the daemon)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-image-resolver:dev}
# IR_PREBUILT=1: the static binary is already built (scripts/test.sh builds it before the tests)
if [ "${IR_PREBUILT:-0}" != 1 ]; then
  scripts/static-build.sh amd64 >/dev/null
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp Dockerfile "$ctx/"
mkdir -p "$ctx/target/x86_64-unknown-linux-gnu/release"
cp target/x86_64-unknown-linux-gnu/release/image-resolver "$ctx/target/x86_64-unknown-linux-gnu/release/"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
# the image's only directory besides the binary's: an empty /tmp, mode 1777 (the legacy builder keeps it)
mkdir -p "$ctx/rootfs/tmp"
chmod 1777 "$ctx/rootfs/tmp"
cli=${IR_DOCKER_CLI:-docker}
host=${IR_DOCKER_HOST:-${DOCKER_HOST:-unix:///var/run/docker.sock}}
# the legacy builder builds only the stages the target needs: no network, no base image
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
DOCKER_BUILDKIT=0 "$cli" -H "$host" build -q --target runtime \
  --build-arg BINARY=target/x86_64-unknown-linux-gnu/release/image-resolver \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" -t "$tag" "$ctx" >/dev/null
echo "$tag"
