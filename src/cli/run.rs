//! `agent run`: the daemon on the live systems as a service: stopped by SIGTERM or
//! Ctrl-C, reloaded by SIGHUP, logging every pass, serving its endpoints; with
//! `stomp_enabled`, event listeners wake it (neither endpoints nor events with `--once`).

use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Result;
use waldur_slurm_agent::cycle::Pass;
use waldur_slurm_agent::daemon::{self, SystemClock};
use waldur_slurm_agent::events;
use waldur_slurm_agent::executor::Status;
use waldur_slurm_agent::http::{self, Monitor};
use waldur_slurm_agent::notify::Notifier;
use waldur_slurm_agent::service::{Control, Service};
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
    let monitor = Arc::new(Monitor::new(Arc::new(SystemClock)));
    // Bound before the first cycle, so a taken port fails the start, not later.
    let (server_stop, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = match inv.config.agent.http_listen.filter(|_| !once) {
        Some(addr) => {
            let listener = http::bind(addr).await?;
            let at = listener.local_addr()?;
            tracing::info!(
                "serving the status page, /metrics, /healthz and /readyz on http://{at}/"
            );
            let m = monitor.clone();
            Some(tokio::spawn(http::serve(listener, m, async {
                let _ = server_stopped.await;
            })))
        }
        None => None,
    };
    let (control_tx, control) = tokio::sync::mpsc::unbounded_channel();
    let signals = tokio::spawn(forward_signals(control_tx));
    let service = Service {
        config_path: target.config.clone(),
        selection: target.offering.clone(),
        once,
        allow_mass_delete,
        monitor: monitor.clone(),
        notifier: Notifier::from_env(),
        log: &log_pass,
        clock: &SystemClock,
        tune: &|_| {},
    };
    let (wake, wakes) = daemon::wake_channel();
    // Event listeners wake the daemon; they never stop it, and end with it. They keep the
    // event settings of the file they started with (a reload does not restart them).
    let listeners = match &inv.clients {
        Some(clients) if !once => {
            let m = monitor.clone();
            let on_stream: events::OnStream =
                Arc::new(move |offering: &str, up: bool| m.set_stomp(offering, up));
            events::spawn(
                &inv.config,
                target.offering.as_deref(),
                clients,
                &wake,
                on_stream,
            )
        }
        _ => Vec::new(),
    };
    let exit = service.run(inv, control, wakes).await;
    for l in listeners {
        l.abort();
    }
    signals.abort();
    let _ = server_stop.send(());
    if let Some(server) = server {
        let _ = server.await;
    }
    let exit = exit?;
    Ok(if once && exit.last_problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// SIGHUP asks for a reload; SIGTERM or Ctrl-C for a stop.
async fn forward_signals(control: tokio::sync::mpsc::UnboundedSender<Control>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("cannot listen for SIGTERM/SIGHUP; only Ctrl-C stops the daemon");
        let _ = tokio::signal::ctrl_c().await;
        let _ = control.send(Control::Stop);
        return;
    };
    loop {
        let c = tokio::select! {
            _ = tokio::signal::ctrl_c() => Control::Stop,
            _ = term.recv() => Control::Stop,
            _ = hup.recv() => Control::Reload,
        };
        match c {
            Control::Stop => tracing::info!("stop requested; finishing the current round"),
            Control::Reload => tracing::info!("SIGHUP: reloading the configuration"),
        }
        if control.send(c).is_err() || c == Control::Stop {
            return;
        }
    }
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
        waldur_requests = counts.waldur_requests,
        processes = ?counts.processes,
        scoped = pass.groups.iter().any(|g| g.scoped),
        "round finished"
    );
}
