//! UUID handling. Waldur prints 32-char lowercase hex everywhere but accepts
//! the dashed form in paths and filters, so everything is normalised to hex.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Normalises a hex or dashed UUID to 32 lowercase hex chars.
/// Dashes are only accepted in the canonical 8-4-4-4-12 positions.
pub fn normalize(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let hex: String = match raw.len() {
        32 => raw.to_string(),
        36 => {
            let dashes_ok = raw
                .char_indices()
                .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
            if !dashes_ok {
                return None;
            }
            raw.chars().filter(|c| *c != '-').collect()
        }
        _ => return None,
    };
    hex.chars()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| hex.to_ascii_lowercase())
}

/// A fresh random version-4 UUID in hex form. Uses std's randomly keyed
/// hasher so the crate needs no RNG dependency; uniqueness is all we need.
pub fn new_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut words = [0u64; 2];
    for word in &mut words {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        *word = h.finish();
    }
    let mut n = (u128::from(words[0]) << 64) | u128::from(words[1]);
    n = (n & !(0xf << 76)) | (0x4 << 76); // version 4
    n = (n & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    format!("{n:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hex_and_dashed() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert_eq!(normalize(hex).as_deref(), Some(hex));
        assert_eq!(
            normalize("01234567-89AB-cdef-0123-456789abcdef").as_deref(),
            Some(hex)
        );
        assert_eq!(normalize("0123456789abcdef0123456789abcdeg"), None);
        assert_eq!(normalize("0123-456789abcdef0123456789abcdef0"), None);
        assert_eq!(normalize("abc"), None);
    }

    #[test]
    fn generated_uuids_are_distinct_hex() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        assert_eq!(normalize(&a).as_deref(), Some(a.as_str()));
        assert_eq!(&a[12..13], "4");
    }
}
