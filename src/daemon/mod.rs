//! `agent run`: the long-running controller.
//!
//! Every `cycle_interval` it reconciles every selected cluster group (and plans it
//! again to verify); a wake-up ("offering X changed", sent by the event listener) reconciles the
//! groups of the offerings named, after a short debounce so a burst of wake-ups is one
//! pass — or, when a wake-up names one project, resource or order, only that part of the
//! offering (see [`wake`]); a pass that left a retryable failure (database busy, Waldur 5xx, an unreadable
//! offering) is requeued for those groups with exponential backoff instead of waiting a
//! whole interval. Every `report_interval` it submits usage. After each round it writes
//! the time to the heartbeat file. A shutdown stops it between rounds, never in the
//! middle of an apply.
//!
//! Everything it depends on is passed in (sides, clock, shutdown, wake-ups, an observer
//! of each pass and of the loop's signs of life), so an in-process test runs many cycles
//! in milliseconds on a paused tokio clock.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use agent_config::{ApplyMode, Config};
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::time::Instant;

mod wake;

use wake::Scope;
pub use wake::{wake_channel, Wake, WakeHandle, Wakes};

use crate::cycle::{self, Pass, PassOptions};
use crate::groups::{self, Group};
use crate::sides::Sides;
use crate::state::StateDir;

/// Wall-clock time: which billing month it is, what the heartbeat says.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Sees what the loop does: every pass (logs, metrics, the status page) and its signs of
/// life (liveness, the systemd watchdog). Any `Fn(&Pass)` closure observes passes only.
pub trait Observer: Sync {
    fn pass(&self, pass: &Pass);
    /// Work starts: a pass or a usage report.
    fn busy(&self) {}
    /// A change of the running pass finished (applied or not): the pass is moving.
    fn step(&self) {}
    /// The loop sleeps until `until`, unless woken earlier.
    fn idle(&self, _until: Instant) {}
}

impl<F: Fn(&Pass) + Sync> Observer for F {
    fn pass(&self, pass: &Pass) {
        self(pass)
    }
}

/// How the loop is paced and what it may do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cycle_interval: Duration,
    pub report_interval: Duration,
    pub heartbeat_file: Option<std::path::PathBuf>,
    pub apply_mode: ApplyMode,
    pub allow_mass_delete: bool,
    /// `--offering`: only these groups.
    pub selection: Option<String>,
    /// Wake-ups arriving within this window are one pass.
    pub debounce: Duration,
    /// First requeue delay after a retryable failure; doubles up to `cycle_interval`.
    pub requeue_after: Duration,
    /// Submit usage every `report_interval`.
    pub report_usage: bool,
    /// One round, then stop.
    pub once: bool,
    /// Plan again after applying (as `agent reconcile` does), so each report says what is
    /// still pending; a pass with nothing to apply plans once either way.
    pub verify: bool,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        let a = &config.agent;
        Settings {
            cycle_interval: a.cycle_interval,
            report_interval: a.report_interval,
            heartbeat_file: a.heartbeat_file.clone(),
            apply_mode: a.apply_mode,
            allow_mass_delete: false,
            selection: None,
            debounce: Duration::from_millis(50),
            requeue_after: Duration::from_secs(10),
            report_usage: true,
            once: false,
            verify: true,
        }
    }
}

/// What the daemon did when it stopped.
#[derive(Debug, Clone, Default)]
pub struct Exit {
    pub passes: usize,
    /// Problems left by the last round.
    pub last_problems: usize,
}

/// Everything a daemon run works with.
pub struct Daemon<'a> {
    pub config: &'a Config,
    pub sides: &'a Sides,
    pub clock: &'a dyn Clock,
    pub settings: Settings,
    /// Sees every pass (logs, metrics, status page) and the loop's signs of life.
    pub observer: &'a dyn Observer,
    /// The size of each read is kept here (see [`crate::state`]).
    pub state: Option<&'a StateDir>,
}

