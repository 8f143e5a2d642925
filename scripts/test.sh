#!/usr/bin/env bash
# Runs the whole test suite: starts a real single-host SLURM (slurmdbd, slurmctld, slurmd,
# munge, mariadb; installed from Debian packages if missing) on loopback, then cargo test.
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
cargo test --workspace "$@"
