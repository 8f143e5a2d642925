//! The binary's side: command-line arguments (clap) and, per command, what is printed
//! and which exit code follows. Everything else is the library.
//!
//! - [`plan`]: `agent plan` and `agent reconcile --dry-run`;
//! - [`reconcile`]: `agent reconcile`;
//! - [`run`]: `agent run` (signals, the daemon's log);
//! - [`diagnose`]: `agent diagnose ACCOUNT`;
//! - [`check`]: `agent check`;
//! - [`homedirs`]: `agent create-homedirs`;
//! - [`usage`]: `agent report` and `agent load-historical-usage`.

mod check;
mod diagnose;
mod homedirs;
mod plan;
mod reconcile;
mod run;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use agent_config::ApplyMode;
use agent_reconcile::escape::{self, Esc};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use waldur_slurm_agent::cycle::Pass;
use waldur_slurm_agent::settings::SourceArgs;

#[derive(Parser)]
#[command(
    name = "agent",
    version,
    about = "Keeps SLURM accounting in step with Waldur"
)]
pub struct Cli {
    /// Log lines on stderr: human (default) or json (one object per line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// `-c CONFIG [--offering NAME|UUID]`, the same for every command.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// Configuration file (the waldur-site-agent YAML).
    #[arg(short, long, default_value = "waldur-site-agent-config.yaml")]
    pub config: PathBuf,
    /// Only this offering (name or UUID).
    #[arg(long, visible_alias = "offering-uuid")]
    pub offering: Option<String>,
}

/// Where the two sides are read from.
#[derive(clap::Args, Clone)]
pub struct Sources {
    /// Read every side from a recorded snapshot directory (DIR/waldur, DIR/slurm,
    /// DIR/storage).
    #[arg(long, value_name = "DIR")]
    pub from_snapshot: Option<PathBuf>,
    /// Read only the Waldur side from a snapshot; SLURM is read live.
    #[arg(long, value_name = "DIR", conflicts_with = "from_snapshot")]
    pub waldur_snapshot: Option<PathBuf>,
}

impl Sources {
    pub fn args(&self) -> SourceArgs {
        SourceArgs {
            from_snapshot: self.from_snapshot.clone(),
            waldur_snapshot: self.waldur_snapshot.clone(),
        }
    }
}

/// Machine-readable counts of a run, on request.
#[derive(clap::Args, Clone)]
pub struct Stats {
    /// Write what the run did (plan and reconcile: per cluster group, changes by outcome;
    /// report and load-historical-usage: submissions and errors; with the Waldur requests
    /// and SLURM processes it took) as one JSON document to FILE.
    #[arg(long, value_name = "FILE")]
    pub stats_file: Option<PathBuf>,
}

