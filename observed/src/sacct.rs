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
//! [`finish`]: UsageAggregator::finish

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use agent_reconcile::commands::SlurmTarget;

use crate::runner::{RunError, Runner};

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

/// Parses a whole sacct output, line by line.
pub fn parse_sacct(source_name: &str, text: &str) -> Result<SacctUsage, UsageParseError> {
    let mut agg = UsageAggregator::new(source_name);
    for (i, line) in text.lines().enumerate() {
        agg.feed_line(i + 1, line)?;
    }
    Ok(agg.finish())
}

/// Sums of one (account, user): TRES name -> amount × seconds (memory in KiB × seconds).
/// A short vector: a job has a handful of TRES, and a linear scan beats hashing here.
type Sums = Vec<(String, u128)>;

/// FNV-1a. Hashing the account and user names is most of the cost of a row with std's
/// SipHash; the names come from our own cluster's sacct, so there is no flooding attack
/// to defend against.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Names to values, looked up by `&str` and allocating only for a new name.
struct Interned<T> {
    index: HashMap<String, usize, BuildHasherDefault<Fnv>>,
    items: Vec<(String, T)>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Interned {
            index: HashMap::default(),
            items: Vec::new(),
        }
    }
}

impl<T: Default> Interned<T> {
    fn get_or_default(&mut self, name: &str) -> &mut T {
        let at = match self.index.get(name) {
            Some(&at) => at,
            None => {
                self.index.insert(name.to_string(), self.items.len());
                self.items.push((name.to_string(), T::default()));
                self.items.len() - 1
            }
        };
        &mut self.items[at].1
    }
}

fn err(
    source_name: &str,
    line: usize,
    column: Option<&'static str>,
    message: String,
) -> UsageParseError {
    UsageParseError {
        source_name: source_name.to_string(),
        line,
        column,
        message,
    }
}

/// Folds sacct rows into per-account, per-user sums.
pub struct UsageAggregator {
    source_name: String,
    /// account -> user -> sums.
    accounts: Interned<Interned<Sums>>,
    /// One row's TRES as (name start, name end, usage), the name's position within the
    /// ReqTRES field; kept between rows so a row allocates nothing.
    row: Vec<(usize, usize, u128)>,
    skipped_invalid_elapsed: usize,
    first_invalid_elapsed_line: Option<usize>,
    skipped_no_account: usize,
}

impl UsageAggregator {
    /// `source_name` (command or file) is quoted in errors.
    pub fn new(source_name: &str) -> Self {
        UsageAggregator {
            source_name: source_name.to_string(),
            accounts: Interned::default(),
            row: Vec::new(),
            skipped_invalid_elapsed: 0,
            first_invalid_elapsed_line: None,
            skipped_no_account: 0,
        }
    }

    fn err(&self, line: usize, column: Option<&'static str>, message: String) -> UsageParseError {
        err(&self.source_name, line, column, message)
    }

