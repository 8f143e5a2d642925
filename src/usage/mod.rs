//! Usage reporting: what allocations consumed (from sacct) submitted to Waldur per
//! billing month, for the current months (`agent report`, and the daemon on its
//! interval) or a range of past months (`agent load-historical-usage`).
//!
//! - [`periods`]: billing months in the configured time zone;
//! - [`submit`]: one offering's submissions (one sacct call per period, only differences
//!   posted);
//! - [`stored`]: the records Waldur holds for a period, read for the whole offering.

pub mod periods;
pub mod stored;
pub mod submit;

use std::collections::{BTreeMap, BTreeSet};

use agent_config::{Config, Offering};
use agent_desired::amount::Amount;
use agent_observed::Runner;
use anyhow::{bail, Context, Result};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::groups::selects;
use crate::sides::live::WaldurClients;
use crate::sides::Counts;
use periods::Month;
pub use submit::{PeriodSpec, Submission, SubmitOptions};

/// No report this close to a month boundary: sacct would be read for one month and the
/// push land in the next, filing usage under the wrong billing period.
pub const BOUNDARY_GUARD_SECS: i64 = 5 * 60;

/// Longest range the historical loader accepts (as the Python loader: five years).
pub const MAX_HISTORY_MONTHS: usize = 60;

/// The offerings a usage command covers: the one selected, or every offering with
/// `reporting_backend` set.
pub fn select_offerings(config: &Config, selector: Option<&str>) -> Result<Vec<Offering>> {
    let offerings: Vec<Offering> = config
        .offerings
        .iter()
        .filter(|o| match selector {
            Some(sel) => selects(o, sel),
            None => o.reporting,
        })
        .cloned()
        .collect();
    if offerings.is_empty() {
        match selector {
            Some(sel) => bail!("no offering matches {sel:?}"),
            None => bail!("no offering has reporting_backend set"),
        }
    }
    Ok(offerings)
}

fn period_specs(months: &[Month], current: Month, tz: &jiff::tz::TimeZone) -> Vec<PeriodSpec> {
    months
        .iter()
        .map(|m| PeriodSpec {
            month: *m,
            date: periods::period_date(*m, tz),
            current: *m == current,
        })
        .collect()
}

/// The periods `report` covers at `now`: the current month and `reporting_periods - 1`
/// before it; `None` in the last minutes of a month (see [`BOUNDARY_GUARD_SECS`]).
pub fn current_periods(config: &Config, now: Timestamp) -> Result<Option<Vec<PeriodSpec>>> {
    let tz = periods::zone(&config.timezone)?;
    if periods::until_next_month(now, &tz).as_secs() < BOUNDARY_GUARD_SECS {
        return Ok(None);
    }
    let current = periods::month_of(now, &tz);
    let mut months = vec![current];
    for _ in 1..config.reporting_periods.max(1) {
        let prev = months.last().expect("non-empty").previous();
        months.push(prev);
    }
    months.reverse();
    Ok(Some(period_specs(&months, current, &tz)))
}

/// The past months from `start` to `end` (both included), checked against `now`.
pub fn history_periods(
    config: &Config,
    start: Month,
    end: Month,
    now: Timestamp,
) -> Result<Vec<PeriodSpec>> {
    if end < start {
        bail!("--end-date is before --start-date");
    }
    let months = start.through(end);
    if months.len() > MAX_HISTORY_MONTHS {
        bail!(
            "{} months requested; at most {MAX_HISTORY_MONTHS} at a time",
            months.len()
        );
    }
    let tz = periods::zone(&config.timezone)?;
    let current = periods::month_of(now, &tz);
    if end > current {
        bail!(
            "--end-date {} is in the future (now {} in {})",
            end.label(),
            current.label(),
            config.timezone
        );
    }
    Ok(period_specs(&months, current, &tz))
}

#[derive(Deserialize)]
struct Me {
    username: String,
    #[serde(default)]
    is_staff: bool,
}

/// Waldur accepts past usage of usage-billed components only from staff: check the
/// token of every offering before loading history. Returns the Waldur requests it made.
pub async fn staff_check(config: &Config, offerings: &[Offering]) -> Result<u64> {
    let clients = WaldurClients::new(config).context("setting up the Waldur client")?;
    for o in offerings {
        let me: Me = clients
            .of(o)?
            .get("/api/users/me/", &[])
            .await
            .context("checking the token's user (--no-staff-check skips this)")?;
        if !me.is_staff {
            bail!(
                "the token of offering {:?} belongs to {}, who is not staff: Waldur accepts past usage of usage-billed components only from staff (use a staff token, or --no-staff-check for limit-billed components)",
                o.name,
                me.username
            );
        }
    }
    Ok(clients.request_count())
}

