//! `agent report` and `agent load-historical-usage`: choose the periods, run the report
//! per offering, print the results and a summary.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use agent_config::{Config, Offering};
use agent_desired::usage::Amount;
use agent_observed::Runner;
use anyhow::{bail, Context, Result};
use jiff::Timestamp;
use serde::Deserialize;

use crate::period::{self, Month};
use crate::report::{report_offering, PeriodSpec, ReportOptions, ResourceReport};
use crate::waldur::Clients;
use crate::ReportTarget;

/// No report this close to a month boundary: sacct would be read for one month and the
/// push land in the next, filing usage under the wrong billing period.
const BOUNDARY_GUARD_SECS: i64 = 5 * 60;

/// Longest range the historical loader accepts (as the Python loader: five years).
const MAX_HISTORY_MONTHS: usize = 60;

fn load(target: &ReportTarget) -> Result<(Config, Vec<Offering>)> {
    let loaded = agent_config::load(&target.config)?;
    for w in &loaded.warnings {
        tracing::warn!("{}: {w}", target.config.display());
    }
    let config = loaded.config;
    let offerings: Vec<Offering> = config
        .offerings
        .iter()
        .filter(|o| match &target.offering {
            Some(sel) => o.name == *sel || o.uuid == sel.replace('-', "").to_ascii_lowercase(),
            None => o.reporting,
        })
        .cloned()
        .collect();
    if offerings.is_empty() {
        match &target.offering {
            Some(sel) => bail!("no offering matches {sel:?}"),
            None => bail!("no offering has reporting_backend set"),
        }
    }
    Ok((config, offerings))
}

