//! Quota sizes as plans show them and tools read them: binary units (`k` = 1024, as
//! xfs_quota and lfs read them), the largest unit that holds the value exactly.

use super::model::{QuotaField, QuotaUnit};

const UNITS: [(char, u32); 6] = [
    ('e', 60),
    ('p', 50),
    ('t', 40),
    ('g', 30),
    ('m', 20),
    ('k', 10),
];

/// `bytes` as `900g`, `1t`, `1536k` or `1000` (no exact unit): exact, never rounded.
pub fn bytes(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    for (unit, shift) in UNITS {
        if bytes.trailing_zeros() >= shift {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A KiB value as [`bytes`] shows it.
pub fn kib(kib: u64) -> String {
    match kib.checked_mul(1024) {
        Some(b) => bytes(b),
        None => format!("{kib}k"),
    }
}

/// A field's value for plans: sizes with their unit, counts as they are; 0 (no limit)
/// shows as unset.
pub fn shown(field: QuotaField, value: u64) -> Option<String> {
    if value == 0 {
        return None;
    }
    Some(match field.unit() {
        QuotaUnit::Bytes => bytes(value),
        QuotaUnit::KiB => kib(value),
        QuotaUnit::Count => value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_units_only() {
        assert_eq!(bytes(900 << 30), "900g");
        assert_eq!(bytes(1 << 40), "1t");
        assert_eq!(bytes(1536 << 10), "1536k");
        assert_eq!(bytes(1000), "1000");
        assert_eq!(kib(943_718_400), "900g");
        assert_eq!(kib(1), "1k");
        assert_eq!(
            shown(QuotaField::InodeSoft, 90_000).as_deref(),
            Some("90000")
        );
        assert_eq!(shown(QuotaField::BlockHard, 0), None);
    }
}
