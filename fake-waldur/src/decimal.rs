//! Two-place decimals (usage amounts, limits). Stored as hundredths so that
//! comparisons are exact; printed as strings like Waldur (`"12.50"`).

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    Invalid,
    TooManyPlaces,
}

impl AmountError {
    /// The message DRF's `DecimalField` gives for this problem.
    pub fn message(self) -> &'static str {
        match self {
            AmountError::Invalid => "A valid number is required.",
            AmountError::TooManyPlaces => "Ensure that there are no more than 2 decimal places.",
        }
    }
}

impl Amount {
    pub fn hundredths(self) -> i64 {
        self.0
    }

    /// Parses `[-+]digits[.digits]`. Like DRF, `1.500` counts as three
    /// places: trailing zeros are not forgiven.
    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        let s = raw.trim();
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let all_digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return Err(AmountError::Invalid);
        }
        if frac.len() > 2 {
            return Err(AmountError::TooManyPlaces);
        }
        let int: i64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| AmountError::Invalid)?
        };
        let frac: i64 = format!("{frac:0<2}")
            .parse()
            .map_err(|_| AmountError::Invalid)?;
        let value = int
            .checked_mul(100)
            .and_then(|v| v.checked_add(frac))
            .ok_or(AmountError::Invalid)?;
        Ok(Amount(if neg { -value } else { value }))
    }

    /// Accepts a JSON string or number, as DRF does.
    pub fn from_json(v: &Value) -> Result<Self, AmountError> {
        match v {
            Value::String(s) => Self::parse(s),
            Value::Number(n) => Self::parse(&n.to_string()),
            _ => Err(AmountError::Invalid),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Amount::from_json(&v).map_err(|e| de::Error::custom(format!("{v}: {}", e.message())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(Amount::parse("12.5").unwrap().to_string(), "12.50");
        assert_eq!(Amount::parse("0").unwrap().to_string(), "0.00");
        assert_eq!(Amount::parse("-0.05").unwrap().to_string(), "-0.05");
        assert_eq!(Amount::parse(".5").unwrap().hundredths(), 50);
        assert_eq!(Amount::parse("1.234"), Err(AmountError::TooManyPlaces));
        assert_eq!(Amount::parse("1.500"), Err(AmountError::TooManyPlaces));
        assert_eq!(Amount::parse("abc"), Err(AmountError::Invalid));
        assert_eq!(Amount::parse(""), Err(AmountError::Invalid));
        assert_eq!(Amount::parse("1e5"), Err(AmountError::Invalid));
        assert_eq!(
            Amount::from_json(&serde_json::json!(3.25))
                .unwrap()
                .hundredths(),
            325
        );
    }
}