fn progress_printer(enabled: bool) -> impl Fn(usize, usize) + Sync {
    move |done, total| {
        if enabled && total > 0 {
            let width = 30;
            let filled = done * width / total;
            eprint!(
                "\\r  [{}{}] {done}/{total}",
                "#".repeat(filled),
                ".".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
        }
    }
}

fn amounts(m: &BTreeMap<String, Amount>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_reports(reports: &[ResourceReport], dry_run: bool) {
    for r in reports {
        let status = if let Some(e) = &r.error {
            format!("ERROR {e}")
        } else if let Some(s) = &r.skipped {
            format!("skipped: {s}")
        } else if !r.anomalies.is_empty() {
            format!("not sent: {}", r.anomalies.join("; "))
        } else if r.posted() {
            let what = if dry_run { "would send" } else { "sent" };
            let mut parts = Vec::new();
            if r.set_usage.is_some() {
                parts.push("totals".to_string());
            }
            if !r.user_usages.is_empty() {
                parts.push(format!("{} per-user call(s)", r.user_usages.len()));
            }
            format!("{what} {}", parts.join(" + "))
        } else {
            "unchanged".to_string()
        };
        println!(
            "{}  {:<24} {:<32} {status}",
            r.period,
            r.backend_id,
            amounts(&r.totals)
        );
    }
}

/// Summary numbers over a set of results.
fn summary(reports: &[ResourceReport], periods: usize) -> (String, usize) {
    let mut sent: BTreeMap<String, Amount> = BTreeMap::new();
    let mut posted = 0;
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = 0;
    for r in reports {
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
    let resources: std::collections::BTreeSet<&str> =
        reports.iter().map(|r| r.backend_id.as_str()).collect();
    let mut text = format!(
        "Summary: {periods} period(s), {} resource(s); {posted} submission(s), totals {}; {errors} error(s)",
        resources.len(),
        if sent.is_empty() { "-".to_string() } else { amounts(&sent) }
    );
    for (why, n) in skipped {
        text.push_str(&format!("; skipped {n}: {why}"));
    }
    (text, errors)
}

fn finish(reports: &[ResourceReport], periods: usize, dry_run: bool, json: bool) -> ExitCode {
    let (text, errors) = summary(reports, periods);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(reports).expect("reports serialise")
        );
        eprintln!("{text}");
    } else {
        print_reports(reports, dry_run);
        println!("{text}");
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn period_specs(months: &[Month], current: Month, tz: &jiff::tz::TimeZone) -> Vec<PeriodSpec> {
    months
        .iter()
        .map(|m| PeriodSpec {
            month: *m,
            date: period::period_date(*m, tz),
            current: *m == current,
        })
        .collect()
}

/// The periods `report` covers now: the current month and `reporting_periods - 1` before
/// it; `None` in the last minutes of a month (see [`BOUNDARY_GUARD_SECS`]).
pub fn current_periods(config: &Config) -> Result<Option<Vec<PeriodSpec>>> {
    let tz = period::zone(&config.timezone)?;
    let now = Timestamp::now();
    if period::until_next_month(now, &tz).as_secs() < BOUNDARY_GUARD_SECS {
        return Ok(None);
    }
    let current = period::month_of(now, &tz);
    let mut months = vec![current];
    for _ in 1..config.reporting_periods.max(1) {
        let prev = months.last().expect("non-empty").previous();
        months.push(prev);
    }
    months.reverse();
    Ok(Some(period_specs(&months, current, &tz)))
}

/// `agent report`.
pub async fn report(target: &ReportTarget, dry_run: bool, json: bool) -> Result<ExitCode> {
    let (config, offerings) = load(target)?;
    let Some(periods) = current_periods(&config)? else {
        println!(
            "Not reporting: less than {} minutes to the new month in {}; the next run reports both months.",
            BOUNDARY_GUARD_SECS / 60,
            config.timezone
        );
        return Ok(ExitCode::SUCCESS);
    };
    let options = ReportOptions {
        dry_run,
        ..ReportOptions::default()
    };
    let reports = run(&config, &offerings, &periods, &options).await?;
    Ok(finish(&reports, periods.len(), dry_run, json))
}

/// Reports every reporting offering for the current periods and logs the outcome; for
/// the daemon. Returns the number of resources that failed.
pub async fn report_in_background(config: &Config) -> Result<usize> {
    let offerings: Vec<Offering> = config
        .offerings
        .iter()
        .filter(|o| o.reporting)
        .cloned()
        .collect();
    if offerings.is_empty() {
        return Ok(0);
    }
    let Some(periods) = current_periods(config)? else {
        tracing::info!("not reporting in the last minutes of a month");
        return Ok(0);
    };
    let reports = run(config, &offerings, &periods, &ReportOptions::default()).await?;
    let (text, errors) = summary(&reports, periods.len());
    for r in reports.iter().filter(|r| r.error.is_some()) {
        tracing::error!(resource = %r.backend_id, period = %r.period, error = ?r.error, "usage report failed");
    }
    tracing::info!("{text}");
    Ok(errors)
}

async fn run(
    config: &Config,
    offerings: &[Offering],
    periods: &[PeriodSpec],
    options: &ReportOptions,
) -> Result<Vec<ResourceReport>> {
    let clients = Clients::new(config).context("setting up the Waldur client")?;
    let runner = Runner::new(config.agent.command_timeout);
    let progress = progress_printer(std::io::stderr().is_terminal());
    let mut all = Vec::new();
    for o in offerings {
        let client = clients.get(&o.uuid).context("no Waldur client")?;
        let reports = report_offering(client, &runner, o, periods, options, &progress)
            .await
            .with_context(|| format!("reporting offering {:?}", o.name))?;
        all.extend(reports);
    }
    tracing::info!(
        waldur_requests = clients.request_count(),
        processes = ?runner.counts(),
        "report finished"
    );
    Ok(all)
}

pub struct HistoryArgs {
    pub start: Month,
    pub end: Month,
    pub resources: Vec<String>,
    pub skip_user_usage: bool,
    pub staff_check: bool,
    pub dry_run: bool,
    pub json: bool,
}

#[derive(Deserialize)]
struct Me {
    username: String,
    #[serde(default)]
    is_staff: bool,
}

/// `agent load-historical-usage`.
pub async fn load_history(target: &ReportTarget, args: &HistoryArgs) -> Result<ExitCode> {
    if args.end < args.start {
        bail!("--end-date is before --start-date");
    }
    let months = args.start.through(args.end);
    if months.len() > MAX_HISTORY_MONTHS {
        bail!(
            "{} months requested; at most {MAX_HISTORY_MONTHS} at a time",
            months.len()
        );
    }
    let (config, offerings) = load(target)?;
    let tz = period::zone(&config.timezone)?;
    let current = period::month_of(Timestamp::now(), &tz);
    if args.end > current {
        bail!(
            "--end-date {} is in the future (now {} in {})",
            args.end.label(),
            current.label(),
            config.timezone
        );
    }
    if args.staff_check {
        let clients = Clients::new(&config).context("setting up the Waldur client")?;
        for o in &offerings {
            let client = clients.get(&o.uuid).context("no Waldur client")?;
            let me: Me = client
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
    }
    let periods = period_specs(&months, current, &tz);
    let options = ReportOptions {
        dry_run: args.dry_run,
        skip_user_usage: args.skip_user_usage,
        resources: args.resources.clone(),
        zeros_for_missing_in_past: false,
    };
    let reports = run(&config, &offerings, &periods, &options).await?;
    Ok(finish(&reports, periods.len(), args.dry_run, args.json))
}
