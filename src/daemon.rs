//! `agent run`: the long-running controller. Every `cycle_interval` it reconciles each
//! cluster group (read both sides, plan, apply; the next cycle verifies), every
//! `report_interval` it reports usage, and after each round it touches the heartbeat
//! file. SIGTERM or Ctrl-C stops it between rounds, never in the middle of an apply.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent_observed::Runner;
use anyhow::Result;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cycle::{self, Inputs};
use crate::executor::Status;
use crate::sources;

pub struct RunArgs {
    pub offering: Option<String>,
    pub once: bool,
    pub allow_mass_delete: bool,
}

/// Set when a stop signal arrives; the loop finishes its round first.
struct Stop {
    requested: AtomicBool,
    wake: Notify,
}

fn listen_for_stop() -> Arc<Stop> {
    let stop = Arc::new(Stop {
        requested: AtomicBool::new(false),
        wake: Notify::new(),
    });
    let s = stop.clone();
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut sig) => {
                    sig.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
        tracing::info!("stop requested; finishing the current round");
        s.requested.store(true, Ordering::SeqCst);
        s.wake.notify_one();
    });
    stop
}

/// One reconcile round over every group; returns the number of changes not applied.
async fn reconcile_round(inputs: &Inputs<'_>, args: &RunArgs) -> usize {
    let groups = match sources::groups(inputs.config, args.offering.as_deref()) {
        Ok(g) => g,
        Err(e) => {
            tracing::error!("{e:#}");
            return 1;
        }
    };
    let mut bad = 0;
    for group in groups {
        let planned = match cycle::plan_group(&group, inputs).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(cluster = %group.target.cluster.as_deref().unwrap_or("-"), "cycle skipped: {e:#}");
                bad += 1;
                continue;
            }
        };
        for f in &planned.failures {
            tracing::error!("{f:#}; this offering is left out of the cycle");
            bad += 1;
        }
        let plan = &planned.plan;
        let max = inputs.config.agent.max_deletions;
        if plan.deletions() > max && !args.allow_mass_delete {
            tracing::error!(
                cluster = %plan.cluster,
                deletions = plan.deletions(),
                "plan refused: more deletions than agent.max_deletions ({max}); review with `agent plan` and run `agent reconcile --allow-mass-delete` once"
            );
            bad += 1;
            continue;
        }
        if plan.is_empty() {
            tracing::info!(cluster = %plan.cluster, "in step, nothing to do");
            continue;
        }
        let mode = inputs.config.agent.apply_mode;
        let started = std::time::Instant::now();
        let outcome = cycle::apply_group(&group, inputs, plan, mode, None).await;
        for (address, status) in &outcome.statuses {
            match status {
                Status::Applied => tracing::info!(change = %address, "applied"),
                Status::Failed { class, message } => {
                    tracing::warn!(change = %address, %class, %message, "failed")
                }
                Status::Skipped { because } => {
                    tracing::warn!(change = %address, %because, "skipped")
                }
            }
        }
        bad += outcome.failed();
        tracing::info!(
            cluster = %plan.cluster,
            changes = plan.changes.len(),
            not_applied = outcome.failed(),
            elapsed = ?started.elapsed(),
            "applied plan"
        );
    }
    bad
}

fn heartbeat(path: Option<&std::path::Path>) {
    let Some(path) = path else { return };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if let Err(e) = std::fs::write(path, format!("{now}\n")) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the heartbeat file");
    }
}

pub async fn run(l: &crate::Loaded, args: RunArgs) -> Result<ExitCode> {
    let stop = listen_for_stop();
    let runner = Runner::new(l.config.agent.command_timeout);
    let inputs = l.inputs(&runner);
    let agent = &l.config.agent;
    let mut next_reconcile = Instant::now();
    let mut next_report = Instant::now();
    let mut last_bad = 0;
    loop {
        let now = Instant::now();
        if now >= next_reconcile {
            last_bad = reconcile_round(&inputs, &args).await;
            next_reconcile = Instant::now() + agent.cycle_interval;
        }
        if now >= next_report && !stop.requested.load(Ordering::SeqCst) {
            match crate::usage::report_in_background(&l.config).await {
                Ok(errors) => last_bad += errors,
                Err(e) => {
                    tracing::error!("usage report failed: {e:#}");
                    last_bad += 1;
                }
            }
            next_report = Instant::now() + agent.report_interval;
        }
        heartbeat(agent.heartbeat_file.as_deref());
        tracing::info!(
            waldur_requests = l.waldur.clients().map_or(0, |c| c.request_count()),
            processes = ?runner.counts(),
            "round finished"
        );
        if args.once || stop.requested.load(Ordering::SeqCst) {
            break;
        }
        let wake = next_reconcile.min(next_report);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = stop.wake.notified() => {}
        }
        if stop.requested.load(Ordering::SeqCst) {
            break;
        }
        // Keep a floor between rounds so a tiny interval cannot spin.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(if args.once && last_bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