impl Daemon<'_> {
    /// Runs until `shutdown` completes (or after one round with `once`).
    pub async fn run<S>(&self, shutdown: S, mut wakes: Wakes) -> Exit
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, mut stop) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let s = &self.settings;
        let mut exit = Exit::default();
        let now = Instant::now();
        let mut next_full = now;
        let mut next_report = now;
        let mut retry: Option<(Instant, Scope)> = None;
        let mut delay = s.requeue_after;
        let mut pending: Option<Scope> = None;
        loop {
            let now = Instant::now();
            let scope = if now >= next_full {
                next_full = now + s.cycle_interval;
                retry = None;
                pending = None;
                Some(Scope::All)
            } else if let Some(p) = pending.take() {
                Some(p)
            } else if retry.as_ref().is_some_and(|(at, _)| now >= *at) {
                retry.take().map(|(_, scope)| scope)
            } else {
                None
            };
            if let Some(scope) = scope {
                self.observer.busy();
                let pass = self.pass(&scope).await;
                exit.passes += 1;
                exit.last_problems = pass.problems(self.sides.waldur_writes.is_some());
                self.observer.pass(&pass);
                let again: BTreeSet<String> = pass
                    .groups
                    .iter()
                    .filter(|r| r.retry_soon())
                    .flat_map(|r| r.offerings.iter().cloned())
                    .collect();
                if again.is_empty() {
                    delay = s.requeue_after;
                } else {
                    let at = Instant::now() + delay;
                    tracing::info!(
                        ?delay,
                        groups = again.len(),
                        "retryable failures; trying again sooner"
                    );
                    retry = Some((at.min(next_full), Scope::offerings(again)));
                    delay = (delay * 2).min(s.cycle_interval);
                }
            }
            if s.report_usage && Instant::now() >= next_report && !*stop.borrow() {
                self.observer.busy();
                match crate::usage::submit_in_background(self.config, self.clock.now()).await {
                    Ok(errors) => exit.last_problems += errors,
                    Err(e) => {
                        tracing::error!("usage report failed: {e:#}");
                        exit.last_problems += 1;
                    }
                }
                next_report = Instant::now() + s.report_interval;
            }
            heartbeat(s.heartbeat_file.as_deref(), self.clock.now());
            if s.once || *stop.borrow() {
                break;
            }
            let mut wake_at = next_full.min(next_report);
            if !s.report_usage {
                wake_at = next_full;
            }
            if let Some((at, _)) = &retry {
                wake_at = wake_at.min(*at);
            }
            self.observer.idle(wake_at);
            tokio::select! {
                _ = tokio::time::sleep_until(wake_at) => {}
                _ = stop.changed() => {}
                Some(wake) = wakes.recv() => {
                    let mut scope = Scope::default();
                    scope.add(wake);
                    // A burst of wake-ups is one pass.
                    let until = Instant::now() + s.debounce;
                    while let Ok(Some(w)) = tokio::time::timeout_at(until, wakes.recv()).await {
                        scope.add(w);
                    }
                    pending = Some(scope);
                }
            }
            if *stop.borrow() {
                break;
            }
        }
        exit
    }

    async fn pass(&self, scope: &Scope) -> Pass {
        let groups: Vec<Group> =
            match groups::groups(self.config, self.settings.selection.as_deref()) {
                Ok(g) => g.into_iter().filter(|g| scope.covers(g)).collect(),
                Err(e) => {
                    tracing::error!("{e:#}");
                    Vec::new()
                }
            };
        let groups = scope.narrow(groups, self.sides).await;
        let observer = self.observer;
        let step = move |_: usize, _: usize| observer.step();
        let options = PassOptions {
            apply: true,
            mode: self.settings.apply_mode,
            allow_mass_delete: self.settings.allow_mass_delete,
            verify: self.settings.verify,
            progress: Some(&step),
            state: self.state,
        };
        cycle::reconcile(self.config, self.sides, &groups, &options).await
    }
}

fn heartbeat(path: Option<&Path>, now: Timestamp) {
    let Some(path) = path else { return };
    if let Err(e) = std::fs::write(path, format!("{}\n", now.as_second())) {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the heartbeat file");
    }
}
