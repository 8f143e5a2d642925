//! The clock periodic policies count in: the current month in the configured time zone.
//! Fixed in tests, so a period change can be crossed without waiting for one.

use agent_desired::periodic::YearMonth;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::usage::periods;

#[derive(Clone, Debug)]
pub struct Clock {
    tz: TimeZone,
    fixed: Option<Timestamp>,
}

impl Clock {
    /// The system clock in `timezone` (an unknown zone is an error naming it).
    pub fn system(timezone: &str) -> anyhow::Result<Clock> {
        Ok(Clock {
            tz: periods::zone(timezone)?,
            fixed: None,
        })
    }

    /// A clock that always says `now` (tests).
    pub fn fixed(timezone: &str, now: Timestamp) -> anyhow::Result<Clock> {
        Ok(Clock {
            tz: periods::zone(timezone)?,
            fixed: Some(now),
        })
    }

    pub fn now(&self) -> Timestamp {
        self.fixed.unwrap_or_else(Timestamp::now)
    }

    /// The month `at` falls in, in the configured zone.
    pub fn month_at(&self, at: Timestamp) -> YearMonth {
        let m = periods::month_of(at, &self.tz);
        YearMonth {
            year: m.year,
            month: m.month,
        }
    }

    /// The current month.
    pub fn month(&self) -> YearMonth {
        self.month_at(self.now())
    }

    /// The month of an RFC 3339 time (`received_at` of a stored message).
    pub fn month_of(&self, rfc3339: &str) -> Option<YearMonth> {
        rfc3339.parse::<Timestamp>().ok().map(|t| self.month_at(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_desired::periodic::{Period, PeriodKind};

    fn period(kind: PeriodKind, clock: &Clock) -> String {
        Period::of(kind, clock.month()).to_string()
    }

    #[test]
    fn period_boundaries_follow_the_configured_zone() {
        // 23:30 UTC on 31 March is already 1 April in Tallinn (UTC+3 in summer time).
        let t: Timestamp = "2026-03-31T23:30:00Z".parse().unwrap();
        let utc = Clock::fixed("UTC", t).unwrap();
        let tallinn = Clock::fixed("Europe/Tallinn", t).unwrap();
        for (kind, in_utc, in_tallinn) in [
            (PeriodKind::Month, "2026-03", "2026-04"),
            (PeriodKind::Quarter, "2026-Q1", "2026-Q2"),
            (PeriodKind::Year, "2026", "2026"),
            (PeriodKind::Total, "total", "total"),
        ] {
            assert_eq!(period(kind, &utc), in_utc, "{kind:?}");
            assert_eq!(period(kind, &tallinn), in_tallinn, "{kind:?}");
        }
        // New Year's Eve: the year changes in Tallinn first.
        let t: Timestamp = "2026-12-31T22:30:00Z".parse().unwrap();
        let tallinn = Clock::fixed("Europe/Tallinn", t).unwrap();
        assert_eq!(period(PeriodKind::Year, &tallinn), "2027");
        assert_eq!(
            period(PeriodKind::Quarter, &Clock::fixed("UTC", t).unwrap()),
            "2026-Q4"
        );
        // A message received at 23:59 UTC on 30 June belongs to Q3 in Tallinn.
        assert_eq!(
            tallinn.month_of("2026-06-30T23:59:00Z"),
            YearMonth::new(2026, 7)
        );
        assert_eq!(tallinn.month_of("yesterday"), None);
        assert!(Clock::system("Mars/Olympus").is_err());
    }
}
