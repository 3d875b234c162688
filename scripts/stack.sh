#!/usr/bin/env bash
# Starts (or stops) the real test stack on loopback: a private dockerd and two distribution
# registries (open, and htpasswd). Prints `export` lines for the tests; `stop` ends what `start` began.
#   eval "$(scripts/stack.sh start)"; ...; scripts/stack.sh stop
# Several stacks side by side: give each its own directory and ports, the same to start and stop:
#   STACK_DIR=/tmp/stack-b REG_PORT=5201 AUTH_PORT=5202 scripts/stack.sh start
set -euo pipefail
STACK_DIR=${STACK_DIR:-/tmp/image-resolver-stack}
REG_PORT=${REG_PORT:-5101}
AUTH_PORT=${AUTH_PORT:-5102}
REG_USER=ci-user
REG_PASS=ci-pass-$(date +%s)
DOCKER=/usr/bin/docker # Debian's client matches its daemon; /usr/local/bin may hold a newer one

install_missing() {
  local need=()
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v docker-registry >/dev/null || need+=(docker-registry)
  command -v htpasswd >/dev/null || need+=(apache2-utils)
  command -v zip >/dev/null || need+=(zip)
  command -v unzip >/dev/null || need+=(unzip) # the baseline artifact recipe in bench/
  command -v curl >/dev/null || need+=(curl)
  command -v skopeo >/dev/null || need+=(skopeo) # the promotion benchmark's baseline
  command -v ss >/dev/null || need+=(iproute2)    # who listens on our ports
  command -v openssl >/dev/null || need+=(openssl) # the runner-form tests' private CA
  if ((${#need[@]})); then
    echo "installing ${need[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  fi
}

launched=
fail() { # a start that fails stops what it launched, keeping the logs it points to
  echo "stack: $*" >&2
  if [ -n "$launched" ]; then KEEP_STACK_DATA=1 stop >/dev/null 2>&1 || true; fi
  exit 1
}

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what did not come up; see $STACK_DIR/*.log"
}

listeners() { # port: `name (pid N)` of each process listening on it, any address
  ss -Hltnp "sport = :$1" | grep -o '("[^"]*",pid=[0-9]*' | sed 's/("\(.*\)",pid=\(.*\)/\1 (pid \2)/' | sort -u || true
}

port_free() { # port variable
  local held
  held=$(listeners "$1")
  if [ -n "$held" ] || ss -Hltn "sport = :$1" | grep -q .; then
    fail "port $1 is already in use${held:+ by $(echo "$held" | paste -sd, -)}: our registry would not get it, and the tests would talk to that server instead; choose free ports with $2 (and STACK_DIR for a second stack), e.g. STACK_DIR=/tmp/stack-b REG_PORT=5201 AUTH_PORT=5202"
  fi
}

wait_own() { # what port pid: until that process, and only it, listens on the port
  local what=$1 port=$2 pid=$3 held
  for _ in $(seq 1 150); do
    if ! kill -0 "$pid" 2>/dev/null; then
      fail "$what (pid $pid) exited before it listened on port $port: $(tail -n 3 "$STACK_DIR/$what.log" | tr '\n' ' ')"
    fi
    held=$(listeners "$port")
    if [ -n "$held" ]; then
      [ "$held" = "$(echo "$held" | grep "(pid $pid)")" ] && return 0
      fail "port $port is held by $(echo "$held" | paste -sd, -), not by our $what (pid $pid): refusing to hand the tests another server"
    fi
    sleep 0.2
  done
  fail "$what (pid $pid) did not listen on port $port; see $STACK_DIR/$what.log"
}

registry_config() { # port dir [htpasswd]
  cat <<YML
version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: $2 }
  delete: { enabled: true }
http:
  addr: 127.0.0.1:$1
YML
  if [ -n "${3:-}" ]; then
    printf 'auth:\n  htpasswd:\n    realm: image-resolver-tests\n    path: %s\n' "$3"
  fi
}

start() {
  [ "$(id -u)" = 0 ] || fail "run me as root: I start a dockerd of my own and install what is missing"
  [ "$REG_PORT" != "$AUTH_PORT" ] || fail "REG_PORT and AUTH_PORT are both $REG_PORT: give each registry its own port"
  install_missing
  stop >/dev/null 2>&1 || true
  port_free "$REG_PORT" REG_PORT
  port_free "$AUTH_PORT" AUTH_PORT
  mkdir -p "$STACK_DIR"
  # the test login lives here, not in the user's ~/.docker; it goes with the stack
  install -d -m 700 "$STACK_DIR/docker-config"
  local sock="$STACK_DIR/docker.sock"
  launched=1
  dockerd --data-root "$STACK_DIR/docker" --exec-root "$STACK_DIR/exec" --pidfile "$STACK_DIR/dockerd.pid" \
    --storage-driver vfs --iptables=false --ip-masq=false --bridge=none \
    -H "unix://$sock" >"$STACK_DIR/dockerd.log" 2>&1 &
  registry_config "$REG_PORT" "$STACK_DIR/reg-open" >"$STACK_DIR/reg-open.yml"
  htpasswd -Bbc "$STACK_DIR/htpasswd" "$REG_USER" "$REG_PASS" >/dev/null 2>&1
  registry_config "$AUTH_PORT" "$STACK_DIR/reg-auth" "$STACK_DIR/htpasswd" >"$STACK_DIR/reg-auth.yml"
  docker-registry serve "$STACK_DIR/reg-open.yml" >"$STACK_DIR/reg-open.log" 2>&1 &
  echo $! >"$STACK_DIR/reg-open.pid"
  docker-registry serve "$STACK_DIR/reg-auth.yml" >"$STACK_DIR/reg-auth.log" 2>&1 &
  echo $! >"$STACK_DIR/reg-auth.pid"
  wait_own reg-open "$REG_PORT" "$(cat "$STACK_DIR/reg-open.pid")"
  wait_own reg-auth "$AUTH_PORT" "$(cat "$STACK_DIR/reg-auth.pid")"
  wait_for dockerd $DOCKER -H "unix://$sock" version
  wait_for registry curl -sf "http://127.0.0.1:$REG_PORT/v2/"
  wait_for auth-registry bash -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$AUTH_PORT/v2/ | grep -q 401"
  if ! DOCKER_CONFIG="$STACK_DIR/docker-config" $DOCKER -H "unix://$sock" login -u "$REG_USER" \
    --password-stdin "127.0.0.1:$AUTH_PORT" <<<"$REG_PASS" >"$STACK_DIR/login.log" 2>&1; then
    fail "docker login to 127.0.0.1:$AUTH_PORT failed: $(tr '\n' ' ' <"$STACK_DIR/login.log")"
  fi
  cat <<ENV
export IR_DOCKER_HOST=unix://$sock
export IR_DOCKER_CLI=$DOCKER
export IR_REGISTRY=127.0.0.1:$REG_PORT
export IR_AUTH_REGISTRY=127.0.0.1:$AUTH_PORT
export IR_REGISTRY_USER=$REG_USER
export IR_REGISTRY_PASS=$REG_PASS
export IR_STACK_DIR=$STACK_DIR
export DOCKER_CONFIG=$STACK_DIR/docker-config
ENV
}

stop() {
  for p in reg-open reg-auth dockerd; do
    if [ -f "$STACK_DIR/$p.pid" ]; then
      kill "$(cat "$STACK_DIR/$p.pid")" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 50); do
    [ -f "$STACK_DIR/dockerd.pid" ] && kill -0 "$(cat "$STACK_DIR/dockerd.pid")" 2>/dev/null || break
    sleep 0.2
  done
  # dockerd's own containerd and mounts under the data root go with it
  pkill -f "containerd --config $STACK_DIR" 2>/dev/null || true
  rm -f "$STACK_DIR"/*.pid
  # dockerd leaves bind mounts (netns, overlay of its own) under its roots: unmount, deepest first
  if [ -d "$STACK_DIR" ]; then
    awk -v d="$STACK_DIR" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  fi
  if [ "${KEEP_STACK_DATA:-0}" != 1 ]; then rm -rf "$STACK_DIR" 2>/dev/null || true; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