impl Stats {
    fn write(&self, doc: &serde_json::Value) -> Result<()> {
        let Some(path) = &self.stats_file else {
            return Ok(());
        };
        // Values from Waldur and SLURM are in it: no terminal controls, even when paged.
        let text = doc.to_string();
        std::fs::write(path, format!("{}\n", escape::json(&text)))
            .with_context(|| format!("writing {}", path.display()))
    }
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Show what would change. Exit codes with --detailed-exitcode: 0 no changes, 1 error, 2 changes.
    Plan {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        sources: Sources,
        /// Print the plan as JSON (format documented in docs/plan-format.md).
        #[arg(long)]
        json: bool,
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        stats: Stats,
    },
    /// Apply the plan to SLURM, then plan again to verify. Exit 1 if anything is left.
    Reconcile {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        sources: Sources,
        /// Print the plan as a shell script and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply even if the plan deletes more than agent.max_deletions objects.
        #[arg(long)]
        allow_mass_delete: bool,
        /// Override agent.apply_mode (auto, per-change, batch, load).
        #[arg(long, value_parser = parse_mode)]
        apply_mode: Option<ApplyMode>,
        /// With --dry-run: 0 no changes, 1 error, 2 changes.
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        stats: Stats,
    },
    /// Print the JSON Schema of `plan --json`.
    PlanSchema,
    /// One account: what SLURM holds next to what Waldur expects, as a diff, and the
    /// commands that would fix it. Exit 0 in order (or not managed), 2 differs, 1 error.
    Diagnose {
        /// The SLURM account name.
        account: String,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        sources: Sources,
        #[command(flatten)]
        options: diagnose::Options,
    },
    /// Check that the agent can work here: config valid, Waldur reachable with a valid
    /// token, SLURM reachable with the cluster, TRES, QoS and accounts the config names.
    /// One line per check; exit 0 when none failed, 1 otherwise.
    Check {
        #[command(flatten)]
        target: Target,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make the home directory (and its quota) of every OK offering user of the offerings
    /// with home directories enabled; only absent homes are made, nothing else changes.
    CreateHomedirs {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        sources: Sources,
        /// Print the commands as a shell script and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Run as a daemon: reconcile every agent.cycle_interval, report usage every
    /// agent.report_interval, until SIGTERM or Ctrl-C.
    Run {
        #[command(flatten)]
        target: Target,
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
        target: Target,
        /// Print what would be submitted and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the per-resource results as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        stats: Stats,
    },
    /// Fill past months' usage in Waldur from sacct (one sacct call per month).
    LoadHistoricalUsage {
        #[command(flatten)]
        target: Target,
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
        #[command(flatten)]
        stats: Stats,
    },
}

fn parse_mode(text: &str) -> Result<ApplyMode, String> {
    text.parse()
}

impl Cmd {
    /// The daemon's log is its output; one-shot commands print results and log only
    /// trouble.
    pub fn default_log_level(&self) -> &'static str {
        if matches!(self, Cmd::Run { .. }) {
            "info"
        } else {
            "warn"
        }
    }
}

/// Sets the log level (a tracing filter) once the config is read.
pub type SetLevel<'a> = &'a (dyn Fn(&str) + Sync);

pub async fn run(cli: Cli, set_level: SetLevel<'_>) -> Result<ExitCode> {
    match cli.command {
        Cmd::PlanSchema => {
            println!("{}", agent_reconcile::plan::json_schema());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Plan {
            target,
            sources,
            json,
            detailed_exitcode,
            stats,
        } => {
            let format = if json {
                plan::Format::Json
            } else {
                plan::Format::Text
            };
            plan::plan(&target, &sources, format, detailed_exitcode, &stats).await
        }
        Cmd::Reconcile {
            target,
            sources,
            dry_run: true,
            detailed_exitcode,
            stats,
            ..
        } => {
            plan::plan(
                &target,
                &sources,
                plan::Format::Script,
                detailed_exitcode,
                &stats,
            )
            .await
        }
        Cmd::Reconcile {
            target,
            sources,
            allow_mass_delete,
            apply_mode,
            stats,
            ..
        } => reconcile::reconcile(&target, &sources, allow_mass_delete, apply_mode, &stats).await,
        Cmd::Diagnose {
            account,
            target,
            sources,
            options,
        } => diagnose::diagnose(&account, &target, &sources, &options).await,
        Cmd::Check { target, json } => check::check(&target, json).await,
        Cmd::CreateHomedirs {
            target,
            sources,
            dry_run,
        } => homedirs::create_homedirs(&target, &sources, dry_run).await,
        Cmd::Run {
            target,
            once,
            allow_mass_delete,
        } => run::run(&target, once, allow_mass_delete, set_level).await,
        Cmd::Report {
            target,
            dry_run,
            json,
            stats,
        } => usage::report(&target, dry_run, json, &stats).await,
        Cmd::LoadHistoricalUsage {
            target,
            start_date,
            end_date,
            resources,
            skip_user_usage,
            no_staff_check,
            dry_run,
            json,
            stats,
        } => {
            let args = usage::HistoryArgs {
                start_date,
                end_date,
                resources,
                skip_user_usage,
                staff_check: !no_staff_check,
                dry_run,
                json,
            };
            usage::load_history(&target, &args, &stats).await
        }
    }
}

/// Prints the read failures of a pass; the offering sat the pass out.
fn print_read_failures(pass: &Pass) {
    for g in &pass.groups {
        for f in &g.read_failures {
            eprintln!(
                "error: {}; this offering is left out of the cycle (nothing of it is changed or deleted)",
                Esc(f)
            );
        }
    }
}
