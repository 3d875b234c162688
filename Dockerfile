# The action's image: a static binary and CA certificates, nothing else.
#
# `runtime` (first, so the classic builder needs no other stage) builds offline from a binary
# built on the host; scripts/build-image.sh does that:
#   RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu
#   docker build --target runtime --build-arg BINARY=target/x86_64-unknown-linux-gnu/release/image-resolver .
# `release` (the default target) compiles in a builder stage; release.yml uses it.
ARG BINARY=target/x86_64-unknown-linux-gnu/release/image-resolver

FROM scratch AS runtime
ARG BINARY
COPY ${BINARY} /image-resolver
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/image-resolver"]

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/image-resolver /image-resolver

FROM scratch AS release
COPY --from=builder /image-resolver /image-resolver
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/image-resolver"]
