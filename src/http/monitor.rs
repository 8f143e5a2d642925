//! What the daemon's HTTP endpoints show, kept as the daemon goes: it is the daemon's
//! [`Observer`], so every value comes from a pass's [`GroupReport`]s and the loop's
//! signs of life, never from log text. Per cluster group it keeps the last cycle (when,
//! how long, outcome), the last success, what is pending (the plan made after applying,
//! rendered as `agent plan` renders it) and the last changes applied with their
//! outcomes; and the settings shown on the status page (never the token).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use agent_reconcile::{escape, render};
use jiff::Timestamp;
use tokio::time::Instant;

use super::metrics::Metrics;
use crate::cycle::{GroupReport, Pass};
use crate::daemon::{Clock, Observer};
use crate::executor::Status;

/// How a group's last cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleResult {
    /// Planned (and applied): nothing left.
    InStep,
    /// Planned and applied, but changes failed or are still pending.
    Pending,
    /// An offering could not be read from Waldur (it sat the cycle out).
    WaldurUnreadable,
    /// The group could not be planned (SLURM unreadable, an implausible read).
    Error,
    /// The pass was refused (mass deletion); nothing was applied.
    Refused,
}

impl CycleResult {
    /// The `result` label of the cycle metrics, and the status page's badge.
    pub fn name(self) -> &'static str {
        match self {
            CycleResult::InStep => "in_step",
            CycleResult::Pending => "pending",
            CycleResult::WaldurUnreadable => "waldur_unreadable",
            CycleResult::Error => "error",
            CycleResult::Refused => "refused",
        }
    }

    /// A cycle that read both sides and did its work (failed changes are data problems,
    /// reported as such, not a daemon that cannot work).
    pub fn succeeded(self) -> bool {
        matches!(self, CycleResult::InStep | CycleResult::Pending)
    }

    pub fn of(report: &GroupReport, refused: bool) -> Self {
        if report.error.is_some() {
            CycleResult::Error
        } else if !report.read_failures.is_empty() {
            CycleResult::WaldurUnreadable
        } else if refused && report.plan.as_ref().is_some_and(|p| !p.is_empty()) {
            CycleResult::Refused
        } else if report.left > 0 || report.outcome.as_ref().is_some_and(|o| o.failed() > 0) {
            CycleResult::Pending
        } else {
            CycleResult::InStep
        }
    }
}

/// One change's outcome as shown.
#[derive(Debug, Clone)]
pub struct Applied {
    pub address: String,
    /// `applied`, `failed (retryable)`, `skipped`.
    pub outcome: String,
    pub message: String,
}

/// A group's last cycle.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub at: Timestamp,
    pub instant: Instant,
    pub took: Duration,
    pub result: CycleResult,
    /// The group error, the read failures, the refusal.
    pub errors: Vec<String>,
    pub waldur_requests: u64,
    pub processes: BTreeMap<String, u64>,
}

/// What is known of one cluster group.
#[derive(Debug, Clone, Default)]
pub struct GroupState {
    pub cluster: String,
    pub offerings: Vec<String>,
    pub last: Option<Cycle>,
    pub last_success: Option<(Timestamp, Instant)>,
    /// What the next cycle will do, rendered as `agent plan` does, and its size.
    pub pending: Option<(String, usize)>,
    /// The last changes applied (from the last cycle that applied any), and when.
    pub applied: Option<(Timestamp, Vec<Applied>)>,
}

/// The loop's last sign of life.
#[derive(Debug, Clone, Copy)]
pub enum Beat {
    /// Nothing yet (the first pass has not started).
    Starting(Instant),
    /// A pass or a report runs; the last change finished then.
    Busy(Instant),
    /// Sleeping until then.
    Idle(Instant),
}

/// Settings as the status page shows them: name, value (never the token).
pub type Shown = Vec<(String, String)>;

/// The endpoints' shared state.
pub struct Monitor {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    pub metrics: Metrics,
}

