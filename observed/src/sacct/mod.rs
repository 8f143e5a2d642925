//! Usage of a billing period, read from `sacct`.
//!
//! One sacct call per period covers every managed account (`--accounts=a,b,c`), so the
//! cost of a report does not grow with the number of accounts. Its output
//! (`Account|ReqTRES|Elapsed|User`, one job allocation a line) is folded line by line into
//! per-account, per-user sums; the text is never split into a vector of lines or rows, so
//! beyond the text itself a month of a busy cluster needs memory for the sums only.
//!
//! Usage is what the Python agent reports (Waldur sites compare against its numbers):
//! requested TRES (`ReqTRES`, not `AllocTRES`) × elapsed time, in TRES-minutes, memory in
//! MB-minutes.
//!
//! Numbers: every row is added as an exact integer, `amount × elapsed seconds` (memory in
//! KiB so that a `K` suffix is exact too), in `u128` so no realistic month can overflow.
//! Integer sums are exact and independent of the order of the rows. Only [`finish`]
//! divides by 60 (and memory by 1024) and hands out `f64` TRES-minutes, which are
//! fractional because elapsed times have seconds.
//!
//! - `query`: the period's window, the one sacct argv, [`read_period`];
//! - `parse`: the streaming parser and aggregator ([`parse_sacct`], [`UsageAggregator`]);
//! - `synthetic`: generated rows for load tests and the benchmark.
//!
//! [`finish`]: UsageAggregator::finish

mod parse;
mod query;
mod synthetic;

use std::collections::BTreeMap;

use crate::runner::RunError;

pub use parse::{parse_sacct, UsageAggregator};
pub use query::{period_bounds, read_period, sacct_argv, sacct_path};
pub use synthetic::{synthetic_sacct_rows, synthetic_seconds, synthetic_tres};

/// The longest Elapsed a row of one month's sacct call can have: `--truncate` clips each
/// job to the window (31 days, plus the hour a daylight-saving change can add). Anything
/// longer is a broken record, and would be billed as years of usage.
pub const MAX_ELAPSED_SECS: u64 = 31 * 86_400 + 3_600;

/// Columns of the sacct query, in order.
pub const SACCT_FORMAT: &str = "Account,ReqTRES,Elapsed,User";
const COLUMNS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}, line {line}{}: {message}", column_text(.column))]
pub struct UsageParseError {
    /// File path or command that produced the text.
    pub source_name: String,
    pub line: usize,
    /// The sacct column at fault (`ReqTRES`, `Elapsed`); `None` for row-level problems.
    pub column: Option<&'static str>,
    pub message: String,
}

fn column_text(column: &Option<&'static str>) -> String {
    column.map(|c| format!(", column {c}")).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Parse(#[from] UsageParseError),
}

/// TRES name (`cpu`, `mem`, `gres/gpu`, `billing`, ... exactly as sacct prints them) to raw
/// TRES-minutes; `mem` in MB-minutes.
pub type TresMinutes = BTreeMap<String, f64>;

/// Usage of one account in the period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountUsage {
    /// Sum over all rows of the account, including rows without a user.
    pub total: TresMinutes,
    /// Per user (as sacct prints it). Rows with an empty User count in `total` only.
    pub users: BTreeMap<String, TresMinutes>,
}

/// Usage of the period per account (lower-cased, trimmed: SLURM folds account names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SacctUsage {
    pub accounts: BTreeMap<String, AccountUsage>,
    /// Rows whose Elapsed was `INVALID` or empty (sacct prints this for some broken job
    /// records); they are skipped rather than failing the whole report.
    pub skipped_invalid_elapsed: usize,
    /// Line of the first such row, for the warning.
    pub first_invalid_elapsed_line: Option<usize>,
    /// Rows with an empty Account (jobs charged to no account): nothing to report them to.
    pub skipped_no_account: usize,
}

#[cfg(test)]
mod tests;
