//! Billing periods: calendar months in the configured time zone. The zone only decides
//! which month "now" is and the offset of the `date` Waldur receives; sacct's window is a
//! naive `YYYY-MM-01T00:00:00 .. YYYY-MM-<last>T23:59:59` that SLURM reads in its own
//! local time, as the Python agent does.

use anyhow::{bail, Context, Result};
use jiff::tz::TimeZone;
use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn parse(s: &str) -> Result<Month> {
        let (y, m) = s
            .split_once('-')
            .with_context(|| format!("{s:?} is not YYYY-MM"))?;
        let year: i32 = y.parse().with_context(|| format!("{s:?} is not YYYY-MM"))?;
        let month: u32 = m
            .get(..2)
            .unwrap_or(m)
            .parse()
            .with_context(|| format!("{s:?} is not YYYY-MM"))?;
        if !(1..=12).contains(&month) || !(1970..=9999).contains(&year) {
            bail!("{s:?} is not a month between 1970-01 and 9999-12");
        }
        Ok(Month { year, month })
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// `YYYY-MM-01`, Waldur's `billing_period`.
    pub fn billing_period(self) -> String {
        format!("{:04}-{:02}-01", self.year, self.month)
    }

    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// The months from `self` to `end`, both included.
    pub fn through(self, end: Month) -> Vec<Month> {
        let mut out = Vec::new();
        let mut m = self;
        while m <= end {
            out.push(m);
            m = m.next();
        }
        out
    }
}

/// The configured zone; an unknown name is an error naming it.
pub fn zone(name: &str) -> Result<TimeZone> {
    TimeZone::get(name).with_context(|| {
        format!("timezone {name:?} is not a known IANA zone (is tzdata installed?)")
    })
}

/// The month `now` falls in, in `tz`.
pub fn month_of(now: Timestamp, tz: &TimeZone) -> Month {
    let dt = tz.to_datetime(now);
    Month {
        year: dt.year() as i32,
        month: dt.month() as u32,
    }
}

/// Time left until the next month starts in `tz`.
pub fn until_next_month(now: Timestamp, tz: &TimeZone) -> jiff::SignedDuration {
    let m = month_of(now, tz).next();
    let start = tz
        .to_timestamp(jiff::civil::date(m.year as i16, m.month as i8, 1).at(0, 0, 0, 0))
        .unwrap_or(now);
    start.duration_since(now)
}

/// `date` of the usage items: the first of the month at 00:00 in `tz`, with its offset,
/// e.g. `2025-05-01T00:00:00+03:00`.
pub fn period_date(m: Month, tz: &TimeZone) -> String {
    let dt = jiff::civil::date(m.year as i16, m.month as i8, 1).at(0, 0, 0, 0);
    match dt.to_zoned_datetime(tz.clone()) {
        Ok(z) => z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => format!("{}T00:00:00+00:00", m.billing_period()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let m = Month::parse("2025-01").unwrap();
        assert_eq!(m.previous().label(), "2024-12");
        assert_eq!(
            Month::parse("2024-12-15").unwrap().next().label(),
            "2025-01"
        );
        assert_eq!(Month::parse("2024-11").unwrap().through(m).len(), 3);
        assert!(Month::parse("2024-13").is_err());
        assert!(Month::parse("May").is_err());
    }

    #[test]
    fn zones_choose_the_month() {
        let tallinn = zone("Europe/Tallinn").unwrap();
        let utc = zone("UTC").unwrap();
        // 22:30 UTC on 31 May is already June in Tallinn (UTC+3 in summer).
        let t: Timestamp = "2025-05-31T22:30:00Z".parse().unwrap();
        assert_eq!(month_of(t, &utc).label(), "2025-05");
        assert_eq!(month_of(t, &tallinn).label(), "2025-06");
        assert_eq!(
            period_date(Month::parse("2025-06").unwrap(), &tallinn),
            "2025-06-01T00:00:00+03:00"
        );
        assert_eq!(until_next_month(t, &utc).as_secs(), 90 * 60);
        assert!(zone("Mars/Olympus").is_err());
    }
}
