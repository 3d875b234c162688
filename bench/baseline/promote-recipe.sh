#!/usr/bin/env bash
# Baseline for `mode: promote`: the usual release step, which moves the whole image through the
# daemon twice (pull the tested tag, name it, push it under the release name).
#   SOURCE=127.0.0.1:5101/acme/charon:pr-42-0123456 TARGET=127.0.0.1:5101/acme/charon:latest \
#     bench/baseline/promote-recipe.sh
set -euo pipefail
: "${SOURCE:?}" "${TARGET:?}"
docker pull --quiet "$SOURCE" >/dev/null
docker tag "$SOURCE" "$TARGET"
docker push --quiet "$TARGET" >/dev/null
