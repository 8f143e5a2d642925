#!/usr/bin/env bash
# start-rabbitmq.sh — bring up one loopback-only RabbitMQ 3.10 from Debian bookworm's
# rabbitmq-server package, without systemd, with the plugins Waldur's event stream needs:
# rabbitmq_stomp, rabbitmq_web_stomp (STOMP over WebSocket at /ws) and rabbitmq_management
# (the HTTP API Mastermind — and the fake Waldur — use to create vhosts, users and queues).
#
# Usage:  start-rabbitmq.sh [DIR]      (DIR defaults to $RABBITMQ_TEST_DIR or /tmp/rabbitmq-test)
#         start-rabbitmq.sh --install-only   (install the packages if missing, start nothing)
# Then:   source DIR/env.sh            (RABBITMQ_MGMT_URL/_USER/_PASSWORD, RABBITMQ_STOMP_PORT,
#                                       RABBITMQ_WS_URL, ...)
# Stop:   stop-rabbitmq.sh [DIR] [--wipe]
#
# Idempotent: installs the package only if missing, (re)writes the configs under DIR, starts
# the broker only if the one recorded in DIR/run is not running, then waits until the
# management API, a STOMP login and the WebSocket endpoint answer.
#
# Everything lives under DIR (owned by the `rabbitmq` user, as Debian's wrapper runs the
# broker as that user): etc/ (rabbitmq.conf, enabled_plugins, rabbitmq-env.conf), data/
# (mnesia), log/, run/ (pid files). The admin user is RabbitMQ's default user, created from
# rabbitmq.conf on the first boot of an empty data dir: no rabbitmqctl/rabbitmq-plugins
# calls, each of which would boot another Erlang VM (~1.5 s apiece on 2 cores).
#
# Measured on the 2-core Debian 12 machine: a cold start (empty DIR, package installed)
# is ready in 8-9 s, nearly all of it the Erlang VM booting RabbitMQ (loading and scanning
# its ~40 applications; a plugins dir pruned to what is enabled made no difference). A
# first install adds ~12 s (19 packages with Erlang, ~5 s for rabbitmq-server alone); a
# second start against a running broker takes 0.2 s. Stopping: ~6 s graceful, or an
# immediate SIGKILL with --wipe.
#
# Environment knobs (all optional):
#   RABBITMQ_AMQP_PORT=5672        AMQP 0-9-1 listener (the Erlang distribution port is this + 20000)
#   RABBITMQ_STOMP_PORT=61613      plain STOMP listener (what Mastermind publishes through)
#   RABBITMQ_WEB_STOMP_PORT=15674  STOMP over WebSocket, path /ws (what the agent connects to)
#   RABBITMQ_MGMT_PORT=15672       management HTTP API
#   RABBITMQ_MGMT_USER=agent-admin RABBITMQ_MGMT_PASSWORD=agent-admin-test-password
#                                  the administrator (a fixed test credential, loopback only)
#   RABBITMQ_NODE_NAME=rabbit-agent-test-<AMQP port>@localhost
#   RABBITMQ_WAIT_SECS=90          how long to wait for the broker
#   RABBITMQ_APT_UPDATE=0          1 = apt-get update before installing
set -euo pipefail

INSTALL_ONLY=0
if [ "${1:-}" = --install-only ]; then INSTALL_ONLY=1; shift; fi
DIR="${1:-${RABBITMQ_TEST_DIR:-/tmp/rabbitmq-test}}"
AMQP_PORT="${RABBITMQ_AMQP_PORT:-5672}"
STOMP_PORT="${RABBITMQ_STOMP_PORT:-61613}"
WS_PORT="${RABBITMQ_WEB_STOMP_PORT:-15674}"
MGMT_PORT="${RABBITMQ_MGMT_PORT:-15672}"
DIST_PORT=$((AMQP_PORT + 20000))
ADMIN_USER="${RABBITMQ_MGMT_USER:-agent-admin}"
ADMIN_PASS="${RABBITMQ_MGMT_PASSWORD:-agent-admin-test-password}"
NODE="${RABBITMQ_NODE_NAME:-rabbit-agent-test-$AMQP_PORT@localhost}"
WAIT="${RABBITMQ_WAIT_SECS:-90}"
EPMD_PORT=4369

