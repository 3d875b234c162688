#!/usr/bin/env bash
# actionlint and zizmor over every workflow we ship: no findings.
set -euo pipefail
cd "$(dirname "$0")/.."
files=(workflows-examples/*.yml .github/workflows/*.yml)
actionlint -shellcheck= "${files[@]}"
zizmor --offline --no-progress "${files[@]}"
echo "workflow lint: ${#files[@]} files, no findings"
