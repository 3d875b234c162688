#!/usr/bin/env bash
# A full resolution on this machine: starts a real daemon and registry, publishes an image built
# from the bundled event's commit, resolves it as a workflow_run consumer would, prints the outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/stack.sh start)"
trap 'scripts/stack.sh stop || true' EXIT
cargo build --release --locked -q
event=examples/workflow_run.json
sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["workflow_run"]["head_sha"])' "$event")
repo="$IR_REGISTRY/acme/charon"
tag="pr-42-${sha:0:7}"
work=$(mktemp -d)
trap 'rm -rf "$work"; scripts/stack.sh stop || true' EXIT
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
  target/release/image-resolver
echo "== GITHUB_OUTPUT"
cat "$work/output"
echo "== step summary"
cat "$work/summary"
echo "== the daemon now holds"
$D images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep -E 'charon'
