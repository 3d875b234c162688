#!/usr/bin/env bash
# Baseline for the registry path: what a workflow does by hand without image-resolver.
# Pulls the tag through the daemon, gives it the local name, then reads the revision label and
# fails when it is another commit's. bench/bench.py times it against image-resolver.
#   IMAGE=127.0.0.1:5101/acme/charon TAG=main-0123456 LOCAL=charon:local EXPECTED_SHA=<40 hex> \
#     bench/baseline/registry-recipe.sh
set -euo pipefail
: "${IMAGE:?}" "${TAG:?}" "${LOCAL:?}" "${EXPECTED_SHA:?}"
docker pull --quiet "$IMAGE:$TAG" >/dev/null
docker tag "$IMAGE:$TAG" "$LOCAL"
revision=$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$LOCAL")
if [ "$revision" != "$EXPECTED_SHA" ]; then
  echo "$IMAGE:$TAG has revision '$revision', expected $EXPECTED_SHA" >&2
  exit 1
fi
