# The action's image: a static binary and CA certificates, nothing else.
#
# `runtime` (first, so the classic builder needs no other stage) builds offline from a binary
# built on the host; scripts/build-image.sh does that:
#   RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu
#   docker build --target runtime --build-arg BINARY=target/x86_64-unknown-linux-gnu/release/image-resolver .
# `release` (the default target) is what .github/workflows/release.yml builds with buildx for
# linux/amd64 and linux/arm64 in one manifest list: the builder runs on the build machine's own
# platform and cross-compiles for each target platform, so no emulation is needed.
ARG BINARY=target/x86_64-unknown-linux-gnu/release/image-resolver
# OCI labels; the release passes them (the version without its `v`, the commit, the repository URL)
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/image-resolver/image-resolver

FROM scratch AS runtime
ARG BINARY
ARG VERSION
ARG REVISION
ARG SOURCE
LABEL org.opencontainers.image.source=$SOURCE \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.version=$VERSION
COPY ${BINARY} /image-resolver
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# an empty /tmp (mode 1777, made by build-image.sh): the runner sets no TMPDIR and mounts nothing
# there; temp files go under RUNNER_TEMP, and this is the fallback when it is unset
COPY rootfs/ /
ENTRYPOINT ["/image-resolver"]

# The builder image, pinned by digest (release.yml refuses a `FROM … AS builder` line without
# `@sha256:`). Where the digest came from: public repositories pinning this same tag to it, among
# them vetcoders/vibecrafted and StephanMeijer/meneerhenk (whose Dockerfile cross-builds amd64 and
# arm64 from `--platform=$BUILDPLATFORM` with it, so it is the multi-platform index), and a public
# BuildKit log resolving rust:1.95-bookworm to it. Docker Hub could not be asked where this was
# written: the pull by digest (CI's `release-image` job) checks the bytes, these sources the tag.
# A newer Rust: `docker buildx imagetools inspect docker.io/library/rust:<tag>`; change both.
FROM --platform=$BUILDPLATFORM docker.io/library/rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS builder
WORKDIR /src
COPY . .
ARG TARGETARCH
ARG BUILDARCH
# one Rust target per image platform (amd64: x86_64-unknown-linux-gnu, arm64:
# aarch64-unknown-linux-gnu), cross-compiled when it is not the build machine's own
RUN bin=$(scripts/static-build.sh "$TARGETARCH" "$BUILDARCH") && cp "$bin" /image-resolver
# the empty /tmp (mode 1777) of the runtime stage
RUN mkdir -p /rootfs/tmp && chmod 1777 /rootfs/tmp

FROM scratch AS release
ARG VERSION
ARG REVISION
ARG SOURCE
LABEL org.opencontainers.image.source=$SOURCE \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.version=$VERSION
COPY --from=builder /image-resolver /image-resolver
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /rootfs/ /
ENTRYPOINT ["/image-resolver"]
