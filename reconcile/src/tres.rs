//! TRES maps: `cpu=600000,mem=600G,gres/gpu=3000`.
//!
//! sacctmgr prints memory-like TRES with a unit suffix (`mem=614400` comes back as
//! `mem=600G`) while it accepts plain numbers in MB. Values are therefore held as integers
//! in SLURM's base unit (MB for memory-like TRES) and rendered without suffixes, so a value
//! written once reads back equal.

use std::collections::BTreeMap;
use std::fmt;

/// TRES name (`cpu`, `mem`, `gres/gpu`, `billing`) to amount. Sorted, so rendering is stable.
pub type TresMap = BTreeMap<String, u64>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad TRES entry {entry:?}: {why}")]
pub struct TresError {
    pub entry: String,
    pub why: &'static str,
}

/// Parses a TRES string as printed by `sacctmgr show ... -P`.
///
/// Empty input is an empty map; `-1` (cleared) entries are dropped; `K/M/G/T/P` suffixes
/// scale relative to MB (sacctmgr's base unit for memory-like TRES).
pub fn parse(text: &str) -> Result<TresMap, TresError> {
    let mut map = TresMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (key, value) = entry.split_once('=').ok_or_else(|| TresError {
            entry: entry.to_string(),
            why: "no '='",
        })?;
        if key.is_empty() {
            return Err(TresError {
                entry: entry.to_string(),
                why: "empty TRES name",
            });
        }
        if !valid_name(key) {
            return Err(TresError {
                entry: entry.to_string(),
                why: "a TRES name holds only letters, digits and _-/:.",
            });
        }
        if value == "-1" {
            continue;
        }
        map.insert(
            key.to_string(),
            parse_amount(value).map_err(|why| TresError {
                entry: entry.to_string(),
                why,
            })?,
        );
    }
    Ok(map)
}

/// Whether `key` can be a TRES name in a command: TRES names go back into commands (`-1`
/// clears an entry), so only SLURM's alphabet.
pub fn valid_name(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/:.".contains(c))
}

fn parse_amount(value: &str) -> Result<u64, &'static str> {
    let (digits, scale) = match value.chars().last() {
        Some('K') => (&value[..value.len() - 1], Scale::Div(1024)),
        Some('M') => (&value[..value.len() - 1], Scale::Mul(1)),
        Some('G') => (&value[..value.len() - 1], Scale::Mul(1024)),
        Some('T') => (&value[..value.len() - 1], Scale::Mul(1024 * 1024)),
        Some('P') => (&value[..value.len() - 1], Scale::Mul(1024 * 1024 * 1024)),
        _ => (value, Scale::Mul(1)),
    };
    let n: u64 = digits.parse().map_err(|_| "amount is not a whole number")?;
    match scale {
        Scale::Mul(m) => n.checked_mul(m).ok_or("amount overflows"),
        Scale::Div(d) => Ok(n / d),
    }
}

enum Scale {
    Mul(u64),
    Div(u64),
}

/// Renders a map the way sacctmgr accepts it (`cpu=1,mem=2`); empty map renders as "".
pub fn render(map: &TresMap) -> String {
    Display(map).to_string()
}

/// Renders the assignment that turns `current` into `wanted`: every wanted entry, plus
/// `-1` for entries that are set now but not wanted (sacctmgr clears one entry with -1).
pub fn render_assignment(wanted: &TresMap, current: &TresMap) -> String {
    let mut parts: BTreeMap<&str, String> = wanted
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_string()))
        .collect();
    for key in current.keys() {
        parts
            .entry(key.as_str())
            .or_insert_with(|| "-1".to_string());
    }
    parts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `Display` adapter for a TRES map.
pub struct Display<'a>(pub &'a TresMap);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_read_back_in_mb() {
        let map = parse("cpu=600000,mem=600G").unwrap();
        assert_eq!(map["mem"], 614_400);
        assert_eq!(map["cpu"], 600_000);
        assert_eq!(parse("mem=60000M").unwrap()["mem"], 60_000);
        assert_eq!(parse("mem=2T").unwrap()["mem"], 2 * 1024 * 1024);
    }

    #[test]
    fn cleared_and_empty() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("cpu=-1").unwrap().is_empty());
        assert!(parse("cpu").is_err());
        assert!(parse("cpu=abc").is_err());
        assert!(parse("cpu x=1").is_err());
        assert!(parse("gres/gpu:a100=4").is_ok());
    }

    #[test]
    fn assignment_clears_unwanted_entries() {
        let wanted = parse("cpu=10").unwrap();
        let current = parse("cpu=5,mem=20").unwrap();
        assert_eq!(render_assignment(&wanted, &current), "cpu=10,mem=-1");
    }
}
