#!/usr/bin/env bash
# Runs the whole test suite: starts a real single-host SLURM (slurmdbd, slurmctld, slurmd,
# munge, mariadb; installed from Debian packages if missing) on loopback, a real RabbitMQ
# with STOMP, web-STOMP and management (Debian's rabbitmq-server) on loopback, installs
# Debian's chromium (the status page is tested in it, headless) and slurm-emulator from
# PyPI in a venv (for the emulator-mode test), then cargo test.
# Usage: bash scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
SLURM_DIR="${SLURM_TEST_DIR:-/tmp/slurm-agent-test}"
RABBITMQ_DIR="${RABBITMQ_TEST_DIR:-/tmp/rabbitmq-agent-test}"
# A leftover cluster or broker from an earlier run on this machine is stopped and wiped first.
bash scripts/slurm/stop-slurm.sh "$SLURM_DIR" --wipe >/dev/null 2>&1 || true
bash scripts/rabbitmq/stop-rabbitmq.sh "$RABBITMQ_DIR" --wipe >/dev/null 2>&1 || true
stop_all() {
  # a broker still booting writes its pid file only after a few seconds: let the start finish
  [ -z "${RABBITMQ_START:-}" ] || wait "$RABBITMQ_START" 2>/dev/null || true
  bash scripts/rabbitmq/stop-rabbitmq.sh "$RABBITMQ_DIR" --wipe >/dev/null 2>&1 || true
  bash scripts/slurm/stop-slurm.sh "$SLURM_DIR" --wipe >/dev/null 2>&1 || true
}
trap stop_all EXIT
bash scripts/slurm/start-slurm.sh "$SLURM_DIR"
# shellcheck disable=SC1091
source "$SLURM_DIR/env.sh"
# The broker boots (~8 s of Erlang VM) while the emulator is set up; apt runs first, alone.
bash scripts/rabbitmq/start-rabbitmq.sh --install-only
# Headless Chromium (Debian's package) for the status-page test (tests/live_service.rs).
if ! command -v chromium >/dev/null 2>&1; then
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi
# The storage tests: setfacl/getfacl (acl) for project directories, mkfs.xfs and xfs_quota
# (xfsprogs) for the real XFS quota attempt (skipped where the kernel lacks XFS quotas).
if ! command -v setfacl >/dev/null || ! command -v mkfs.xfs >/dev/null; then
  apt-get install -y -qq acl xfsprogs >/dev/null
fi
RABBITMQ_LOG="$(mktemp)"
bash scripts/rabbitmq/start-rabbitmq.sh "$RABBITMQ_DIR" >"$RABBITMQ_LOG" 2>&1 &
RABBITMQ_START=$!
# slurm-emulator (PyPI) for the emulator-mode test, in its own venv.
if ! python3 -m venv --help >/dev/null 2>&1; then
  apt-get install -y -qq python3-venv >/dev/null
fi
EMULATOR_PREFIX="${SLURM_EMULATOR_PREFIX:-/opt/slurm-emulator}"
bash scripts/emulator/setup.sh --prefix "$EMULATOR_PREFIX" --cluster hpc1 >/dev/null
export SLURM_EMULATOR_BIN="$EMULATOR_PREFIX/agent-bin"
rabbitmq_ok=0
wait "$RABBITMQ_START" || rabbitmq_ok=$?
cat "$RABBITMQ_LOG"
rm -f "$RABBITMQ_LOG"
[ "$rabbitmq_ok" = 0 ] || { echo "start-rabbitmq.sh failed ($rabbitmq_ok)" >&2; exit 1; }
# RABBITMQ_MGMT_URL/_USER/_PASSWORD, RABBITMQ_STOMP_PORT, RABBITMQ_WS_URL, ... for the tests
# shellcheck disable=SC1091
source "$RABBITMQ_DIR/env.sh"
cargo test --workspace "$@"
