#!/usr/bin/env bash
# Baseline for the artifact path: the hand-written fallback image-resolver replaces.
# Three full passes over the image: download the zip to disk, unpack it, `docker load` the tar;
# then the local name and the revision label, as in registry-recipe.sh.
#   ZIP_URL=http://127.0.0.1:8765/artifact.zip TAR=charon-image.tar LOADED=acme/charon:main-0123456 \
#     LOCAL=charon:local EXPECTED_SHA=<40 hex> bench/baseline/artifact-recipe.sh
set -euo pipefail
: "${ZIP_URL:?}" "${TAR:?}" "${LOADED:?}" "${LOCAL:?}" "${EXPECTED_SHA:?}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
curl --silent --show-error --fail --location --output "$scratch/artifact.zip" "$ZIP_URL"
unzip -q -d "$scratch" "$scratch/artifact.zip"
docker load --quiet --input "$scratch/$TAR" >/dev/null
docker tag "$LOADED" "$LOCAL"
revision=$(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$LOCAL")
if [ "$revision" != "$EXPECTED_SHA" ]; then
  echo "$LOADED has revision '$revision', expected $EXPECTED_SHA" >&2
  exit 1
fi