    /// Adds one `Account|ReqTRES|Elapsed|User` row (`line_no` is 1-based, for errors).
    /// Blank lines are ignored. A row is checked completely before anything is added, so
    /// a failed row leaves the sums as they were.
    pub fn feed_line(&mut self, line_no: usize, line: &str) -> Result<(), UsageParseError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return Ok(());
        }
        let mut fields = line.split('|');
        let (Some(account), Some(req_tres), Some(elapsed), Some(user), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            let found = line.split('|').count();
            return Err(self.err(
                line_no,
                None,
                format!("expected {COLUMNS} columns ({SACCT_FORMAT}), found {found}: {line:?}"),
            ));
        };
        let account = account.trim();
        if account.is_empty() {
            self.skipped_no_account += 1;
            return Ok(());
        }
        let seconds = match elapsed.trim() {
            "" | "INVALID" => {
                self.skipped_invalid_elapsed += 1;
                self.first_invalid_elapsed_line.get_or_insert(line_no);
                return Ok(());
            }
            e => elapsed_seconds(e).map_err(|m| self.err(line_no, Some("Elapsed"), m))?,
        };
        if seconds > MAX_ELAPSED_SECS {
            return Err(self.err(
                line_no,
                Some("Elapsed"),
                format!(
                    "{:?} is longer than a billing month, which sacct --truncate clips every job to",
                    elapsed.trim()
                ),
            ));
        }
        self.row.clear();
        for entry in req_tres.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, amount) =
                tres_entry(entry).map_err(|m| self.err(line_no, Some("ReqTRES"), m))?;
            let usage = amount.checked_mul(u128::from(seconds)).ok_or_else(|| {
                self.err(
                    line_no,
                    Some("ReqTRES"),
                    format!("{entry:?} × {seconds} s overflows"),
                )
            })?;
            // `name` is a slice of `req_tres`: keep its position, not a borrow.
            let start = name.as_ptr() as usize - req_tres.as_ptr() as usize;
            self.row.push((start, start + name.len(), usage));
        }
        let account = if account.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(account.to_ascii_lowercase())
        } else {
            Cow::Borrowed(account)
        };
        let sums = self.accounts.get_or_default(&account).get_or_default(user);
        // Nothing is added until every sum is known not to overflow.
        let overflow = self.row.iter().find(|(a, b, usage)| {
            sums.iter()
                .any(|(n, v)| n == &req_tres[*a..*b] && v.checked_add(*usage).is_none())
        });
        if let Some((a, b, _)) = overflow {
            let name = &req_tres[*a..*b];
            return Err(err(
                &self.source_name,
                line_no,
                Some("ReqTRES"),
                format!("the sum of {name} overflows"),
            ));
        }
        for (a, b, usage) in &self.row {
            let name = &req_tres[*a..*b];
            match sums.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => *v += usage,
                None => sums.push((name.to_string(), *usage)),
            }
        }
        Ok(())
    }

    /// The report: sums turned into TRES-minutes (memory MB-minutes).
    pub fn finish(self) -> SacctUsage {
        let mut accounts = BTreeMap::new();
        for (name, acc) in self.accounts.items {
            let mut total: BTreeMap<String, u128> = BTreeMap::new();
            let mut users = BTreeMap::new();
            for (user, sums) in acc.items {
                for (tres, v) in &sums {
                    // Cannot overflow in practice: each row was checked, and a total
                    // beyond u128 would need ~10^20 rows.
                    let t = total.entry(tres.clone()).or_default();
                    *t = t.saturating_add(*v);
                }
                if !user.is_empty() {
                    users.insert(user, minutes(sums));
                }
            }
            accounts.insert(
                name,
                AccountUsage {
                    total: minutes(total),
                    users,
                },
            );
        }
        SacctUsage {
            accounts,
            skipped_invalid_elapsed: self.skipped_invalid_elapsed,
            first_invalid_elapsed_line: self.first_invalid_elapsed_line,
            skipped_no_account: self.skipped_no_account,
        }
    }
}

/// Integer `amount × seconds` (memory: KiB × seconds) -> TRES-minutes (memory: MB-minutes).
fn minutes(sums: impl IntoIterator<Item = (String, u128)>) -> TresMinutes {
    sums.into_iter()
        .map(|(tres, v)| {
            let per_second = if tres == "mem" { 60.0 * 1024.0 } else { 60.0 };
            let value = v as f64 / per_second;
            (tres, value)
        })
        .collect()
}

/// `name=amount[KMGTP]` -> (name, amount in the unit summed).
///
/// Memory is held in KiB: sacct's `--noconvert` prints it in MB, with an `M` suffix or, in
/// some versions, as a bare number. A bare `mem` number is therefore MB (SLURM's own unit
/// for memory TRES), not bytes as the Python agent assumed (which made such rows count as
/// nothing). Other TRES are counts; a suffix there scales by powers of 1024, as the
/// Python agent does.
fn tres_entry(entry: &str) -> Result<(&str, u128), String> {
    let (name, value) = entry
        .split_once('=')
        .ok_or_else(|| format!("{entry:?} is not name=value"))?;
    if name.is_empty() {
        return Err(format!("{entry:?} has no TRES name"));
    }
    let (digits, power) = match value.as_bytes().last() {
        Some(b'K') => (&value[..value.len() - 1], Some(1)),
        Some(b'M') => (&value[..value.len() - 1], Some(2)),
        Some(b'G') => (&value[..value.len() - 1], Some(3)),
        Some(b'T') => (&value[..value.len() - 1], Some(4)),
        Some(b'P') => (&value[..value.len() - 1], Some(5)),
        _ => (value, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{entry:?}: amount is not a whole number"));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{entry:?}: amount is too large"))?;
    let scale: u128 = if name == "mem" {
        // KiB: K=1, M (and bare) = 1024, G = 1024^2, ...
        1024u128.pow(power.unwrap_or(2) - 1)
    } else {
        1024u128.pow(power.unwrap_or(0))
    };
    Ok((name, u128::from(n) * scale))
}