T0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '[start-rabbitmq %3d.%03ds] %s\n' $((ms/1000)) $((ms%1000)) "$*"; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- install
if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || ! command -v curl >/dev/null 2>&1; then
  log "installing: rabbitmq-server curl"
  [ "$(id -u)" = 0 ] || die "must be root to install packages"
  # policy-rc.d (present in containers like this one) keeps postinst from starting a
  # system-wide broker; without it invoke-rc.d may try and fail harmlessly (no systemd).
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] \
     || [ "${RABBITMQ_APT_UPDATE:-0}" = 1 ]; then
    apt-get update -q
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rabbitmq-server curl; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rabbitmq-server curl
  fi
  log "installed"
fi
[ "$(id -u)" = 0 ] || die "must be root (Debian's wrapper switches to the rabbitmq user)"
id rabbitmq >/dev/null 2>&1 || die "no rabbitmq user (the package's postinst creates it)"
for p in rabbitmq_stomp rabbitmq_web_stomp rabbitmq_management; do
  compgen -G "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/$p-*" >/dev/null || die "plugin $p is not installed"
done
EPMD="$(command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -1)"
[ -n "$EPMD" ] || die "no epmd"
log "package present: $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo '?') (rabbitmq-server)"
[ "$INSTALL_ONLY" = 0 ] || exit 0
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

# ---------------------------------------------------------------- layout
ETC="$DIR/etc"; DATA="$DIR/data"; LOGD="$DIR/log"; RUN="$DIR/run"
mkdir -p "$ETC" "$DATA" "$LOGD" "$RUN"
chmod 755 "$DIR"

