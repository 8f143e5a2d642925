//! `/metrics`: the daemon's counters and gauges in the Prometheus (OpenMetrics) text
//! format, every name prefixed `waldur_slurm_agent_`. They are fed from each pass's
//! [`GroupReport`] (the request counts there are the Waldur client's own, see
//! `agent_desired::client::stats`), never from log text; README lists them.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use agent_desired::client::stats::LATENCY_BOUNDS;
use agent_desired::client::RequestStats;
use agent_reconcile::plan::Action;
use jiff::Timestamp;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::monitor::CycleResult;
use crate::cycle::GroupReport;
use crate::executor::Status;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Cycle durations: a converged cycle takes under a second, a first sync many minutes.
#[derive(Clone)]
struct CycleBuckets;

impl MetricConstructor<Histogram> for CycleBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new([
            0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
        ])
    }
}

/// The Waldur request latency histogram, kept as the client counts it (fixed buckets),
/// summed over the cycles seen.
#[derive(Debug, Default, Clone)]
struct Latency(Arc<Mutex<RequestStats>>);

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(s.buckets)
            .collect();
        let count = s.buckets.iter().sum();
        encoder.encode_histogram::<NoLabelSet>(s.total_micros as f64 / 1e6, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Every metric the daemon serves.
pub struct Metrics {
    registry: Registry,
    cycles: Family<Labels, Counter>,
    cycle_seconds: Family<Labels, Histogram, CycleBuckets>,
    step_seconds: Family<Labels, FloatGauge>,
    changes: Family<Labels, Counter>,
    drift_found: Family<Labels, Counter>,
    drift: Family<Labels, Gauge>,
    pending: Family<Labels, Gauge>,
    cycle_processes: Family<Labels, Gauge>,
    processes: Family<Labels, Counter>,
    cycle_requests: Family<Labels, Gauge>,
    requests: Family<Labels, Counter>,
    errors: Family<Labels, Counter>,
    latency: Latency,
    last_cycle: Family<Labels, FloatGauge>,
    last_success: Family<Labels, FloatGauge>,
    stomp: Family<Labels, Gauge>,
    reloads: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("waldur_slurm_agent");
        let build: Family<Labels, Gauge> = Family::default();
        build
            .get_or_create(&labels(&[("version", env!("CARGO_PKG_VERSION"))]))
            .set(1);
        registry.register("build_info", "The agent's version (always 1)", build);
        let m = Metrics {
            cycles: Family::default(),
            cycle_seconds: Family::new_with_constructor(CycleBuckets),
            step_seconds: Family::default(),
            changes: Family::default(),
            drift_found: Family::default(),
            drift: Family::default(),
            pending: Family::default(),
            cycle_processes: Family::default(),
            processes: Family::default(),
            cycle_requests: Family::default(),
            requests: Family::default(),
            errors: Family::default(),
            latency: Latency::default(),
            last_cycle: Family::default(),
            last_success: Family::default(),
            stomp: Family::default(),
            reloads: Family::default(),
            registry,
        };
        let mut m = m;
        let r = &mut m.registry;
        r.register("cycles", "Reconcile cycles per cluster group, by result (in_step, pending, waldur_unreadable, error, refused)", m.cycles.clone());
        r.register(
            "cycle_duration_seconds",
            "Wall time of a cycle (plan, apply, verify) per cluster group",
            m.cycle_seconds.clone(),
        );
        r.register(
            "last_cycle_step_seconds",
            "Wall time of each step (plan, apply, verify) of the last cycle",
            m.step_seconds.clone(),
        );
        r.register("changes", "Changes by action (create, update, delete, call) and outcome (applied, failed_retryable, failed_blocked, failed_fatal, skipped)", m.changes.clone());
        r.register(
            "drift_found",
            "Changes planned to undo drift (SLURM changed outside the agent)",
            m.drift_found.clone(),
        );
        r.register(
            "drift_changes",
            "Drift changes in the last cycle's plan",
            m.drift.clone(),
        );
        r.register(
            "pending_changes",
            "Changes and blocking errors still outstanding after the last cycle (0 = in step)",
            m.pending.clone(),
        );
        r.register(
            "cycle_slurm_processes",
            "SLURM processes (sacctmgr, scancel) the last cycle ran, by program",
            m.cycle_processes.clone(),
        );
        r.register(
            "slurm_processes",
            "SLURM processes run by cycles, by program",
            m.processes.clone(),
        );
        r.register(
            "cycle_waldur_requests",
            "Waldur requests the last cycle sent (retries included)",
            m.cycle_requests.clone(),
        );
        r.register("waldur_requests", "Waldur request attempts of cycles, by answer (HTTP status, or transport when none came)", m.requests.clone());
        r.register(
            "waldur_request_errors",
            "Waldur request attempts that failed, by answer (4xx, 5xx, transport)",
            m.errors.clone(),
        );
        r.register(
            "waldur_request_duration_seconds",
            "Latency of Waldur request attempts",
            m.latency.clone(),
        );
        r.register(
            "last_cycle_timestamp_seconds",
            "When the last cycle of a cluster group ended (Unix time)",
            m.last_cycle.clone(),
        );
        r.register(
            "last_successful_cycle_timestamp_seconds",
            "When a cycle of a cluster group last read both sides and did its work (Unix time)",
            m.last_success.clone(),
        );
        r.register(
            "stomp_connected",
            "Whether an offering's Waldur event stream (STOMP) is connected (1) or not (0)",
            m.stomp.clone(),
        );
        r.register(
            "config_reloads",
            "Configuration reloads (SIGHUP), by result (ok, refused)",
            m.reloads.clone(),
        );
        m
    }

    /// Records one group's cycle.
    pub fn cycle(&self, report: &GroupReport, result: CycleResult, now: Timestamp) {
        let cluster = report.cluster.as_str();
        let c = labels(&[("cluster", cluster)]);
        let d = report.durations;
        self.cycles
            .get_or_create(&labels(&[("cluster", cluster), ("result", result.name())]))
            .inc();
        self.cycle_seconds
            .get_or_create(&c)
            .observe((d.plan + d.apply + d.verify).as_secs_f64());
        for (step, took) in [("plan", d.plan), ("apply", d.apply), ("verify", d.verify)] {
            self.step_seconds
                .get_or_create(&labels(&[("cluster", cluster), ("step", step)]))
                .set(took.as_secs_f64());
        }
        if let (Some(plan), Some(outcome)) = (&report.plan, &report.outcome) {
            let actions: BTreeMap<String, Action> = plan
                .changes
                .iter()
                .map(|ch| (ch.address.to_string(), ch.action))
                .collect();
            for (address, status) in &outcome.statuses {
                let action = match actions.get(&address.to_string()) {
                    Some(Action::Create) => "create",
                    Some(Action::Update) => "update",
                    Some(Action::Delete) => "delete",
                    Some(Action::Call) | None => "call",
                };
                let outcome = match status {
                    Status::Applied => "applied".to_string(),
                    Status::Failed { class, .. } => format!("failed_{class}"),
                    Status::Skipped { .. } => "skipped".to_string(),
                };
                self.changes
                    .get_or_create(&labels(&[
                        ("cluster", cluster),
                        ("action", action),
                        ("outcome", &outcome),
                    ]))
                    .inc();
            }
        }
        if let Some(plan) = &report.plan {
            let drift = plan
                .changes
                .iter()
                .filter(|ch| ch.reasons.iter().any(|r| r.code == "drift"))
                .count() as u64;
            self.drift_found.get_or_create(&c).inc_by(drift);
            self.drift.get_or_create(&c).set(drift as i64);
        }
        if report.plan.is_some() {
            self.pending.get_or_create(&c).set(report.left as i64);
        }
        for (program, n) in &report.counts.processes {
            let l = labels(&[("cluster", cluster), ("program", program)]);
            self.cycle_processes.get_or_create(&l).set(*n as i64);
            self.processes.get_or_create(&l).inc_by(*n);
        }
        // Programs the last cycle did not run ran 0 times in it.
        for (l, g) in self.cycle_processes_of(cluster) {
            if !report.counts.processes.contains_key(&l) {
                g.set(0);
            }
        }
        let w = &report.counts.waldur;
        self.cycle_requests
            .get_or_create(&c)
            .set(report.counts.waldur_requests as i64);
        for (status, n) in &w.by_status {
            let l = labels(&[("status", status)]);
            self.requests.get_or_create(&l).inc_by(*n);
        }
        for (status, n) in w.errors() {
            self.errors
                .get_or_create(&labels(&[("status", &status)]))
                .inc_by(n);
        }
        {
            let mut total = self.latency.0.lock().unwrap_or_else(|e| e.into_inner());
            *total = total.plus(w);
        }
        let unix = now.as_millisecond() as f64 / 1000.0;
        self.last_cycle.get_or_create(&c).set(unix);
        if result.succeeded() {
            self.last_success.get_or_create(&c).set(unix);
        }
    }

    fn cycle_processes_of(&self, cluster: &str) -> Vec<(String, Gauge)> {
        ["sacctmgr", "scancel"]
            .into_iter()
            .map(|p| {
                let l = labels(&[("cluster", cluster), ("program", p)]);
                (
                    p.to_string(),
                    self.cycle_processes.get_or_create(&l).clone(),
                )
            })
            .collect()
    }

    pub fn stomp(&self, offering: &str, connected: bool) {
        self.stomp
            .get_or_create(&labels(&[("offering", offering)]))
            .set(i64::from(connected));
    }

    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        self.reloads
            .get_or_create(&labels(&[("result", result)]))
            .inc();
    }

    /// The text `/metrics` answers.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
