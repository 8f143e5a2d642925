//! `/healthz` (live: the loop is turning) and `/readyz` (ready: every group's last cycle
//! succeeded recently), each a verdict with a JSON body saying why. The systemd watchdog
//! is fed from the same liveness verdict.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::monitor::{Beat, State};

/// How late a sleeping loop may wake before it counts as stuck (a busy runtime, a
/// suspended machine catching up).
pub const WAKE_GRACE: Duration = Duration::from_secs(30);

/// A verdict and its reasons.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub ok: bool,
    pub body: Value,
}

fn ago(then: Instant, now: Instant) -> f64 {
    now.saturating_duration_since(then).as_secs_f64()
}

/// The loop is turning: asleep and not overdue, or working and finishing changes, or
/// still starting.
pub fn live(s: &State, now: Instant) -> Verdict {
    let (ok, body) = match s.beat {
        Beat::Starting(since) => {
            let ok = ago(since, now) <= s.step_limit.as_secs_f64();
            (
                ok,
                json!({"state": "starting", "seconds_since_start": ago(since, now)}),
            )
        }
        Beat::Busy(last) => {
            let ok = ago(last, now) <= s.step_limit.as_secs_f64();
            (
                ok,
                json!({"state": "busy", "seconds_since_last_step": ago(last, now),
                       "step_limit_seconds": s.step_limit.as_secs_f64()}),
            )
        }
        Beat::Idle(until) => {
            let late = ago(until, now);
            (
                late <= WAKE_GRACE.as_secs_f64(),
                json!({"state": "idle",
                       "seconds_to_next_wake": until.saturating_duration_since(now).as_secs_f64(),
                       "seconds_overdue": late}),
            )
        }
    };
    let mut body = body;
    body["live"] = json!(ok);
    body["passes"] = json!(s.passes);
    if !ok {
        body["why"] = json!("the daemon's loop has not moved for longer than allowed");
    }
    Verdict { ok, body }
}

/// Ready: every configured group's last cycle read both sides (SLURM and Waldur were
/// reachable) and did its work (a refused plan did not), within twice `cycle_interval`.
pub fn ready(s: &State, now: Instant) -> Verdict {
    let window = 2 * s.cycle_interval;
    let mut why: Vec<String> = Vec::new();
    let mut groups = Vec::new();
    if s.groups.is_empty() {
        why.push("no cluster group is configured".into());
    }
    for (_, g) in &s.groups {
        let mut reasons: Vec<String> = Vec::new();
        match &g.last {
            None => reasons.push("no cycle has finished yet".into()),
            Some(c) if !c.result.succeeded() => {
                let what = match c.result.name() {
                    "waldur_unreadable" => "Waldur could not be read",
                    "refused" => "the plan was refused (mass deletion)",
                    _ => "the cycle failed (SLURM unreadable or the read refused)",
                };
                reasons.push(match c.errors.first() {
                    Some(e) => format!("{what}: {e}"),
                    None => what.to_string(),
                });
            }
            Some(_) => {}
        }
        match g.last_success {
            Some((_, at)) if now.saturating_duration_since(at) > window => reasons.push(format!(
                "the last successful cycle was {:.0} s ago, more than 2 x cycle_interval ({} s)",
                ago(at, now),
                window.as_secs()
            )),
            _ => {}
        }
        for r in &reasons {
            why.push(format!("cluster {}: {r}", g.cluster));
        }
        groups.push(json!({
            "cluster": g.cluster,
            "offerings": g.offerings,
            "ready": reasons.is_empty(),
            "last_cycle": g.last.as_ref().map(|c| c.at.to_string()),
            "last_result": g.last.as_ref().map(|c| c.result.name()),
            "last_success": g.last_success.map(|(t, _)| t.to_string()),
            "why": reasons,
        }));
    }
    let ok = why.is_empty();
    Verdict {
        ok,
        body: json!({"ready": ok, "why": why, "groups": groups}),
    }
}
