//! Minimal calendar arithmetic: microseconds since the Unix epoch (UTC) and
//! the few ISO 8601 forms Waldur sends and accepts. Hand-rolled to avoid a
//! date-time dependency; the server time zone is a fixed UTC offset.

use std::time::{SystemTime, UNIX_EPOCH};

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Wall-clock time in microseconds since the epoch.
pub fn system_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Formats as Waldur does: `2025-05-01T10:00:00.123456Z`.
pub fn format_datetime(micros: i64) -> String {
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let frac = micros.rem_euclid(MICROS_PER_SEC);
    let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let sod = secs.rem_euclid(SECS_PER_DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Parses `YYYY-MM-DD`, returning (year, month, day) if it is a real date.
pub fn parse_date(s: &str) -> Option<(i64, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = digits(&s[0..4])?;
    let m: u32 = digits(&s[5..7])?;
    let d: u32 = digits(&s[8..10])?;
    ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then_some((y, m, d))
}

fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a date or ISO 8601 datetime. Values without an offset (and plain
/// dates) are taken to be in the server time zone, as Django does.
pub fn parse_datetime(s: &str, server_offset_minutes: i32) -> Option<i64> {
    let s = s.trim();
    if s.len() < 10 {
        return None;
    }
    let (y, m, d) = parse_date(&s[..10])?;
    let mut rest = &s[10..];
    let mut secs_of_day = 0i64;
    let mut frac_micros = 0i64;
    if let Some(time) = rest.strip_prefix(['T', 't', ' ']) {
        let end = time
            .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
            .unwrap_or(time.len());
        let (clock, tail) = time.split_at(end);
        rest = tail;
        let (hms, frac) = match clock.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (clock, None),
        };
        let parts: Vec<&str> = hms.split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        let h: i64 = digits(parts[0])?;
        let mi: i64 = digits(parts[1])?;
        let sec: i64 = parts.get(2).map_or(Some(0), |p| digits(p))?;
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        secs_of_day = h * 3600 + mi * 60 + sec;
        if let Some(frac) = frac {
            if frac.is_empty() || parts.len() != 3 {
                return None;
            }
            let padded: String = frac.chars().chain("000000".chars()).take(6).collect();
            frac_micros = digits(&padded)?;
        }
    } else if !rest.is_empty() {
        return None;
    }
    let offset_minutes = match rest {
        "" => i64::from(server_offset_minutes),
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let body = rest[1..].replace(':', "");
            if body.len() != 4 {
                return None;
            }
            let h: i64 = digits(&body[..2])?;
            let mi: i64 = digits(&body[2..])?;
            sign * (h * 60 + mi)
        }
    };
    let local_secs = days_from_civil(y, m, d) * SECS_PER_DAY + secs_of_day;
    Some((local_secs - offset_minutes * 60) * MICROS_PER_SEC + frac_micros)
}

/// First day of the month containing `micros`, seen in the server time zone.
pub fn month_start(micros: i64, server_offset_minutes: i32) -> String {
    let local = micros.div_euclid(MICROS_PER_SEC) + i64::from(server_offset_minutes) * 60;
    let (y, m, _) = civil_from_days(local.div_euclid(SECS_PER_DAY));
    format!("{y:04}-{m:02}-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_forms() {
        let t = parse_datetime("2025-05-01T10:00:00.123456Z", 0).unwrap();
        assert_eq!(format_datetime(t), "2025-05-01T10:00:00.123456Z");
        assert_eq!(
            parse_datetime("2025-05-01T00:00:00+03:00", 0),
            parse_datetime("2025-04-30T21:00:00Z", 0)
        );
        assert_eq!(
            parse_datetime("2025-05-01", 120),
            parse_datetime("2025-04-30T22:00Z", 0)
        );
        assert!(parse_datetime("2025-02-30", 0).is_none());
        assert!(parse_datetime("2025-05-01T25:00:00Z", 0).is_none());
        assert!(parse_datetime("2025-05-01Tfoo", 0).is_none());
    }

    #[test]
    fn months_respect_server_offset() {
        let t = parse_datetime("2025-05-01T00:00:00+03:00", 0).unwrap();
        assert_eq!(month_start(t, 0), "2025-04-01");
        assert_eq!(month_start(t, 180), "2025-05-01");
        assert_eq!(month_start(0, 0), "1970-01-01");
        let leap = parse_datetime("2024-02-29T23:59:59Z", 0).unwrap();
        assert_eq!(month_start(leap, 0), "2024-02-01");
    }
}
