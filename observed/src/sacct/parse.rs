//! The streaming parser: sacct's text folded row by row into exact integer sums per
//! account and user, turned into TRES-minutes only at the end.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::{
    AccountUsage, SacctUsage, TresMinutes, UsageParseError, COLUMNS, MAX_ELAPSED_SECS, SACCT_FORMAT,
};

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
pub(super) fn elapsed_seconds(text: &str) -> Result<u64, String> {
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
