#!/usr/bin/env bash
# stop-rabbitmq.sh — stop the broker that start-rabbitmq.sh started, by the pid it recorded
# in DIR/run/rabbitmq.pid (never by process name), then the epmd it started, if no other
# Erlang node still uses it.
# Usage: stop-rabbitmq.sh [DIR] [--wipe]   (DIR defaults to $RABBITMQ_TEST_DIR or /tmp/rabbitmq-test)
#   --wipe   also delete DIR afterwards. The data is thrown away, so the broker is killed
#            (SIGKILL) instead of being given its ~6 s graceful shutdown.
set -uo pipefail

# shellcheck source=../lib/stop-args.sh
. "$(dirname "$0")/../lib/stop-args.sh"
stop_args "${RABBITMQ_TEST_DIR:-/tmp/rabbitmq-test}" "$@"
[ -d "$DIR" ] && DIR="$(cd "$DIR" && pwd)"
RUN="$DIR/run"
[ -d "$RUN" ] || { echo "[stop-rabbitmq] nothing to stop: $RUN missing"; [ "$WIPE" = 1 ] && rm -rf "$DIR"; exit 0; }

# start-rabbitmq.sh starts the broker with only this in its environment (besides PATH, LANG)
MARK="RABBITMQ_CONF_ENV_FILE=$DIR/etc/rabbitmq-env.conf"

# a live process (zombies, whose parent has not reaped them yet, count as gone)
running() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null)" && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

ours() { # ours PID COMM [ENVIRONMENT-LINE]: guards against pid reuse
  running "$1" || return 1
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
  [ -z "${3:-}" ] || { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qxF -- "$3"
}

stop_pid() { # stop_pid NAME PID COMM ENVIRONMENT-LINE GRACE_TENTHS
  local name=$1 pid=$2 comm=$3 sub=$4 grace=$5
  if ! ours "$pid" "$comm" "$sub"; then
    echo "[stop-rabbitmq] $name (pid $pid) not running"
    return 0
  fi
  if [ "$grace" -gt 0 ]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 "$grace"); do
      ours "$pid" "$comm" "$sub" || break
      sleep 0.1
    done
  fi
  if ours "$pid" "$comm" "$sub"; then
    [ "$grace" -gt 0 ] && echo "[stop-rabbitmq] $name (pid $pid) ignored SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 1 50); do ours "$pid" "$comm" "$sub" || break; sleep 0.1; done
  fi
  echo "[stop-rabbitmq] stopped $name (pid $pid)"
}

pid_of() { [ -s "$RUN/$1.pid" ] && cat "$RUN/$1.pid"; }

# The broker removes its pid file on a clean exit; the wrapper's pid stays for diagnosis.
if pid="$(pid_of rabbitmq)"; then
  if [ "$WIPE" = 1 ]; then grace=0; else grace=600; fi   # up to 60 s of graceful shutdown
  stop_pid rabbitmq "$pid" beam.smp "$MARK" "$grace"
  rm -f "$RUN/rabbitmq.pid"
fi
# the shell wrappers (sh -> su -> sh) end with the VM; wait for them briefly
if pid="$(pid_of wrapper)"; then
  for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
  rm -f "$RUN/wrapper.pid"
fi

# epmd: only the one we started, and only when no Erlang node is registered with it any more
if pid="$(pid_of epmd)"; then
  if ours "$pid" epmd; then
    # a node that was just killed deregisters when epmd sees its connection close
    for _ in $(seq 1 20); do
      names="$(epmd -names 2>/dev/null | grep -c '^name ' || true)"
      [ "${names:-0}" = 0 ] && break
      sleep 0.1
    done
    if [ "${names:-0}" = 0 ]; then
      stop_pid epmd "$pid" epmd "" 20
      rm -f "$RUN/epmd.pid"
    else
      # the pid file stays, so that a later stop-rabbitmq.sh can still stop it
      echo "[stop-rabbitmq] epmd (pid $pid) left running: $names other Erlang node(s) registered"
    fi
  else
    rm -f "$RUN/epmd.pid"
  fi
fi

if [ "$WIPE" = 1 ]; then
  rm -rf "$DIR"
  echo "[stop-rabbitmq] wiped $DIR"
fi