/// What a usage command submitted, and what that cost.
pub struct Submitted {
    pub submissions: Vec<Submission>,
    pub counts: Counts,
}

/// Submits every offering for the given periods; `progress` gets (done, total).
pub async fn submit(
    config: &Config,
    offerings: &[Offering],
    periods: &[PeriodSpec],
    options: &SubmitOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Submitted> {
    let clients = WaldurClients::new(config).context("setting up the Waldur client")?;
    let runner = Runner::new(config.agent.command_timeout);
    let mut all = Vec::new();
    for o in offerings {
        let submissions =
            submit::submit_offering(clients.of(o)?, &runner, o, periods, options, progress)
                .await
                .with_context(|| format!("reporting offering {:?}", o.name))?;
        all.extend(submissions);
    }
    let counts = Counts {
        waldur_requests: clients.request_count(),
        processes: runner.counts(),
        ..Counts::default()
    };
    tracing::info!(
        waldur_requests = counts.waldur_requests,
        processes = ?counts.processes,
        "report finished"
    );
    Ok(Submitted {
        submissions: all,
        counts,
    })
}

/// Totals and outcomes over a set of submissions.
pub struct Summary {
    pub text: String,
    pub periods: usize,
    /// Resource-periods posted (with --dry-run: that would be).
    pub posted: usize,
    pub errors: usize,
}

impl Summary {
    /// The machine-readable summary (`--stats-file`, the benchmark).
    pub fn stats(&self, counts: &Counts) -> Value {
        json!({
            "periods": self.periods,
            "submissions": self.posted,
            "errors": self.errors,
            "waldur_requests": counts.waldur_requests,
            "processes": counts.processes,
        })
    }
}

pub fn amounts(m: &BTreeMap<String, Amount>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn summarize(submissions: &[Submission], periods: usize) -> Summary {
    let mut sent: BTreeMap<String, Amount> = BTreeMap::new();
    let mut posted = 0;
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = 0;
    for r in submissions {
        if r.error.is_some() {
            errors += 1;
        } else if let Some(s) = &r.skipped {
            *skipped.entry(s.clone()).or_default() += 1;
        } else if !r.anomalies.is_empty() {
            *skipped.entry("anomaly".into()).or_default() += 1;
        } else if r.posted() {
            posted += 1;
            for (k, v) in &r.totals {
                let e = sent.entry(k.clone()).or_default();
                *e = Amount::from_hundredths(e.hundredths() + v.hundredths());
            }
        }
    }
    let resources: BTreeSet<&str> = submissions.iter().map(|r| r.backend_id.as_str()).collect();
    let mut text = format!(
        "Summary: {periods} period(s), {} resource(s); {posted} submission(s), totals {}; {errors} error(s)",
        resources.len(),
        if sent.is_empty() { "-".to_string() } else { amounts(&sent) }
    );
    for (why, n) in skipped {
        text.push_str(&format!("; skipped {n}: {why}"));
    }
    Summary {
        text,
        periods,
        posted,
        errors,
    }
}

/// Submits every reporting offering for the current periods and logs the outcome; for
/// the daemon. Returns the number of resources that failed.
pub async fn submit_in_background(config: &Config, now: Timestamp) -> Result<usize> {
    let offerings: Vec<Offering> = config
        .offerings
        .iter()
        .filter(|o| o.reporting)
        .cloned()
        .collect();
    if offerings.is_empty() {
        return Ok(0);
    }
    let Some(periods) = current_periods(config, now)? else {
        tracing::info!("not reporting in the last minutes of a month");
        return Ok(0);
    };
    let submissions = submit(
        config,
        &offerings,
        &periods,
        &SubmitOptions::default(),
        &|_, _| {},
    )
    .await?
    .submissions;
    let summary = summarize(&submissions, periods.len());
    for r in submissions.iter().filter(|r| r.error.is_some()) {
        tracing::error!(resource = %r.backend_id, period = %r.period, error = ?r.error, "usage report failed");
    }
    tracing::info!("{}", summary.text);
    Ok(summary.errors)
}
