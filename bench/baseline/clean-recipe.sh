#!/usr/bin/env bash
# Baseline for clean mode: the seed-style clean-up loop. Lists the repository's tags, keeps those
# the filter names (the seed script filters `pr-*` older than a day; here the benchmark hands it the
# closed pull requests' tags, so both sides remove the same ones), and per tag reads its digest and
# deletes that digest — with every other tag of it. bench/clean.py times it against image-resolver.
#   REGISTRY=127.0.0.1:5101 REPOSITORY=bench/x FILTER=closed-tags.txt bench/baseline/clean-recipe.sh
set -euo pipefail
: "${REGISTRY:?}" "${REPOSITORY:?}" "${FILTER:?}"
accept="application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json"
curl -sSf "http://$REGISTRY/v2/$REPOSITORY/tags/list" |
  python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)["tags"] or []))' |
  grep -Fx -f "$FILTER" |
  while read -r tag; do
    digest=$(curl -sSf -I -H "accept: $accept" "http://$REGISTRY/v2/$REPOSITORY/manifests/$tag" |
      tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}' || true)
    [ -n "$digest" ] || continue # gone already: its digest was deleted through another tag
    curl -sSf -o /dev/null -X DELETE "http://$REGISTRY/v2/$REPOSITORY/manifests/$digest"
  done
