#!/usr/bin/env bash
# Names the action image by exact version and digest in action.yml, as each release commit does:
#   image: docker://ghcr.io/OWNER/image-resolver:v1   →   …:v1.2.0@sha256:<digest>
#   scripts/pin-action-image.sh VERSION DIGEST [ACTION_YML]   (VERSION without the `v`)
# So a workflow that pins the action by commit runs exactly that image, whatever `:v1` is later.
set -euo pipefail
version=${1:?usage: pin-action-image.sh VERSION DIGEST [ACTION_YML]}
digest=${2:?usage: pin-action-image.sh VERSION DIGEST [ACTION_YML]}
file=${3:-$(dirname "$0")/../action.yml}
[[ $version =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]] ||
  { echo "pin-action-image: version \`$version\` is not MAJOR.MINOR.PATCH (no \`v\`)" >&2; exit 2; }
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] ||
  { echo "pin-action-image: digest \`$digest\` is not sha256:<64 hex>: pass the manifest list's digest" >&2; exit 2; }
line='^  image: docker://([a-z0-9.-]+/[a-z0-9._/-]+):[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?$'
n=$(grep -cE "$line" "$file" || true)
[ "$n" = 1 ] ||
  { echo "pin-action-image: $file has $n \`runs.image: docker://…\` lines, expected 1" >&2; exit 1; }
sed -E -i "s#${line}#  image: docker://\\1:v${version}@${digest}#" "$file"
grep -E '^  image: ' "$file"
