//! `agent`: keeps SLURM accounting in step with Waldur.
//!
//! Layout of the binary (the libraries do the work):
//! - `main.rs`: command line, logging, exit codes;
//! - `sources.rs`: where desired and observed state come from (snapshot or live);
//! - `executor.rs`: applies a plan, one writer, per change or as one sacctmgr session.

mod cycle;
mod daemon;
mod diagnose;
mod executor;
mod period;
mod report;
mod sources;
mod usage;
mod waldur;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use agent_config::ApplyMode;
use agent_observed::Runner;
use agent_reconcile::{render, Plan};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use std::sync::Arc;

use crate::cycle::{Inputs, Planned};
use crate::executor::Status;
use crate::sources::{Group, SlurmSource, WaldurSource};
use crate::waldur::Clients;

#[derive(Parser)]
#[command(
    name = "agent",
    version,
    about = "Keeps SLURM accounting in step with Waldur"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Configuration file (the waldur-site-agent YAML).
    #[arg(short, long, default_value = "waldur-site-agent-config.yaml")]
    config: PathBuf,
    /// Only this offering (name or UUID).
    #[arg(long)]
    offering: Option<String>,
    /// Read both sides from a recorded snapshot directory (DIR/waldur, DIR/slurm).
    #[arg(long, value_name = "DIR")]
    from_snapshot: Option<PathBuf>,
    /// Read only the Waldur side from a snapshot; SLURM is read live.
    #[arg(long, value_name = "DIR", conflicts_with = "from_snapshot")]
    waldur_snapshot: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show what would change. Exit codes with --detailed-exitcode: 0 no changes, 1 error, 2 changes.
    Plan {
        #[command(flatten)]
        common: Common,
        /// Print the plan as JSON (format documented in docs/plan-format.md).
        #[arg(long)]
        json: bool,
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Apply the plan to SLURM, then plan again to verify. Exit 1 if anything is left.
    Reconcile {
        #[command(flatten)]
        common: Common,
        /// Print the plan as a shell script and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even if the plan deletes more than agent.max_deletions objects.
        #[arg(long)]
        allow_mass_delete: bool,
        /// Override agent.apply_mode.
        #[arg(long, value_enum)]
        apply_mode: Option<ModeArg>,
        /// With --dry-run: 0 no changes, 1 error, 2 changes.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Print the JSON Schema of `plan --json`.
    PlanSchema,
    /// One account: what SLURM holds next to what Waldur expects, as a diff, and the
    /// commands that would fix it.
    Diagnose {
        /// The SLURM account name.
        account: String,
        #[command(flatten)]
        common: Common,
    },
    /// Run as a daemon: reconcile every agent.cycle_interval, report usage every
    /// agent.report_interval, until SIGTERM or Ctrl-C.
    Run {
        /// Configuration file (the waldur-site-agent YAML).
        #[arg(short, long, default_value = "waldur-site-agent-config.yaml")]
        config: PathBuf,
        /// Only this offering (name or UUID).
        #[arg(long)]
        offering: Option<String>,
        /// One round (reconcile, then report) and exit; exit 1 if anything was left.
        #[arg(long)]
        once: bool,
        /// Apply plans that delete more than agent.max_deletions objects.
        #[arg(long)]
        allow_mass_delete: bool,
    },
    /// Report usage of the current and previous months (`reporting_periods`) to Waldur.
    Report {
        #[command(flatten)]
        target: ReportTarget,
        /// Print what would be submitted and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the per-resource results as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fill past months' usage in Waldur from sacct (one sacct call per month).
    LoadHistoricalUsage {
        #[command(flatten)]
        target: ReportTarget,
        /// First month, YYYY-MM (a day part is ignored).
        #[arg(long)]
        start_date: String,
        /// Last month, YYYY-MM, included.
        #[arg(long)]
        end_date: String,
        /// Only the resource with this backend id (repeatable).
        #[arg(long = "resource", value_name = "BACKEND_ID")]
        resources: Vec<String>,
        /// Send totals only, no per-user usage.
        #[arg(long)]
        skip_user_usage: bool,
        /// Do not check that the token belongs to a staff user (needed to backfill
        /// usage-billed components).
        #[arg(long)]
        no_staff_check: bool,
        /// Print what would be submitted and send nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Clone)]
pub struct ReportTarget {
    /// Configuration file (the waldur-site-agent YAML).
    #[arg(short, long, default_value = "waldur-site-agent-config.yaml")]
    pub config: PathBuf,
    /// Only this offering (name or UUID).
    #[arg(long, alias = "offering-uuid")]
    pub offering: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Auto,
    PerChange,
    Batch,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon's log is its output; one-shot commands print results and log only trouble.
    let default_level = if matches!(cli.command, Cmd::Run { .. }) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

pub struct Loaded {
    config: agent_config::Config,
    waldur: WaldurSource,
    slurm: SlurmSource,
}

fn load(common: &Common) -> Result<Loaded> {
    let loaded = agent_config::load(&common.config)?;
    for w in &loaded.warnings {
        tracing::warn!("{}: {w}", common.config.display());
    }
    let (waldur, slurm) = match (&common.from_snapshot, &common.waldur_snapshot) {
        (Some(dir), _) => (
            WaldurSource::Snapshot(dir.clone()),
            SlurmSource::Snapshot(dir.clone()),
        ),
        (None, Some(dir)) => (WaldurSource::Snapshot(dir.clone()), SlurmSource::Live),
        (None, None) => (
            WaldurSource::Live(Arc::new(
                Clients::new(&loaded.config).context("setting up the Waldur client")?,
            )),
            SlurmSource::Live,
        ),
    };
    Ok(Loaded {
        config: loaded.config,
        waldur,
        slurm,
    })
}

fn runner(config: &agent_config::Config) -> Runner {
    Runner::new(config.agent.command_timeout)
}

impl Loaded {
    pub fn inputs<'a>(&'a self, runner: &'a Runner) -> Inputs<'a> {
        Inputs {
            config: &self.config,
            waldur: &self.waldur,
            slurm: &self.slurm,
            runner,
        }
    }
}

/// Work done against the two systems, for `RUST_LOG=info` and the benchmark.
fn log_counts(l: &Loaded, runner: &Runner) {
    let waldur_requests = l.waldur.clients().map_or(0, |c| c.request_count());
    tracing::info!(waldur_requests, processes = ?runner.counts(), "cycle finished");
}

/// Reports offerings that could not be read; returns how many.
fn report_failures(planned: &Planned) -> usize {
    for f in &planned.failures {
        eprintln!("error: {f:#}; this offering is left out of the cycle (nothing of it is changed or deleted)");
    }
    planned.failures.len()
}

/// Plans every cluster group.
async fn plan_all(common: &Common, l: &Loaded, runner: &Runner) -> Result<Vec<Planned>> {
    let inputs = l.inputs(runner);
    let mut out = Vec::new();
    for group in sources::groups(&l.config, common.offering.as_deref())? {
        out.push(cycle::plan_group(&group, &inputs).await?);
    }
    Ok(out)
}

fn print_json(plans: &[&Plan]) {
    if let [one] = plans {
        println!("{}", one.to_json());
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(plans).expect("plans serialise")
        );
    }
}

fn exit_for(plans: &[&Plan], detailed: bool, failures: usize) -> ExitCode {
    if failures > 0 {
        ExitCode::from(1)
    } else if detailed && plans.iter().any(|p| !p.is_empty()) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::PlanSchema => {
            println!("{}", agent_reconcile::plan::json_schema());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Report {
            target,
            dry_run,
            json,
        } => usage::report(&target, dry_run, json).await,
        Cmd::Diagnose { account, common } => {
            let l = load(&common)?;
            let runner = runner(&l.config);
            let inputs = l.inputs(&runner);
            let account = account.to_ascii_lowercase();
            let mut found = None;
            for group in sources::groups(&l.config, common.offering.as_deref())? {
                let (desired, observed) = cycle::read_group(&group, &inputs).await?;
                let planned_here = desired.desired.accounts.contains_key(&account)
                    || desired.desired.tombstones.contains_key(&account)
                    || observed.accounts.contains_key(&account);
                let failures = desired.failures.len();
                for f in &desired.failures {
                    eprintln!("error: {f:#}; this offering is left out");
                }
                if planned_here || found.is_none() {
                    let plan = agent_reconcile::plan(
                        &desired.desired,
                        &observed,
                        &group.plan_context(&l.config),
                    );
                    found = Some((
                        diagnose::report(&account, &desired.desired, &observed, &plan),
                        failures,
                    ));
                    if planned_here {
                        break;
                    }
                }
            }
            let (text, failures) = found.expect("at least one group");
            print!("{text}");
            Ok(if failures > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Run {
            config,
            offering,
            once,
            allow_mass_delete,
        } => {
            let common = Common {
                config,
                offering: offering.clone(),
                from_snapshot: None,
                waldur_snapshot: None,
            };
            let l = load(&common)?;
            daemon::run(
                &l,
                daemon::RunArgs {
                    offering,
                    once,
                    allow_mass_delete,
                },
            )
            .await
        }
        Cmd::LoadHistoricalUsage {
            target,
            start_date,
            end_date,
            resources,
            skip_user_usage,
            no_staff_check,
            dry_run,
            json,
        } => {
            let args = usage::HistoryArgs {
                start: period::Month::parse(&start_date).context("--start-date")?,
                end: period::Month::parse(&end_date).context("--end-date")?,
                resources,
                skip_user_usage,
                staff_check: !no_staff_check,
                dry_run,
                json,
            };
            usage::load_history(&target, &args).await
        }
        Cmd::Plan {
            common,
            json,
            detailed_exitcode,
        } => {
            let l = load(&common)?;
            let runner = runner(&l.config);
            let planned = plan_all(&common, &l, &runner).await?;
            let failures: usize = planned.iter().map(report_failures).sum();
            let plans: Vec<&Plan> = planned.iter().map(|p| &p.plan).collect();
            if json {
                print_json(&plans);
            } else {
                for p in &plans {
                    print!("{}", render::text(p));
                }
            }
            log_counts(&l, &runner);
            Ok(exit_for(&plans, detailed_exitcode, failures))
        }
        Cmd::Reconcile {
            common,
            dry_run,
            allow_mass_delete,
            apply_mode,
            detailed_exitcode,
        } => {
            let l = load(&common)?;
            let runner = runner(&l.config);
            if dry_run {
                let planned = plan_all(&common, &l, &runner).await?;
                let failures: usize = planned.iter().map(report_failures).sum();
                let plans: Vec<&Plan> = planned.iter().map(|p| &p.plan).collect();
                for p in &plans {
                    print!("{}", render::shell_script(p));
                }
                return Ok(exit_for(&plans, detailed_exitcode, failures));
            }
            if matches!(l.slurm, SlurmSource::Snapshot(_)) {
                bail!("--from-snapshot reads recorded SLURM output and cannot be applied; use --dry-run, or --waldur-snapshot to apply to the live cluster");
            }
            let mode = match apply_mode {
                Some(ModeArg::Auto) => ApplyMode::Auto,
                Some(ModeArg::PerChange) => ApplyMode::PerChange,
                Some(ModeArg::Batch) => ApplyMode::Batch,
                None => l.config.agent.apply_mode,
            };
            let inputs = l.inputs(&runner);
            let mut bad = 0;
            for group in sources::groups(&l.config, common.offering.as_deref())? {
                let planned = cycle::plan_group(&group, &inputs).await?;
                bad += report_failures(&planned);
                let p = &planned.plan;
                if p.deletions() > l.config.agent.max_deletions && !allow_mass_delete {
                    bail!(
                        "the plan for cluster {} deletes {} objects, more than agent.max_deletions ({}); nothing was changed. Review it with `agent plan` and rerun with --allow-mass-delete",
                        p.cluster,
                        p.deletions(),
                        l.config.agent.max_deletions
                    );
                }
                if p.is_empty() {
                    // Nothing to apply: this plan, just made, is the verification.
                    let left = cycle::remaining(p, &l.waldur);
                    if left == 0 {
                        println!("No changes for cluster {}.", p.cluster);
                    } else {
                        println!("Not converged: {left} problem(s) hold changes back:");
                        print!("{}", render::text(p));
                    }
                    bad += left;
                    continue;
                }
                bad += apply_one(&group, &inputs, p, mode).await;
                // Verify: what a fresh plan still contains is what did not take effect.
                let after = cycle::plan_group(&group, &inputs)
                    .await
                    .context("re-planning after apply")?;
                let left = cycle::remaining(&after.plan, &l.waldur);
                if left == 0 {
                    println!(
                        "Verified: cluster {} now matches the desired state.",
                        p.cluster
                    );
                } else {
                    bad += left;
                    println!("Not converged: {left} change(s) or problem(s) left:");
                    print!("{}", render::text(&after.plan));
                }
            }
            log_counts(&l, &runner);
            Ok(if bad > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// Applies one plan and prints a line per change; returns the number of changes that
/// failed or were skipped.
async fn apply_one(group: &Group<'_>, inputs: &Inputs<'_>, plan: &Plan, mode: ApplyMode) -> usize {
    if plan.is_empty() {
        println!("No changes for cluster {}.", plan.cluster);
        return 0;
    }
    let tty = std::io::stderr().is_terminal();
    let progress = |done: usize, total: usize| {
        if tty && total > 20 {
            eprint!("\r  applying {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    };
    let started = std::time::Instant::now();
    let outcome = cycle::apply_group(group, inputs, plan, mode, Some(&progress)).await;
    let snapshot_waldur = matches!(inputs.waldur, WaldurSource::Snapshot(_));
    let mut failures = 0;
    for (address, status) in &outcome.statuses {
        let line = match status {
            Status::Applied => format!("  applied  {address}"),
            Status::Failed { class, message } => {
                format!("  FAILED   {address} ({class}): {message}")
            }
            Status::Skipped { because } => format!("  skipped  {address}: {because}"),
        };
        // Waldur calls cannot be made from a snapshot; that is not a failure of the apply.
        let waldur_from_snapshot = snapshot_waldur && address.starts_with("waldur/");
        if !matches!(status, Status::Applied) && !waldur_from_snapshot {
            failures += 1;
        }
        println!("{line}");
    }
    println!(
        "Applied plan for cluster {} in {:.2?} ({} change(s), {} not applied).",
        plan.cluster,
        Duration::from_secs_f64(started.elapsed().as_secs_f64()),
        plan.changes.len(),
        outcome.failed()
    );
    failures
}
