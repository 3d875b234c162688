# Checks, before anything slow starts, what the README's commands need and the scripts do not
# install themselves; sourced by scripts/demo.sh and scripts/test.sh (from the repository root).
# Each missing piece fails with one line saying how to get it.

prereq_fail() { echo "prerequisite: $*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || prereq_fail "run $0 as root: it starts a dockerd of its own and installs Debian packages (README, \"Before you start\", for sudo)"
}

# Rust at least Cargo.toml's rust-version, and a C compiler and linker (cc) for the native crates.
need_rust() {
  local want have
  want=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
  # rustup's default place, when the shell has not sourced ~/.cargo/env (e.g. under sudo)
  if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi
  command -v cargo >/dev/null && command -v rustc >/dev/null ||
    prereq_fail "Rust ≥ $want is needed and cargo is not on PATH: install it with rustup (README, \"Before you start\"), then \`. \"\$HOME/.cargo/env\"\`"
  have=$(rustc --version | awk '{print $2}')
  [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" = "$want" ] ||
    prereq_fail "Rust ≥ $want is needed, \`rustc\` is $have: \`rustup update stable\`, or, for Debian's own rustc (older), install Rust with rustup (README, \"Before you start\")"
  if ! command -v cc >/dev/null; then
    echo "installing gcc libc6-dev (the linker and the C parts of the crypto crates)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >&2
  fi
  export PATH
}

# Python 3 for the benchmarks and the linters' virtualenv (scripts/lint-workflows.sh adds venv).
need_python() {
  if ! command -v python3 >/dev/null; then
    echo "installing python3 python3-venv" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
  fi
}
