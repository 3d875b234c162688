#!/usr/bin/env bash
# A full resolution on this machine: builds image-resolver, starts a real daemon and registry,
# publishes an image built from the bundled event's commit, resolves it as a workflow_run consumer
# would, and prints the outputs and the step summary. Run as root on Debian; see README.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/prereqs.sh
need_root
need_rust

# The binary the action image ships (static), so scripts/test.sh and bench/run.sh reuse this build.
host=$(rustc -vV | sed -n 's/^host: //p')
echo "== building image-resolver (release; a first build takes about 10 minutes on 2 cores)" >&2
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$host" --bin image-resolver
bin="target/$host/release/image-resolver"

work=$(mktemp -d)
trap 'rm -rf "$work"; scripts/stack.sh stop || true' EXIT
echo "== starting the stack (dockerd, registries on 127.0.0.1:${REG_PORT:-5101} and :${AUTH_PORT:-5102})" >&2
stack_env=$(scripts/stack.sh start)
eval "$stack_env"

event=examples/workflow_run.json
sha=$(sed -n 's/.*"head_sha": *"\([0-9a-f]\{40\}\)".*/\1/p' "$event" | head -n1)
repo="$IR_REGISTRY/acme/charon"
tag="pr-42-${sha:0:7}"
printf 'demo\n' >"$work/hello.txt"
printf 'FROM scratch\nCOPY hello.txt /hello.txt\nLABEL org.opencontainers.image.revision=%s\n' "$sha" >"$work/Dockerfile"
D="$IR_DOCKER_CLI -H $IR_DOCKER_HOST"
$D build -q -t "$repo:$tag" "$work" >/dev/null
$D push -q "$repo:$tag" >/dev/null
$D rmi -f "$repo:$tag" >/dev/null
echo "== published $repo:$tag (revision $sha); resolving as a workflow_run consumer"
: >"$work/output"; : >"$work/summary"
env -i PATH="$PATH" \
  GITHUB_EVENT_NAME=workflow_run GITHUB_EVENT_PATH="$event" GITHUB_REPOSITORY=acme/charon \
  GITHUB_OUTPUT="$work/output" GITHUB_STEP_SUMMARY="$work/summary" DOCKER_HOST="$IR_DOCKER_HOST" \
  INPUT_IMAGE="$repo" INPUT_LOCAL-TAG=charon:local \
  "$bin"
echo "== GITHUB_OUTPUT"
cat "$work/output"
echo "== step summary"
cat "$work/summary"
echo "== the daemon now holds"
$D images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep -E 'charon'
