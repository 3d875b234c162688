#!/usr/bin/env bash
# Builds the fully static release binary for one image platform and prints its path.
#   scripts/static-build.sh TARGETARCH [BUILDARCH]   (amd64 | arm64; BUILDARCH defaults to this machine's)
# The Dockerfile's builder stage runs it for each platform of the manifest list; for another
# architecture it installs that architecture's C cross compiler and static glibc (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
target_arch=${1:?usage: static-build.sh TARGETARCH [BUILDARCH]}
build_arch=${2:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
case "$build_arch" in x86_64) build_arch=amd64 ;; aarch64) build_arch=arm64 ;; esac
case "$target_arch" in
  amd64) target=x86_64-unknown-linux-gnu gnu=x86_64-linux-gnu cross="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;;
  arm64) target=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu cross="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
  *) echo "static-build: unsupported platform \`$target_arch\`: use amd64 or arm64" >&2; exit 2 ;;
esac
if [ "$target_arch" != "$build_arch" ]; then
  if ! command -v "$gnu-gcc" >/dev/null; then
    # shellcheck disable=SC2086 # two package names
    apt-get update -q >&2 && apt-get install -y -q --no-install-recommends $cross >&2
  fi
  env_target=$(echo "$target" | tr 'a-z-' 'A-Z_')
  export "CARGO_TARGET_${env_target}_LINKER=$gnu-gcc" "CC_${target//-/_}=$gnu-gcc"
  if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    rustup target add "$target" >&2
  fi
fi
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" -q >&2
echo "target/$target/release/image-resolver"
