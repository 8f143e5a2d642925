#!/usr/bin/env bash
# setup.sh — install the PyPI `slurm-emulator` (pinned) in its own venv and make a bin
# directory the agent can use as `backend_settings.slurm_bin_path`:
#
#   BIN/sacctmgr   the emulator's sacctmgr, plus sacctmgr's stdin session mode
#                  (`sacctmgr -i < commands`, used by apply_mode batch), which the
#                  emulator itself does not have (without a command it prints its help
#                  and exits 0, applying nothing)
#   BIN/sacct      the emulator's sacct
#   BIN/scancel    the emulator's scancel (a no-op that says so if a version lacks it)
#
# Every wrapper points the emulator at one state directory (JSON database + clock file).
# See docs/emulator.md for the differences from real sacctmgr.
#
# Usage:  scripts/emulator/setup.sh [--prefix DIR] [--state-dir DIR] [--cluster NAME]
#                                   [--qos a,b,...] [--reset]
#   --prefix DIR      venv location (default $SLURM_EMULATOR_PREFIX or /opt/slurm-emulator);
#                     the wrappers go to DIR/agent-bin
#   --state-dir DIR   where the emulator keeps its state (default PREFIX/state; kept by later
#                     runs without --state-dir)
#   --cluster NAME    the emulator's ClusterName (SLURM_EMULATOR_CLUSTER_NAME, baked into the
#                     wrappers; kept by later runs without --cluster) and register it; use
#                     the same name as backend_settings.cluster_name
#   --qos a,b         create these QoS (the demo config needs: limited,paused)
#   --reset           delete the state files first (a fresh database: clusters, root, normal QoS)
# Environment: SLURM_EMULATOR_VERSION (default below), PYTHON (default python3).
#
# Idempotent: the venv and the package are installed only when missing or at another
# version; wrappers are rewritten; existing clusters/QoS are left alone.
# Last line of output: SLURM_EMULATOR_BIN=<dir>
set -euo pipefail

VERSION="${SLURM_EMULATOR_VERSION:-0.9.10}"
PREFIX="${SLURM_EMULATOR_PREFIX:-/opt/slurm-emulator}"
STATE_DIR=""
CLUSTER=""
QOS=""
RESET=0
PYTHON="${PYTHON:-python3}"

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --state-dir) STATE_DIR="$2"; shift 2 ;;
    --cluster) CLUSTER="$2"; shift 2 ;;
    --qos) QOS="$2"; shift 2 ;;
    --reset) RESET=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
PREFIX="$(mkdir -p "$PREFIX" && cd "$PREFIX" && pwd)"
BIN="$PREFIX/agent-bin"
LIB="$PREFIX/agent-lib"
# Without --state-dir / --cluster, keep what an earlier run baked into the wrappers.
if [ -f "$LIB/env.sh" ]; then
  [ -n "$STATE_DIR" ] || STATE_DIR="$(sed -n 's#^: "\${SLURM_EMULATOR_STATE_FILE:=\(.*\)/slurm_emulator_db.json}"$#\1#p' "$LIB/env.sh")"
  [ -n "$CLUSTER" ] || CLUSTER="$(sed -n 's/^: "\${SLURM_EMULATOR_CLUSTER_NAME=\(.*\)}"$/\1/p' "$LIB/env.sh")"
fi
STATE_DIR="${STATE_DIR:-$PREFIX/state}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
log() { echo "[emulator-setup] $*" >&2; }

# 1. venv + pinned package
if [ ! -x "$PREFIX/bin/python" ]; then
  log "creating venv in $PREFIX"
  "$PYTHON" -m venv "$PREFIX"
fi
installed="$("$PREFIX/bin/python" -m pip show slurm-emulator 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$installed" != "$VERSION" ]; then
  log "installing slurm-emulator==$VERSION (found: ${installed:-none})"
  "$PREFIX/bin/python" -m pip install --quiet --disable-pip-version-check "slurm-emulator==$VERSION"
else
  log "slurm-emulator $VERSION already installed"
fi

# 2. wrappers
mkdir -p "$BIN" "$LIB"
cat > "$LIB/env.sh" <<EOF
# Written by scripts/emulator/setup.sh: where the emulator keeps its state. Values already
# in the environment win, so one bin dir can serve several state directories.
: "\${SLURM_EMULATOR_STATE_FILE:=$STATE_DIR/slurm_emulator_db.json}"
: "\${SLURM_EMULATOR_TIME_FILE:=$STATE_DIR/slurm_emulator_time.json}"
# The agent asks sacct for calendar months of the wall clock; the emulator's own clock
# starts at 2024-01-01 unless told to follow the wall clock. Set to 0 for time travel.
: "\${SLURM_EMULATOR_TIME_FOLLOW_WALL:=1}"
export SLURM_EMULATOR_STATE_FILE SLURM_EMULATOR_TIME_FILE SLURM_EMULATOR_TIME_FOLLOW_WALL
EOF
if [ -n "$CLUSTER" ]; then
  cat >> "$LIB/env.sh" <<EOF
# ClusterName: rows written without cluster= (and injected usage/jobs) land on this cluster.
# (An empty value in the environment turns it off.)
: "\${SLURM_EMULATOR_CLUSTER_NAME=$CLUSTER}"
export SLURM_EMULATOR_CLUSTER_NAME
EOF
fi

