//! `agent run`: the daemon on the live systems, stopped by SIGTERM or Ctrl-C, logging
//! every pass; with `stomp_enabled`, event listeners wake it (not with `--once`).

use std::process::ExitCode;

use anyhow::Result;
use waldur_slurm_agent::cycle::Pass;
use waldur_slurm_agent::daemon::{self, Daemon, Settings, SystemClock};
use waldur_slurm_agent::events;
use waldur_slurm_agent::executor::Status;
use waldur_slurm_agent::settings::{Invocation, SourceArgs};

use super::{SetLevel, Target};

/// The Python agent's level names as tracing filters.
fn tracing_level(level: &str) -> &'static str {
    match level.to_ascii_uppercase().as_str() {
        "DEBUG" => "debug",
        "WARNING" => "warn",
        "ERROR" | "CRITICAL" => "error",
        _ => "info",
    }
}

pub async fn run(
    target: &Target,
    once: bool,
    allow_mass_delete: bool,
    set_level: SetLevel<'_>,
) -> Result<ExitCode> {
    let inv = Invocation::load(
        &target.config,
        target.offering.clone(),
        &SourceArgs::default(),
    )?;
    set_level(tracing_level(&inv.config.log_level));
    let settings = Settings {
        allow_mass_delete,
        selection: target.offering.clone(),
        once,
        ..Settings::from_config(&inv.config)
    };
    let groups = inv.groups()?;
    let _locks = inv.lock(&groups)?;
    let state = inv.state_dir();
    let sides = inv.sides.clone();
    let observer = |pass: &Pass| log_pass(pass, &sides);
    let d = Daemon {
        config: &inv.config,
        sides: &inv.sides,
        clock: &SystemClock,
        settings,
        observer: &observer,
        state: Some(&state),
    };
    let (wake, wakes) = daemon::wake_channel();
    // Event listeners wake the daemon; they never stop it, and end with it.
    let listeners = match &inv.clients {
        Some(clients) if !once => {
            events::spawn(&inv.config, target.offering.as_deref(), clients, &wake)
        }
        _ => Vec::new(),
    };
    let exit = d.run(stop_signal(), wakes).await;
    for l in listeners {
        l.abort();
    }
    Ok(if once && exit.last_problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// SIGTERM or Ctrl-C.
async fn stop_signal() {
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
}

fn log_pass(pass: &Pass, sides: &waldur_slurm_agent::sides::Sides) {
    if let Some(why) = &pass.refused {
        tracing::error!("plan refused: {why}; run `agent reconcile --allow-mass-delete` once");
    }
    for g in &pass.groups {
        for f in &g.read_failures {
            tracing::error!("{f}; this offering is left out of the cycle");
        }
        if let Some(e) = &g.error {
            tracing::error!(cluster = %g.cluster, "cycle skipped: {e}");
        }
        let Some(outcome) = &g.outcome else {
            if g.plan.as_ref().is_some_and(|p| p.is_empty()) {
                tracing::info!(cluster = %g.cluster, "in step, nothing to do");
            }
            continue;
        };
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
        tracing::info!(
            cluster = %g.cluster,
            changes = outcome.statuses.len(),
            not_applied = outcome.failed(),
            elapsed = ?g.durations.apply,
            "applied plan"
        );
    }
    let counts = sides.counts();
    tracing::info!(
        scoped = pass.groups.iter().any(|g| g.scoped),
        waldur_requests = counts.waldur_requests,
        processes = ?counts.processes,
        "round finished"
    );
}
