//! `agent report` and `agent load-historical-usage`: choose the periods, submit, print a
//! line per resource and period, and a summary.

use std::io::IsTerminal;
use std::process::ExitCode;

use agent_config::Config;
use agent_reconcile::escape::{self, Esc};
use anyhow::{Context, Result};
use jiff::Timestamp;
use waldur_slurm_agent::sides::Counts;
use waldur_slurm_agent::usage::periods::Month;
use waldur_slurm_agent::usage::{self, Submission, SubmitOptions, Submitted, BOUNDARY_GUARD_SECS};

use super::{Stats, Target};

fn load(target: &Target) -> Result<Config> {
    let loaded = agent_config::load(&target.config)?;
    for w in &loaded.warnings {
        tracing::warn!("{}: {w}", target.config.display());
    }
    Ok(loaded.config)
}

fn progress_printer(enabled: bool) -> impl Fn(usize, usize) + Sync {
    move |done, total| {
        if enabled && total > 0 {
            let width = 30;
            let filled = done * width / total;
            eprint!(
                "\r  [{}{}] {done}/{total}",
                "#".repeat(filled),
                ".".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
        }
    }
}

fn print_submissions(submissions: &[Submission], dry_run: bool) {
    for r in submissions {
        let status = if let Some(e) = &r.error {
            format!("ERROR {}", Esc(e))
        } else if let Some(s) = &r.skipped {
            format!("skipped: {}", Esc(s))
        } else if !r.anomalies.is_empty() {
            format!("not sent: {}", Esc(&r.anomalies.join("; ")))
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
            Esc(&r.backend_id).to_string(),
            usage::amounts(&r.totals)
        );
    }
}

fn finish(
    submitted: &Submitted,
    periods: usize,
    dry_run: bool,
    json: bool,
    stats: &Stats,
) -> Result<ExitCode> {
    let submissions = &submitted.submissions;
    let summary = usage::summarize(submissions, periods);
    if json {
        println!(
            "{}",
            escape::json(
                &serde_json::to_string_pretty(submissions).expect("submissions serialise")
            )
        );
        eprintln!("{}", Esc(&summary.text));
    } else {
        print_submissions(submissions, dry_run);
        println!("{}", Esc(&summary.text));
    }
    stats.write(&summary.stats(&submitted.counts))?;
    Ok(if summary.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `agent report`.
pub async fn report(target: &Target, dry_run: bool, json: bool, stats: &Stats) -> Result<ExitCode> {
    let config = load(target)?;
    let offerings = usage::select_offerings(&config, target.offering.as_deref())?;
    let Some(periods) = usage::current_periods(&config, Timestamp::now())? else {
        println!(
            "Not reporting: less than {} minutes to the new month in {}; the next run reports both months.",
            BOUNDARY_GUARD_SECS / 60,
            config.timezone
        );
        // No periods: what tells a reader of the stats that nothing was reported.
        stats.write(&usage::summarize(&[], 0).stats(&Counts::default()))?;
        return Ok(ExitCode::SUCCESS);
    };
    let options = SubmitOptions {
        dry_run,
        ..SubmitOptions::default()
    };
    let progress = progress_printer(std::io::stderr().is_terminal());
    let submitted = usage::submit(&config, &offerings, &periods, &options, &progress).await?;
    finish(&submitted, periods.len(), dry_run, json, stats)
}

pub struct HistoryArgs {
    pub start_date: String,
    pub end_date: String,
    pub resources: Vec<String>,
    pub skip_user_usage: bool,
    pub staff_check: bool,
    pub dry_run: bool,
    pub json: bool,
}

/// `agent load-historical-usage`.
pub async fn load_history(target: &Target, args: &HistoryArgs, stats: &Stats) -> Result<ExitCode> {
    let start = Month::parse(&args.start_date).context("--start-date")?;
    let end = Month::parse(&args.end_date).context("--end-date")?;
    let config = load(target)?;
    let periods = usage::history_periods(&config, start, end, Timestamp::now())?;
    let offerings = usage::select_offerings(&config, target.offering.as_deref())?;
    let staff_requests = if args.staff_check {
        usage::staff_check(&config, &offerings).await?
    } else {
        0
    };
    let options = SubmitOptions {
        dry_run: args.dry_run,
        skip_user_usage: args.skip_user_usage,
        resources: args.resources.clone(),
        zeros_for_missing_in_past: false,
    };
    let progress = progress_printer(std::io::stderr().is_terminal());
    let mut submitted = usage::submit(&config, &offerings, &periods, &options, &progress).await?;
    submitted.counts.waldur_requests += staff_requests;
    finish(&submitted, periods.len(), args.dry_run, args.json, stats)
}