# sacctmgr session mode. Uses the emulator's dispatcher in-process (one database load for
# the whole session); falls back to one emulator process per line if that API is missing.
cat > "$LIB/sacctmgr_session.py" <<EOF
"""sacctmgr for the agent: the slurm-emulator's sacctmgr, plus stdin session mode.

With a command on the command line this execs the emulator's sacctmgr unchanged. With
only flags (-i, -P, -n, ...) and stdin not a terminal it reads commands one per line,
like real sacctmgr: each line is echoed as "sacctmgr: <line>", run with the command-line
flags, its output printed; "exit"/"quit" ends the session; the exit status is 1 if any
command failed (real sacctmgr's global exit_code), else 0.
"""
import os
import shlex
import subprocess
import sys

EMULATOR_SACCTMGR = "$PREFIX/bin/sacctmgr"
SHORT_FLAGS = set("inpPQv")
LONG_FLAGS = {"--immediate", "--parsable", "--parsable2", "--noheader", "--quiet", "--verbose"}


def is_flag(arg):
    if arg in LONG_FLAGS:
        return True
    return len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and set(arg[1:]) <= SHORT_FLAGS


def words_of(line):
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def session(flags):
    try:
        from emulator.commands.dispatcher import get_emulator

        emu = get_emulator()
    except Exception:  # another emulator version: one process per line
        emu = None
    status = 0
    for raw in sys.stdin:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        print(f"sacctmgr: {line}", flush=True)
        if line.lower() in ("exit", "quit"):
            break
        argv = flags + words_of(line)
        if emu is None:
            code = subprocess.run([EMULATOR_SACCTMGR, *argv]).returncode
        else:
            try:
                out = emu.execute_command("sacctmgr", argv)
                code = emu.sacctmgr.exit_code
                to_stderr = bool(code) and not emu.sacctmgr.stdout_error
            except SystemExit as e:
                out, code, to_stderr = str(e), 1, True
            except Exception as e:
                out, code, to_stderr = f"sacctmgr: error: {e}", 1, True
            if out:
                print(out, file=sys.stderr if to_stderr else sys.stdout, flush=True)
        if code:
            status = 1
    return status


def main():
    args = sys.argv[1:]
    if all(is_flag(a) for a in args) and not sys.stdin.isatty():
        sys.exit(session(args))
    os.execv(EMULATOR_SACCTMGR, [EMULATOR_SACCTMGR, *args])


main()
EOF

cat > "$BIN/sacctmgr" <<EOF
#!/bin/sh
# slurm-emulator $VERSION sacctmgr (+ stdin session mode); written by scripts/emulator/setup.sh
. "$LIB/env.sh"
# A command on the command line: the emulator's sacctmgr as is. Only flags: session mode.
for arg in "\$@"; do
  case "\$arg" in
    -*) ;;
    *) exec "$PREFIX/bin/sacctmgr" "\$@" ;;
  esac
done
exec "$PREFIX/bin/python" "$LIB/sacctmgr_session.py" "\$@"
EOF
for prog in sacct scancel; do
  if [ -x "$PREFIX/bin/$prog" ]; then
    cat > "$BIN/$prog" <<EOF
#!/bin/sh
# slurm-emulator $VERSION $prog; written by scripts/emulator/setup.sh
. "$LIB/env.sh"
exec "$PREFIX/bin/$prog" "\$@"
EOF
  else
    cat > "$BIN/$prog" <<EOF
#!/bin/sh
# slurm-emulator $VERSION has no $prog; written by scripts/emulator/setup.sh
echo "$prog: not provided by slurm-emulator $VERSION; nothing done: \$*" >&2
exit 0
EOF
  fi
done
chmod 0755 "$BIN/sacctmgr" "$BIN/sacct" "$BIN/scancel"

# 3. state
if [ "$RESET" = 1 ]; then
  log "resetting state in $STATE_DIR"
  rm -f "$STATE_DIR/slurm_emulator_db.json" "$STATE_DIR/slurm_emulator_time.json"
fi
export SLURM_EMULATOR_STATE_FILE="$STATE_DIR/slurm_emulator_db.json"
export SLURM_EMULATOR_TIME_FILE="$STATE_DIR/slurm_emulator_time.json"
# "already exists" / "Nothing new added." answers exit 1: fine when re-run. The cluster is
# added with ClusterName off so that it is written to the state file (with ClusterName set
# the emulator creates it in memory only, and `add cluster` then says it exists).
if [ -n "$CLUSTER" ]; then
  SLURM_EMULATOR_CLUSTER_NAME= "$BIN/sacctmgr" -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
fi
if [ -n "$QOS" ]; then
  "$BIN/sacctmgr" -i add qos "$QOS" >/dev/null 2>&1 || true
fi
if [ -n "$CLUSTER" ]; then
  log "clusters: $("$BIN/sacctmgr" -P -n show cluster format=Cluster | tr '\n' ' ')"
fi
log "QoS: $("$BIN/sacctmgr" -P -n show qos format=Name | tr '\n' ' ')"
log "state: $STATE_DIR"
echo "SLURM_EMULATOR_BIN=$BIN"