# a live process (zombies, whose parent has not reaped them yet, count as gone)
running() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
alive() { # alive NAME COMM: the pid in RUN/NAME.pid is running and is COMM
  local f="$RUN/$1.pid" pid
  [ -s "$f" ] || return 1
  pid="$(cat "$f")"
  running "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}
# the broker: a beam.smp started with our conf env file (the node name is not on its command line)
broker_alive() {
  alive rabbitmq beam.smp \
    && { tr '\0' '\n' <"/proc/$(cat "$RUN/rabbitmq.pid")/environ"; } 2>/dev/null | grep -qxF "RABBITMQ_CONF_ENV_FILE=$ETC/rabbitmq-env.conf"
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
if ! broker_alive && command -v ss >/dev/null 2>&1; then
  for p in "$AMQP_PORT" "$STOMP_PORT" "$WS_PORT" "$MGMT_PORT" "$DIST_PORT"; do
    if port_busy "$p"; then
      die "port $p is already in use by another process: $(ss -Hltnp "sport = :$p" | head -1)"
    fi
  done
fi

# ---------------------------------------------------------------- configs
cat >"$ETC/rabbitmq.conf" <<EOF
# generated by start-rabbitmq.sh — a loopback-only test broker
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
stomp.listeners.tcp.1 = 127.0.0.1:$STOMP_PORT
web_stomp.tcp.ip = 127.0.0.1
web_stomp.tcp.port = $WS_PORT
web_stomp.ws_path = /ws
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
# queue depths in the management API refresh every second (default 5 s)
collect_statistics_interval = 1000
# the administrator, created on the first boot of an empty data dir (no guest user then)
default_user = $ADMIN_USER
default_pass = $ADMIN_PASS
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
# small CI disks must not raise the disk alarm (which blocks publishers)
disk_free_limit.absolute = 50MB
log.file.level = info
log.console = false
EOF
echo '[rabbitmq_management,rabbitmq_stomp,rabbitmq_web_stomp].' >"$ETC/enabled_plugins"
# Read by Debian's scripts (names without the RABBITMQ_ prefix); rabbitmqctl finds this
# broker with RABBITMQ_CONF_ENV_FILE pointing here (env.sh exports it).
cat >"$ETC/rabbitmq-env.conf" <<EOF
# generated by start-rabbitmq.sh
NODENAME=$NODE
CONFIG_FILE=$ETC/rabbitmq.conf
ENABLED_PLUGINS_FILE=$ETC/enabled_plugins
MNESIA_BASE=$DATA
LOG_BASE=$LOGD
PID_FILE=$RUN/rabbitmq.pid
DIST_PORT=$DIST_PORT
# Erlang distribution and epmd on loopback only
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
ERL_EPMD_ADDRESS=127.0.0.1
EOF
chown -R rabbitmq:rabbitmq "$ETC" "$DATA" "$LOGD" "$RUN"
chmod 600 "$ETC/rabbitmq.conf"
chmod 644 "$ETC/enabled_plugins" "$ETC/rabbitmq-env.conf"

MGMT_URL="http://127.0.0.1:$MGMT_PORT"
WS_URL="ws://127.0.0.1:$WS_PORT/ws"
cat >"$DIR/env.sh" <<EOF
# source this to use the test broker (written by start-rabbitmq.sh)
export RABBITMQ_DIR="$DIR"
export RABBITMQ_MGMT_URL="$MGMT_URL"
export RABBITMQ_MGMT_USER="$ADMIN_USER"
export RABBITMQ_MGMT_PASSWORD="$ADMIN_PASS"
export RABBITMQ_AMQP_PORT="$AMQP_PORT"
export RABBITMQ_STOMP_PORT="$STOMP_PORT"
export RABBITMQ_WEB_STOMP_PORT="$WS_PORT"
export RABBITMQ_WS_URL="$WS_URL"
# lets rabbitmqctl (as root) talk to this broker: rabbitmqctl list_queues -p VHOST
export RABBITMQ_CONF_ENV_FILE="$ETC/rabbitmq-env.conf"
EOF

# ---------------------------------------------------------------- epmd
# The Erlang port mapper. Run in the foreground under our own pid (an Erlang VM would
# otherwise daemonize one that nobody owns); an epmd already listening is shared.
if ! alive epmd epmd && ! port_busy "$EPMD_PORT"; then
  nohup setsid "$EPMD" -address 127.0.0.1 -port "$EPMD_PORT" >>"$LOGD/epmd.log" 2>&1 </dev/null &
  echo $! >"$RUN/epmd.pid"
  for _ in $(seq 1 50); do port_busy "$EPMD_PORT" && break; sleep 0.05; done
  log "epmd up on 127.0.0.1:$EPMD_PORT (pid $(cat "$RUN/epmd.pid"))"
fi

# ---------------------------------------------------------------- broker
STARTED="nothing (already running)"
if ! broker_alive; then
  rm -f "$RUN/rabbitmq.pid"
  # A clean environment: only the conf env file configures the broker. Debian's wrapper
  # (/usr/sbin/rabbitmq-server) switches to the rabbitmq user with su.
  nohup setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    RABBITMQ_CONF_ENV_FILE="$ETC/rabbitmq-env.conf" \
    /usr/sbin/rabbitmq-server >>"$LOGD/server.out" 2>&1 </dev/null &
  echo $! >"$RUN/wrapper.pid"
  STARTED="rabbitmq-server (node $NODE)"
  log "rabbitmq-server starting (node $NODE)"
fi

wait_for() { # wait_for WHAT CMD...
  local what=$1; shift
  local deadline=$(( $(date +%s) + WAIT ))
  until "$@" >/dev/null 2>&1; do
    if [ -s "$RUN/wrapper.pid" ] && ! running "$(cat "$RUN/wrapper.pid")" && ! broker_alive; then
      log "rabbitmq-server exited; last lines of its output:"
      tail -n 30 "$LOGD/server.out" >&2 || true
      exit 1
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { log "timeout waiting for $what"; tail -n 30 "$LOGD/server.out" >&2 || true; exit 1; }
    sleep 0.1
  done
}

mgmt_ok() { curl -sf --max-time 2 -u "$ADMIN_USER:$ADMIN_PASS" "$MGMT_URL/api/overview" -o /dev/null; }
# first_line PORT TEXT: send TEXT (printf %b escapes) to 127.0.0.1:PORT, print the answer's first line
first_line() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf '%b' "$2" >&3
  local line=""
  IFS= read -r -t 3 line <&3 || true
  exec 3<&- 3>&-
  printf '%s' "${line%$'\r'}"
}
# a STOMP 1.2 CONNECT on the plain port is answered by CONNECTED (authentication included)
stomp_ok() {
  [ "$(first_line "$STOMP_PORT" "CONNECT\naccept-version:1.2\nhost:/\nlogin:$ADMIN_USER\npasscode:$ADMIN_PASS\n\n\0")" = CONNECTED ]
}
# the WebSocket upgrade on /ws is accepted (101 Switching Protocols)
ws_ok() {
  local req="GET /ws HTTP/1.1\r\nHost: 127.0.0.1:$WS_PORT\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
  req+="Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
  [[ "$(first_line "$WS_PORT" "$req")" == "HTTP/1.1 101 "* ]]
}

wait_for "the management API" mgmt_ok
log "management API up at $MGMT_URL (user $ADMIN_USER)"
wait_for "STOMP" stomp_ok
wait_for "web-STOMP" ws_ok
log "STOMP on 127.0.0.1:$STOMP_PORT, web-STOMP at $WS_URL, AMQP on 127.0.0.1:$AMQP_PORT"

log "ready. started: $STARTED"
echo "source $DIR/env.sh     # RABBITMQ_MGMT_URL=$MGMT_URL RABBITMQ_WS_URL=$WS_URL"
