#!/usr/bin/env bash
# Renders the step summaries the binary writes on the real stack (tests/summaries.rs runs it once
# per kind of run and keeps each GITHUB_STEP_SUMMARY) as GitHub shows them: GitHub-flavoured
# Markdown → HTML (cmark-gfm, GitHub's own parser) → a headless Chromium screenshot. Writes
# docs/summary-<case>.png, or into the directory given.
#   scripts/render-summary.sh [OUT_DIR]
# Uses the stack named by IR_REGISTRY & co. when set, else starts its own (scripts/stack.sh, with
# STACK_DIR / REG_PORT / AUTH_PORT as given) and stops it at the end.
# Needs: python3 (cmarkgfm and pillow are installed from PyPI when missing), chromium (Debian: apt-get install
# chromium fonts-noto-color-emoji).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath "${1:-docs}")
mkdir -p "$out"
work=$(mktemp -d)
own_stack=
cleanup() {
  [ -n "$own_stack" ] && scripts/stack.sh stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

command -v chromium >/dev/null || { echo "render-summary: chromium is needed (apt-get install chromium fonts-noto-color-emoji)" >&2; exit 1; }
python3 -c 'import cmarkgfm, PIL' 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore cmarkgfm pillow >&2

if [ -z "${IR_REGISTRY:-}" ]; then
  own_stack=1
  eval "$(scripts/stack.sh start)"
fi
# the binary on the stack: each case's summary lands in $work/md/<case>.md
# one at a time: parallel `docker build`s on one daemon now and then fail
IR_SUMMARY_DIR="$work/md" cargo test -q --locked --test summaries -- --test-threads=1 >&2

browser() {
  # a throw-away profile, and nothing that phones home
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --force-device-scale-factor=1 --virtual-time-budget=3000 --user-data-dir="$work/profile" "$@" 2>/dev/null
}

for md in "$work"/md/*.md; do
  name=$(basename "$md" .md)
  html="$work/$name.html"
  python3 - "$md" "$html" <<'PY'
import sys, cmarkgfm
from cmarkgfm.cmark import Options
md = open(sys.argv[1], encoding="utf-8").read()
# GitHub renders raw HTML such as <details> (then sanitises it); UNSAFE keeps it, tagfilter still applies
body = cmarkgfm.github_flavored_markdown_to_html(md, options=Options.CMARK_OPT_UNSAFE)
css = """
body { margin: 0; background: #fff; }
.markdown-body { box-sizing: border-box; width: 1100px; padding: 24px 32px; color: #1f2328;
  font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", "Liberation Sans", Helvetica, Arial, sans-serif,
  "Noto Color Emoji"; word-wrap: break-word; }
.markdown-body p, .markdown-body blockquote, .markdown-body table, .markdown-body pre,
.markdown-body details, .markdown-body ul { margin: 0 0 16px; }
.markdown-body h4 { font-size: 14px; font-weight: 600; margin: 0 0 12px; }
.markdown-body a { color: #0969da; text-decoration: none; }
.markdown-body code { font: 85% ui-monospace, "DejaVu Sans Mono", monospace; padding: .2em .4em;
  background: rgba(129,139,152,.12); border-radius: 6px; white-space: break-spaces; }
.markdown-body pre { padding: 16px; background: #f6f8fa; border-radius: 6px; overflow: auto;
  font: 85% ui-monospace, "DejaVu Sans Mono", monospace; }
.markdown-body pre code { padding: 0; background: none; font-size: 100%; }
.markdown-body blockquote { padding: 0 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
.markdown-body table { border-collapse: collapse; display: block; width: max-content; max-width: 100%; }
.markdown-body th { font-weight: 600; }
.markdown-body th, .markdown-body td { padding: 6px 13px; border: 1px solid #d1d9e0; }
.markdown-body tr:nth-child(2n) { background: #f6f8fa; }
.markdown-body summary { cursor: pointer; }
"""
open(sys.argv[2], "w", encoding="utf-8").write(
    f'<!doctype html><meta charset="utf-8"><style>{css}</style>'
    f'<body><article class="markdown-body">{body}</article>'
)
PY
  # a tall window, then cropped to the content: small windows paint only part of the page
  browser --window-size=1100,1600 --screenshot="$work/$name.png" "file://$html" >/dev/null
  python3 - "$work/$name.png" "$out/summary-$name.png" <<'PY'
import sys
from PIL import Image, ImageChops
im = Image.open(sys.argv[1]).convert("RGB")
box = ImageChops.difference(im, Image.new("RGB", im.size, "white")).getbbox()
if box is None:
    sys.exit(f"render-summary: {sys.argv[1]} is blank")
im.crop((0, 0, min(im.width, box[2] + 32), min(im.height, box[3] + 24))).save(sys.argv[2], optimize=True)
PY
  echo "$out/summary-$name.png"
done