/// `[D-]HH:MM:SS[.fff]` or `MM:SS[.fff]` -> whole seconds. Hours may exceed 23 when there
/// is no day part (`850:00:00`); any number of days parses (the Python agent parsed the
/// day as a day of the month and failed beyond 31, and read `MM:SS` as 0); a row longer
/// than [`MAX_ELAPSED_SECS`] is refused by the aggregator.
fn elapsed_seconds(text: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("{text:?} is not an elapsed time ({why})");
    let (days, clock) = match text.split_once('-') {
        Some((d, rest)) => (Some(d), rest),
        None => (None, text),
    };
    // Fractions of a second are dropped, as the Python agent does.
    let clock = clock.split_once('.').map_or(clock, |(whole, _)| whole);
    let mut parts = clock.split(':');
    let parts = [parts.next(), parts.next(), parts.next(), parts.next()];
    let num = |p: &str| -> Result<u64, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a number"));
        }
        p.parse().map_err(|_| bad("too large"))
    };
    let (h, m, s) = match (days, parts) {
        (_, [Some(h), Some(m), Some(s), None]) => (num(h)?, num(m)?, num(s)?),
        (None, [Some(m), Some(s), None, None]) => (0, num(m)?, num(s)?),
        (Some(_), [Some(_), Some(_), None, None]) => return Err(bad("a day count needs HH:MM:SS")),
        _ => return Err(bad("expected [D-]HH:MM:SS or MM:SS")),
    };
    if m >= 60 || s >= 60 {
        return Err(bad("minutes and seconds must be below 60"));
    }
    let d = match days {
        Some(d) => num(d)?,
        None => 0,
    };
    d.checked_mul(86_400)
        .and_then(|ds| h.checked_mul(3_600).and_then(|hs| ds.checked_add(hs)))
        .and_then(|t| t.checked_add(m * 60 + s))
        .ok_or_else(|| bad("too large"))
}

/// `n` rows in sacct's format for load tests and benchmarks, cycling through `accounts`
/// and `users`. Row `i`: account `accounts[i % A]`, user `users[(i / A) % U]`,
/// `cpu = 1 + i % 4`, `mem = (1 + i % 3) * 1000M`, `gres/gpu = i % 2`, plus `billing` and
/// `node`, and elapsed `i % 7200` seconds, written in the `MM:SS` / `HH:MM:SS` /
/// `D-HH:MM:SS` forms in turn (day rows add one day).
pub fn synthetic_sacct_rows(n: usize, accounts: &[String], users: &[String]) -> String {
    assert!(!accounts.is_empty() && !users.is_empty());
    let mut out = String::with_capacity(n * 72);
    for i in 0..n {
        let account = &accounts[i % accounts.len()];
        let user = &users[(i / accounts.len()) % users.len()];
        let (cpu, mem, gpu) = synthetic_tres(i);
        let secs = synthetic_seconds(i);
        let elapsed = match i % 3 {
            0 if secs < 3600 => format!("{:02}:{:02}", secs / 60, secs % 60),
            2 => format!(
                "{}-{:02}:{:02}:{:02}",
                secs / 86_400,
                secs % 86_400 / 3600,
                secs % 3600 / 60,
                secs % 60
            ),
            _ => format!(
                "{:02}:{:02}:{:02}",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            ),
        };
        let _ = writeln!(
            out,
            "{account}|billing={cpu},cpu={cpu},gres/gpu={gpu},mem={mem}M,node=1|{elapsed}|{user}"
        );
    }
    out
}

/// `(cpu, mem MB, gpu)` of synthetic row `i`.
pub fn synthetic_tres(i: usize) -> (u64, u64, u64) {
    (
        1 + (i % 4) as u64,
        (1 + (i % 3) as u64) * 1000,
        (i % 2) as u64,
    )
}

/// Elapsed seconds of synthetic row `i`.
pub fn synthetic_seconds(i: usize) -> u64 {
    let base = (i % 7200) as u64;
    if i % 3 == 2 {
        base + 86_400
    } else {
        base
    }
}

#[cfg(test)]
mod tests;
