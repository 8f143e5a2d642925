//! The one sacct call of a billing period: its window, its argv, and running it.

use agent_reconcile::commands::SlurmTarget;

use super::{parse_sacct, SacctUsage, UsageError, SACCT_FORMAT};
use crate::runner::Runner;

/// `sacct` next to `sacctmgr`: the target only carries the sacctmgr path, and both come
/// from the same `slurm_bin_path`.
pub fn sacct_path(sacctmgr: &str) -> String {
    match sacctmgr.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/sacct"),
        None => "sacct".to_string(),
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            if leap {
                29
            } else {
                28
            }
        }
    }
}

/// `(YYYY-MM-01T00:00:00, YYYY-MM-<last>T23:59:59)`: naive times, which SLURM reads in its
/// own local time, as the Python agent does.
///
/// # Panics
/// When `month` is not 1..=12 (a programming error: callers build periods from dates).
pub fn period_bounds(year: i32, month: u32) -> (String, String) {
    assert!((1..=12).contains(&month), "month {month} out of range");
    (
        format!("{year:04}-{month:02}-01T00:00:00"),
        format!(
            "{year:04}-{month:02}-{:02}T23:59:59",
            days_in_month(year, month)
        ),
    )
}

/// The one sacct call of a period. `--allocations`: job allocations only (steps would
/// count twice); `--truncate`: elapsed clipped to the window, so a job spanning two months
/// is split between them; `--noconvert`: raw units.
pub fn sacct_argv(
    sacct: &str,
    cluster: Option<&str>,
    accounts: &[String],
    start: &str,
    end: &str,
) -> Vec<String> {
    let mut argv: Vec<String> = vec![sacct.to_string()];
    if let Some(c) = cluster {
        argv.push(format!("--clusters={c}"));
    }
    argv.extend(
        [
            "--allocations",
            "--allusers",
            "--noconvert",
            "--truncate",
            "-P",
            "--noheader",
        ]
        .map(String::from),
    );
    argv.push(format!("--format={SACCT_FORMAT}"));
    argv.push(format!("--starttime={start}"));
    argv.push(format!("--endtime={end}"));
    argv.push(format!("--accounts={}", accounts.join(",")));
    argv
}

/// Runs the period's sacct call and parses it. No accounts: an empty report, no call.
pub async fn read_period(
    runner: &Runner,
    target: &SlurmTarget,
    accounts: &[String],
    period: (i32, u32),
) -> Result<SacctUsage, UsageError> {
    if accounts.is_empty() {
        return Ok(SacctUsage::default());
    }
    let (start, end) = period_bounds(period.0, period.1);
    let argv = sacct_argv(
        &sacct_path(&target.sacctmgr),
        target.cluster.as_deref(),
        accounts,
        &start,
        &end,
    );
    let text = runner.read(&argv).await?;
    let report = parse_sacct(&argv.join(" "), &text)?;
    if report.skipped_invalid_elapsed > 0 {
        tracing::warn!(
            rows = report.skipped_invalid_elapsed,
            first_line = report.first_invalid_elapsed_line,
            "sacct rows with an INVALID or empty Elapsed were skipped"
        );
    }
    Ok(report)
}
