#!/usr/bin/env bash
# Maintainers: refresh the Sigstore trust roots pinned in the binary (src/provenance/trust/).
#
# They come from the newest `sigstore-trust-root` crate on crates.io, whose maintainers refresh
# them from the public-good and GitHub TUF repositories, signature-checked by their TUF client.
# Needs crates.io (cargo's ordinary download); CI never runs this. Review `git diff` afterwards:
# a new Fulcio CA or Rekor key is expected now and then, a removed one deserves a look.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=src/provenance/trust
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo new --quiet --lib --vcs none "$work/fetch"
(cd "$work/fetch" && cargo add --quiet sigstore-trust-root --no-default-features && cargo fetch --quiet)
read -r version dir < <(cd "$work/fetch" && cargo metadata --format-version 1 |
  python3 -c 'import json,os,sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "sigstore-trust-root":
        print(p["version"], os.path.dirname(p["manifest_path"]))')

cp "$dir/src/trusted_root.json" "$dest/public-good.json"
cp "$dir/src/trusted_root_github.json" "$dest/github.json"
today=$(date -u +%Y-%m-%d)
sed -i -E "s/^(Pinned from the crates.io crate \`sigstore-trust-root\`) [^,]*, on [0-9-]+\./\1 $version, on $today./" "$dest/README.md"
for f in public-good github; do
  sum=$(sha256sum "$dest/$f.json" | cut -d' ' -f1)
  sed -i -E "s/^(\| \`$f.json\` \|.*\| )[0-9a-f]{64}( \|)$/\1$sum\2/" "$dest/README.md"
done
echo "trust roots from sigstore-trust-root $version ($today):"
sha256sum "$dest"/*.json
git --no-pager diff --stat -- "$dest"