/// Everything behind the lock.
#[derive(Debug, Clone)]
pub struct State {
    /// By group key (the offering UUIDs joined), in configured order.
    pub groups: Vec<(String, GroupState)>,
    pub beat: Beat,
    pub cycle_interval: Duration,
    /// How long a pass may go without finishing a change before the loop counts as hung.
    pub step_limit: Duration,
    pub settings: Shown,
    /// Offering UUID to whether its event stream is connected (set by the event listener).
    pub stomp: BTreeMap<String, bool>,
    /// The last pass refused to apply, and why (escaped).
    pub refused: Option<String>,
    pub passes: u64,
}

/// The key of a group: its offerings.
pub fn group_key(offerings: &[String]) -> String {
    offerings.join(",")
}

impl Monitor {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Monitor {
            clock,
            state: Mutex::new(State {
                groups: Vec::new(),
                beat: Beat::Starting(Instant::now()),
                cycle_interval: Duration::from_secs(300),
                step_limit: Duration::from_secs(600),
                settings: Vec::new(),
                stomp: BTreeMap::new(),
                refused: None,
                passes: 0,
            }),
            metrics: Metrics::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the state, for one answer.
    pub fn snapshot(&self) -> State {
        self.lock().clone()
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The groups and settings of a (re)loaded config: groups no longer configured are
    /// dropped, the others keep what is known of them.
    pub fn configure(
        &self,
        groups: &[(String, Vec<String>)],
        cycle_interval: Duration,
        settings: Shown,
    ) {
        let mut s = self.lock();
        let mut old: BTreeMap<String, GroupState> = s.groups.drain(..).collect();
        for (cluster, offerings) in groups {
            let key = group_key(offerings);
            let mut g = old.remove(&key).unwrap_or_default();
            g.cluster.clone_from(cluster);
            g.offerings.clone_from(offerings);
            s.groups.push((key, g));
        }
        s.cycle_interval = cycle_interval;
        // A long apply finishes a change at least every command timeout; a read of a
        // slow Waldur takes a while too. Twice the interval, and never under 10 minutes.
        s.step_limit = (2 * cycle_interval).max(Duration::from_secs(600));
        s.settings = settings;
    }

    /// The event listener's hook: whether `offering`'s event stream is connected.
    pub fn set_stomp(&self, offering: &str, connected: bool) {
        self.lock().stomp.insert(offering.to_string(), connected);
        self.metrics.stomp(offering, connected);
    }

    /// A reload was accepted or refused.
    pub fn reloaded(&self, ok: bool) {
        self.metrics.reload(ok);
    }

    fn record(&self, report: &GroupReport, refused: bool) {
        let now = self.clock.now();
        let instant = Instant::now();
        let result = CycleResult::of(report, refused);
        let d = report.durations;
        let took = d.plan + d.apply + d.verify;
        let mut errors: Vec<String> = report.error.iter().cloned().collect();
        errors.extend(report.read_failures.iter().cloned());
        let mut s = self.lock();
        if result == CycleResult::Refused {
            errors.extend(s.refused.clone());
        }
        // Shown on a page and in JSON: escaped once, here.
        let errors = errors
            .iter()
            .map(|e| escape::text(e).into_owned())
            .collect();
        let key = group_key(&report.offerings);
        let at = match s.groups.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                s.groups.push((key, GroupState::default()));
                s.groups.len() - 1
            }
        };
        let g = &mut s.groups[at].1;
        g.cluster.clone_from(&report.cluster);
        g.offerings.clone_from(&report.offerings);
        g.last = Some(Cycle {
            at: now,
            instant,
            took,
            result,
            errors,
            waldur_requests: report.counts.waldur_requests,
            processes: report.counts.processes.clone(),
        });
        if result.succeeded() {
            g.last_success = Some((now, instant));
        }
        if let Some(plan) = report.verified.as_ref().or(report.plan.as_ref()) {
            g.pending = Some((render::text(plan), report.left));
        }
        if let Some(outcome) = report.outcome.as_ref().filter(|o| !o.statuses.is_empty()) {
            let rows = outcome
                .statuses
                .iter()
                .map(|(address, status)| {
                    let (outcome, message) = match status {
                        Status::Applied => ("applied".to_string(), String::new()),
                        Status::Failed { class, message } => {
                            (format!("failed ({class})"), message.clone())
                        }
                        Status::Skipped { because } => ("skipped".to_string(), because.clone()),
                    };
                    Applied {
                        address: escape::text(&address.to_string()).into_owned(),
                        outcome,
                        message: escape::text(&message).into_owned(),
                    }
                })
                .collect();
            g.applied = Some((now, rows));
        }
        drop(s);
        self.metrics.cycle(report, result, now);
    }

