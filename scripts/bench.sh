#!/usr/bin/env bash
# Benchmark of the agent (docs/benchmark.md): brings up (or reuses) a private SLURM
# accounting stack (munge, mariadb, slurmdbd; no slurmctld) on its own ports and directory,
# builds the agent and the bench in release, and runs the bench against it.
#
# Usage:  bash scripts/bench.sh [bench options]
#         bash scripts/bench.sh --allocations 1000 --users 10      (the defaults)
#         bash scripts/bench.sh --in-memory-only                   (planner and parsing; no SLURM)
#         bash scripts/bench.sh --help
# Environment:
#   BENCH_SLURM_DIR=/tmp/slurm-bench   the cluster's directory (separate from the tests' cluster)
#   BENCH_STOP=1                       stop the cluster when the bench ends (default: leave it up;
#                                      stop it with: bash scripts/slurm/stop-slurm.sh /tmp/slurm-bench)
#   SLURM_MYSQL_PORT, SLURMDBD_PORT    default 3317 and 6829, so it can run next to the test cluster
# Results: a table on stdout, JSON in target/bench.json (--out PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

in_memory=0
for a in "$@"; do
  case "$a" in
    --in-memory-only) in_memory=1 ;;
    -h|--help) in_memory=1 ;;
  esac
done

if [ "$in_memory" = 0 ]; then
  DIR="${BENCH_SLURM_DIR:-/tmp/slurm-bench}"
  export SLURM_MYSQL_PORT="${SLURM_MYSQL_PORT:-3317}"
  export SLURMDBD_PORT="${SLURMDBD_PORT:-6829}"
  export SLURMCTLD_PORT="${SLURMCTLD_PORT:-6827}"
  export SLURMD_PORT="${SLURMD_PORT:-6828}"
  export SLURM_WITH_CTLD="${SLURM_WITH_CTLD:-0}"
  bash scripts/slurm/start-slurm.sh "$DIR"
  if [ "${BENCH_STOP:-0}" = 1 ]; then
    trap 'bash scripts/slurm/stop-slurm.sh "$DIR" || true' EXIT
  fi
  # shellcheck disable=SC1091
  source "$DIR/env.sh"
  if command -v ip >/dev/null 2>&1 && ! ip route show table local | grep -q 'quickack 1'; then
    echo "[bench] WARNING: loopback quickack is off: every sacctmgr call costs ~40 ms more (see start-slurm.sh)" >&2
  fi
fi

cargo build --release -p waldur-slurm-agent --bin agent
cargo build --release -p bench
# The bench finds the agent next to itself (target/release/agent).
"${CARGO_TARGET_DIR:-target}/release/bench" "$@"
