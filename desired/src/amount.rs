//! SLURM usage -> Waldur component amounts (the reverse of [`crate::limits`]).
//!
//! Input is one account's (or one user's) raw usage as sacct yields it: TRES name ->
//! TRES-minutes, memory in MB-minutes. Output is what Waldur stores: a decimal with two
//! places per component, held here as [`Amount`] (integer hundredths) so that comparing
//! with what Waldur returns is exact, with no float tolerance.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use agent_config::Component;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A Waldur two-place decimal (`"12.50"`) as integer hundredths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a Waldur amount: {why}")]
pub struct AmountError {
    pub input: String,
    pub why: &'static str,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub const fn from_hundredths(h: i64) -> Self {
        Amount(h)
    }

    pub const fn hundredths(self) -> i64 {
        self.0
    }

    /// Parses `[-+]digits[.digits]` (`"12.50"`, `"3"`, `"0.1"`, `".5"`). Places beyond the
    /// second must be zeros (`"1.500"` is fine, `"1.234"` is an error): a third non-zero
    /// place would be silently lost.
    pub fn parse(input: &str) -> Result<Self, AmountError> {
        let fail = |why| AmountError {
            input: input.to_string(),
            why,
        };
        let s = input.trim();
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return Err(fail("expected a decimal number like 12.50"));
        }
        if frac.bytes().skip(2).any(|b| b != b'0') {
            return Err(fail("more than 2 decimal places"));
        }
        let mut cents: i64 = 0;
        for (i, b) in frac.bytes().take(2).enumerate() {
            cents += i64::from(b - b'0') * if i == 0 { 10 } else { 1 };
        }
        let int: i64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| fail("too large"))?
        };
        let value = int
            .checked_mul(100)
            .and_then(|v| v.checked_add(cents))
            .ok_or_else(|| fail("too large"))?;
        Ok(Amount(if negative { -value } else { value }))
    }

    /// A JSON string or number (Waldur sends strings; numbers are accepted as DRF does).
    pub fn from_json(v: &Value) -> Result<Self, AmountError> {
        match v {
            Value::String(s) => Self::parse(s),
            // serde_json prints the shortest text that reads back as the same number.
            Value::Number(n) => Self::parse(&n.to_string()),
            other => Err(AmountError {
                input: other.to_string(),
                why: "expected a string or a number",
            }),
        }
    }

    /// `x` rounded to 2 places exactly as Python's `round(x, 2)` does (the Python agent's
    /// rounding, which Waldur sites compare against): the exact binary value is rounded,
    /// ties to even. Rust's `{:.2}` formatting does precisely that, whereas
    /// `(x * 100).round()` does not (2.675 would give 2.68). NaN is 0; values beyond the
    /// range saturate.
    pub fn round(x: f64) -> Self {
        Self::from_formatted(x, format!("{x:.2}"))
    }

    /// `x` rounded to a whole number like Python's `round(x)` (mapping mode reports whole
    /// numbers).
    pub fn round_whole(x: f64) -> Self {
        Self::from_formatted(x, format!("{x:.0}"))
    }

    fn from_formatted(x: f64, text: String) -> Self {
        if x.is_nan() {
            return Amount::ZERO;
        }
        Self::parse(&text).unwrap_or(if x < 0.0 {
            Amount(i64::MIN)
        } else {
            Amount(i64::MAX)
        })
    }
}

impl fmt::Display for Amount {
    /// Always two places: `"12.50"`, `"0.00"`, `"-0.05"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Amount::from_json(&v).map_err(serde::de::Error::custom)
    }
}

/// The raw usage of a component or mapping target. Waldur offerings often call the GPU
/// component `gpu` while SLURM's TRES is `gres/gpu`: a name without `/` that is not
/// itself a TRES of the usage falls back to `gres/<name>`.
fn raw_tres(raw: &BTreeMap<String, f64>, name: &str) -> Option<f64> {
    raw.get(name)
        .or_else(|| {
            if name.contains('/') {
                None
            } else {
                raw.get(&format!("gres/{name}"))
            }
        })
        .copied()
}

/// One account's (or user's) raw usage in Waldur units, one entry per configured component
/// (0 when the TRES is absent: "no jobs" is a usage of zero, not an unknown one).
///
/// - Passthrough: `round(raw / unit_factor, 2)`.
/// - Mapping mode (any component has `target_components`): each source component gets
///   `Σ raw[target] / factor` over its targets; a component without targets reads its own
///   TRES with factor 1; `unit_factor` is not applied; results are rounded to whole
///   numbers. TRES that no component maps are ignored.
pub fn to_waldur(
    components: &IndexMap<String, Component>,
    raw: &BTreeMap<String, f64>,
) -> BTreeMap<String, Amount> {
    let mapping = components.values().any(|c| c.target_components.is_some());
    if !mapping {
        return components
            .iter()
            .map(|(name, c)| {
                let v = raw_tres(raw, name).unwrap_or(0.0);
                (name.clone(), Amount::round(v / c.unit_factor))
            })
            .collect();
    }
    let mut source: BTreeMap<&str, f64> = components.keys().map(|k| (k.as_str(), 0.0)).collect();
    for (name, c) in components {
        let targets: Vec<(&str, f64)> = match &c.target_components {
            Some(t) => t.iter().map(|(t, f)| (t.as_str(), *f)).collect(),
            None => vec![(name.as_str(), 1.0)],
        };
        for (target, factor) in targets {
            if let Some(v) = raw_tres(raw, target) {
                // Factors are validated positive; a zero would contribute nothing.
                if factor != 0.0 {
                    *source.get_mut(name.as_str()).expect("every component") += v / factor;
                }
            }
        }
    }
    source
        .into_iter()
        .map(|(k, v)| (k.to_string(), Amount::round_whole(v)))
        .collect()
}

#[cfg(test)]
mod tests;
