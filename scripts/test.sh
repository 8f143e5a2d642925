#!/usr/bin/env bash
# Runs the whole test suite: starts a real single-host SLURM (slurmdbd, slurmctld, slurmd,
# munge, mariadb; installed from Debian packages if missing) on loopback, installs
# slurm-emulator from PyPI in a venv (for the emulator-mode test), then cargo test.
# Usage: bash scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
SLURM_DIR="${SLURM_TEST_DIR:-/tmp/slurm-agent-test}"
# A leftover cluster from an earlier run on this machine is stopped and wiped first.
bash scripts/slurm/stop-slurm.sh "$SLURM_DIR" --wipe >/dev/null 2>&1 || true
trap 'bash scripts/slurm/stop-slurm.sh "$SLURM_DIR" --wipe >/dev/null 2>&1 || true' EXIT
bash scripts/slurm/start-slurm.sh "$SLURM_DIR"
# shellcheck disable=SC1091
source "$SLURM_DIR/env.sh"
# slurm-emulator (PyPI) for the emulator-mode test, in its own venv.
if ! python3 -m venv --help >/dev/null 2>&1; then
  apt-get install -y -qq python3-venv >/dev/null
fi
EMULATOR_PREFIX="${SLURM_EMULATOR_PREFIX:-/opt/slurm-emulator}"
bash scripts/emulator/setup.sh --prefix "$EMULATOR_PREFIX" --cluster hpc1 >/dev/null
export SLURM_EMULATOR_BIN="$EMULATOR_PREFIX/agent-bin"
cargo test --workspace "$@"
