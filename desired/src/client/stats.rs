//! What the client counts about its requests, for `/metrics`: every attempt (retries
//! included) by the answer it got, and how long it took, in fixed latency buckets. The
//! numbers only grow; a cycle's share is the difference of two readings ([`RequestStats::since`]).

use std::collections::BTreeMap;
use std::time::Duration;

/// Upper bounds, in seconds, of the latency buckets (Prometheus `le` labels). Waldur
/// answers a page in tens of milliseconds; the top buckets catch a slow or dying server.
pub const LATENCY_BOUNDS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The answer label of an attempt that got no HTTP answer (connection refused, timeout).
pub const TRANSPORT: &str = "transport";

/// Request attempts by answer and latency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestStats {
    /// Attempts by answer: the HTTP status code (`"200"`, `"503"`) or [`TRANSPORT`].
    pub by_status: BTreeMap<String, u64>,
    /// Attempts per latency bucket, not cumulative: `buckets[i]` took at most
    /// `LATENCY_BOUNDS[i]` and more than the bound before; the last one, longer than all.
    pub buckets: [u64; LATENCY_BOUNDS.len() + 1],
    /// Total time of all attempts, in microseconds (whole numbers, so readings subtract exactly).
    pub total_micros: u64,
}

impl Default for RequestStats {
    fn default() -> Self {
        RequestStats {
            by_status: BTreeMap::new(),
            buckets: [0; LATENCY_BOUNDS.len() + 1],
            total_micros: 0,
        }
    }
}

impl RequestStats {
    /// Counts one attempt; `status` is `None` when no answer came.
    pub fn record(&mut self, status: Option<u16>, elapsed: Duration) {
        let label = status.map_or_else(|| TRANSPORT.to_string(), |s| s.to_string());
        *self.by_status.entry(label).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i] += 1;
        self.total_micros += elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
    }

    /// Attempts counted.
    pub fn attempts(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// Attempts whose answer was not a success (4xx, 5xx, no answer), by answer.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.by_status
            .iter()
            .filter(|(s, n)| **n > 0 && !s.starts_with('2'))
            .map(|(s, n)| (s.clone(), *n))
            .collect()
    }

    /// Both together.
    pub fn plus(&self, other: &RequestStats) -> RequestStats {
        let mut out = self.clone();
        for (s, n) in &other.by_status {
            *out.by_status.entry(s.clone()).or_default() += n;
        }
        for (b, n) in out.buckets.iter_mut().zip(other.buckets) {
            *b += n;
        }
        out.total_micros += other.total_micros;
        out
    }

    /// What was counted between `earlier` and `self`.
    pub fn since(&self, earlier: &RequestStats) -> RequestStats {
        let mut out = RequestStats::default();
        for (s, n) in &self.by_status {
            let d = n.saturating_sub(earlier.by_status.get(s).copied().unwrap_or(0));
            if d > 0 {
                out.by_status.insert(s.clone(), d);
            }
        }
        for (i, b) in out.buckets.iter_mut().enumerate() {
            *b = self.buckets[i].saturating_sub(earlier.buckets[i]);
        }
        out.total_micros = self.total_micros.saturating_sub(earlier.total_micros);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_fall_into_buckets_and_readings_subtract() {
        let mut s = RequestStats::default();
        s.record(Some(200), Duration::from_millis(3));
        let before = s.clone();
        s.record(Some(200), Duration::from_millis(40));
        s.record(Some(503), Duration::from_secs(2));
        s.record(None, Duration::from_secs(99));
        let d = s.since(&before);
        assert_eq!(d.attempts(), 3);
        assert_eq!(d.by_status["200"], 1);
        assert_eq!(
            d.errors(),
            BTreeMap::from([("503".into(), 1), (TRANSPORT.into(), 1)])
        );
        assert_eq!(d.buckets[3], 1, "40 ms is in the 0.05 s bucket");
        assert_eq!(d.buckets[8], 1, "2 s is in the 2.5 s bucket");
        assert_eq!(d.buckets[12], 1, "99 s is above every bound");
        assert_eq!(d.total_micros, 40_000 + 2_000_000 + 99_000_000);
        assert_eq!(before.plus(&d), s);
    }
}
