//! Policy periods: which period a calendar month falls in, its name as Mastermind writes
//! it (`2026-04`, `2026-Q2`, `2026`, `total`), the one before it, and its months.
//!
//! The month itself comes from the clock in the configured time zone (the caller reads
//! it); everything here is calendar arithmetic.

use std::fmt;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    pub year: i32,
    /// 1..=12.
    pub month: u32,
}

impl YearMonth {
    pub fn new(year: i32, month: u32) -> Option<YearMonth> {
        (1..=12)
            .contains(&month)
            .then_some(YearMonth { year, month })
    }

    /// `YYYY-MM-01`, Waldur's `billing_period`.
    pub fn billing_period(self) -> String {
        format!("{:04}-{:02}-01", self.year, self.month)
    }

    /// The month of a `YYYY-MM-DD...` date.
    pub fn of_date(date: &str) -> Option<YearMonth> {
        let year = date.get(..4)?.parse().ok()?;
        if date.get(4..5)? != "-" {
            return None;
        }
        YearMonth::new(year, date.get(5..7)?.parse().ok()?)
    }

    fn plus(self, months: i32) -> YearMonth {
        let index = self.year * 12 + self.month as i32 - 1 + months;
        YearMonth {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }
}

/// How long a policy period is (Mastermind's `period`: 1 total, 2 month, 3 quarter, 4 year).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    Total,
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    /// Mastermind's numeric `period`; anything else (and absent) is a quarter, as
    /// Mastermind's own period code reads it.
    /// Mastermind's `period` choice (absent: its default, quarterly); `None` for a
    /// number that is not one of its choices.
    pub fn from_number(n: Option<i64>) -> Option<PeriodKind> {
        match n {
            Some(1) => Some(PeriodKind::Total),
            Some(2) => Some(PeriodKind::Month),
            None | Some(3) => Some(PeriodKind::Quarter),
            Some(4) => Some(PeriodKind::Year),
            Some(_) => None,
        }
    }

    /// An offering component's `limit_period` (`month`, `quarterly`, `annual`, `total`).
    pub fn from_limit_period(s: &str) -> Option<PeriodKind> {
        match s {
            "month" => Some(PeriodKind::Month),
            "quarterly" => Some(PeriodKind::Quarter),
            "annual" => Some(PeriodKind::Year),
            "total" => Some(PeriodKind::Total),
            _ => None,
        }
    }

    /// Words for plans and diagnose.
    pub fn describe(self) -> &'static str {
        match self {
            PeriodKind::Total => "total (never renewed)",
            PeriodKind::Month => "monthly",
            PeriodKind::Quarter => "quarterly",
            PeriodKind::Year => "annual",
        }
    }

    /// Days in one period, for the legacy decay formula (`None` for total).
    pub fn days(self) -> Option<f64> {
        match self {
            PeriodKind::Total => None,
            PeriodKind::Month => Some(30.0),
            PeriodKind::Quarter => Some(90.0),
            PeriodKind::Year => Some(365.0),
        }
    }
}

/// One policy period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Total,
    Month(YearMonth),
    Quarter { year: i32, quarter: u32 },
    Year(i32),
}

impl Period {
    /// The period of `kind` that `month` falls in.
    pub fn of(kind: PeriodKind, month: YearMonth) -> Period {
        match kind {
            PeriodKind::Total => Period::Total,
            PeriodKind::Month => Period::Month(month),
            PeriodKind::Quarter => Period::Quarter {
                year: month.year,
                quarter: (month.month - 1) / 3 + 1,
            },
            PeriodKind::Year => Period::Year(month.year),
        }
    }

    pub fn kind(self) -> PeriodKind {
        match self {
            Period::Total => PeriodKind::Total,
            Period::Month(_) => PeriodKind::Month,
            Period::Quarter { .. } => PeriodKind::Quarter,
            Period::Year(_) => PeriodKind::Year,
        }
    }

    /// The period before this one; `None` for total.
    pub fn previous(self) -> Option<Period> {
        match self {
            Period::Total => None,
            Period::Month(m) => Some(Period::Month(m.plus(-1))),
            Period::Quarter { year, quarter: 1 } => Some(Period::Quarter {
                year: year - 1,
                quarter: 4,
            }),
            Period::Quarter { year, quarter } => Some(Period::Quarter {
                year,
                quarter: quarter - 1,
            }),
            Period::Year(y) => Some(Period::Year(y - 1)),
        }
    }

    /// Its months, first to last (none for total: it has no calendar bounds).
    pub fn months(self) -> Vec<YearMonth> {
        let (first, count) = match self {
            Period::Total => return Vec::new(),
            Period::Month(m) => (m, 1),
            Period::Quarter { year, quarter } => (
                YearMonth {
                    year,
                    month: (quarter - 1) * 3 + 1,
                },
                3,
            ),
            Period::Year(year) => (YearMonth { year, month: 1 }, 12),
        };
        (0..count).map(|i| first.plus(i)).collect()
    }
}

/// Mastermind's name of the period: `2026-04`, `2026-Q2`, `2026`, `total`.
impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Total => f.write_str("total"),
            Period::Month(m) => write!(f, "{:04}-{:02}", m.year, m.month),
            Period::Quarter { year, quarter } => write!(f, "{year:04}-Q{quarter}"),
            Period::Year(y) => write!(f, "{y:04}"),
        }
    }
}
