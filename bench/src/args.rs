//! The command line (docs/benchmark.md has the table of options).

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Clone)]
#[command(
    name = "bench",
    about = "Benchmark of the agent against the fake Waldur and real SLURM, with the floor measured in the same run"
)]
pub struct Args {
    /// Allocations (N) of the main site.
    #[arg(long, default_value_t = 1000)]
    pub allocations: usize,
    /// Users per project (M): every allocation of a project has them all.
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    #[arg(long, default_value_t = 10)]
    pub allocations_per_project: usize,
    #[arg(long, default_value_t = 10)]
    pub projects_per_customer: usize,
    /// N of the small site whose converged cycle is compared with the main one.
    #[arg(long, default_value_t = 10)]
    pub small_allocations: usize,
    /// Runs of the converged cycle, the observe floor and the planner.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Runs of the first sync and its floor (each needs a wipe).
    #[arg(long, default_value_t = 1)]
    pub first_sync_runs: usize,
    #[arg(long, default_value_t = 3)]
    pub drift_runs: usize,
    /// Runs of `agent report`: the first posts everything, the others find it unchanged.
    #[arg(long, default_value_t = 3)]
    pub report_runs: usize,
    /// sacct rows (R) the stub sacct prints for `agent report`.
    #[arg(long, default_value_t = 100_000)]
    pub sacct_rows: usize,
    /// Associations of the in-memory planner scenario.
    #[arg(long, default_value_t = 100_000)]
    pub planner_associations: usize,
    /// Rows of the sacct parsing scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub parse_rows: usize,
    /// Prefix of every account and user the bench creates (and wipes).
    #[arg(long, default_value = "bn_")]
    pub prefix: String,
    /// SLURM cluster name (start-slurm.sh: testcluster).
    #[arg(long, default_value = "testcluster")]
    pub cluster: String,
    /// The agent binary [default: `agent` next to this program, i.e. target/release/agent].
    #[arg(long)]
    pub agent: Option<PathBuf>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench.json")]
    pub out: PathBuf,
    /// Directory for the agent's stdout/stderr of the last run of each scenario.
    #[arg(long, default_value = "target/bench-logs")]
    pub logs: PathBuf,
    /// Run the first sync before its floor session (runs alternate; this picks the first).
    #[arg(long)]
    pub agent_first: bool,
    /// Only the in-memory scenarios (planner, parsing): no SLURM needed.
    #[arg(long)]
    pub in_memory_only: bool,
    /// Latency of every Waldur request in the extra converged-plan row (0: no such row).
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// Leave out the new-order scenario.
    #[arg(long)]
    pub no_new_order: bool,
    /// Leave out the drift repair (main site).
    #[arg(long)]
    pub no_drift: bool,
    /// Leave out the usage report (main site).
    #[arg(long)]
    pub no_report: bool,
    /// Only the first sync and the converged cycle of the main site (N): no small site,
    /// drift, report or in-memory rows (a separate, longer run at N=10000).
    #[arg(long)]
    pub sync_only: bool,
    /// Skip the first sync's stdin-session floor (it takes ~3x the load floor).
    #[arg(long)]
    pub no_session_floor: bool,
    /// Skip the first sync's load floor (at N=10000 a wipe and a load take as long as the
    /// sync itself).
    #[arg(long)]
    pub no_load_floor: bool,
    /// The main site is already in SLURM (an earlier `--keep` run, or one stopped during
    /// its first sync): no wipe and no first sync; one reconcile finishes what is missing,
    /// then the converged rows are measured. Implies `--keep`.
    #[arg(long)]
    pub synced: bool,
    /// Leave the main site's accounts in SLURM at the end.
    #[arg(long)]
    pub keep: bool,
    /// Keep the `sacctmgr dump` of the synced site at this path (for `--load-floor-from`).
    #[arg(long)]
    pub dump_to: Option<PathBuf>,
    /// Only the first sync's load floor: one `sacctmgr -i load` of this dump (of a site of
    /// the same --allocations and --users, taken with `--dump-to` or `sacctmgr dump`) on
    /// this cluster, best a fresh one. At N=10000 it runs apart from the sync, which takes
    /// as long.
    #[arg(long)]
    pub load_floor_from: Option<PathBuf>,
    /// Internal: run the planner scenario and print its JSON (used as a child process).
    #[arg(long, hide = true)]
    pub planner_only: bool,
}