    fn beat(&self, beat: Beat) {
        self.lock().beat = beat;
    }
}

impl Observer for Monitor {
    fn pass(&self, pass: &Pass) {
        {
            let mut s = self.lock();
            s.refused = pass
                .refused
                .as_deref()
                .map(|r| escape::text(r).into_owned());
            s.passes += 1;
        }
        for g in &pass.groups {
            self.record(g, pass.refused.is_some());
        }
        self.beat(Beat::Busy(Instant::now()));
    }

    fn busy(&self) {
        self.beat(Beat::Busy(Instant::now()));
    }

    fn step(&self) {
        self.beat(Beat::Busy(Instant::now()));
    }

    fn idle(&self, until: Instant) {
        self.beat(Beat::Idle(until));
    }
}

/// The settings the status page shows: the daemon's pacing and limits, and per offering
/// where it points (the Waldur URL without credentials; never the token).
pub fn shown(config: &agent_config::Config, path: &std::path::Path) -> Shown {
    let a = &config.agent;
    let d = |d: Duration| humantime::format_duration(d).to_string();
    let mut out: Shown = vec![
        ("config file".into(), path.display().to_string()),
        ("agent.cycle_interval".into(), d(a.cycle_interval)),
        ("agent.report_interval".into(), d(a.report_interval)),
        (
            "agent.apply_mode".into(),
            match a.apply_mode {
                agent_config::ApplyMode::Auto => "auto",
                agent_config::ApplyMode::PerChange => "per-change",
                agent_config::ApplyMode::Batch => "batch",
                agent_config::ApplyMode::Load => "load",
            }
            .into(),
        ),
        ("agent.max_deletions".into(), a.max_deletions.to_string()),
        ("agent.cancel_jobs".into(), a.cancel_jobs.to_string()),
        ("agent.command_timeout".into(), d(a.command_timeout)),
        ("agent.http_timeout".into(), d(a.http_timeout)),
        ("agent.http_attempts".into(), a.http_attempts.to_string()),
        ("agent.state_dir".into(), a.state_dir.display().to_string()),
        (
            "agent.heartbeat_file".into(),
            a.heartbeat_file
                .as_ref()
                .map_or("(none)".into(), |p| p.display().to_string()),
        ),
        (
            "agent.http_listen".into(),
            a.http_listen.map_or("off".into(), |l| l.to_string()),
        ),
        ("log_level".into(), config.log_level.clone()),
        ("timezone".into(), config.timezone.clone()),
    ];
    for o in &config.offerings {
        let s = &o.slurm;
        let flags: Vec<&str> = [
            (o.order_processing, "orders"),
            (o.membership_sync, "membership"),
            (o.reporting, "usage reporting"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        out.push((
            format!("offering {}", o.name),
            format!(
                "{} at {}; cluster {}; sacctmgr from {}; QoS default {}; does {}",
                o.uuid,
                agent_desired::client::redact_url(&o.api_url),
                s.cluster_name.as_deref().unwrap_or("(default)"),
                if s.slurm_bin_path.is_empty() {
                    "PATH"
                } else {
                    &s.slurm_bin_path
                },
                s.qos_default,
                if flags.is_empty() {
                    "nothing".to_string()
                } else {
                    flags.join(", ")
                },
            ),
        ));
    }
    out
}
