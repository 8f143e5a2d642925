//! Names as SLURM stores them.
//!
//! SLURM folds account and user names to lower case, so desired names are lower-cased
//! before they are compared; otherwise a plan would never converge. Names are also the only
//! user-controlled text that reaches sacctmgr's argument parser unquoted, so they are
//! restricted to a conservative alphabet: anything that could be read as syntax (`=`, `,`,
//! `|`, quotes, spaces, newlines) is rejected before any command is built.

use std::fmt;

/// What kind of name failed validation; used in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Account,
    User,
    Qos,
    Partition,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Account => "account",
            NameKind::User => "user",
            NameKind::Qos => "QoS",
            NameKind::Partition => "partition",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name {name:?}: {why}")]
pub struct NameError {
    pub kind: NameKind,
    pub name: String,
    pub why: &'static str,
}

/// Longest name accepted. SLURM has no documented limit below this; long names are
/// almost always a bug upstream (a slug concatenated twice, a UUID pasted in).
pub const MAX_NAME_LEN: usize = 64;

fn check(kind: NameKind, raw: &str, extra: &[char]) -> Result<String, NameError> {
    let err = |why| NameError {
        kind,
        name: raw.to_string(),
        why,
    };
    if raw.is_empty() {
        return Err(err("empty"));
    }
    if raw.len() > MAX_NAME_LEN {
        return Err(err("longer than 64 characters"));
    }
    let first = raw.chars().next().unwrap_or('-');
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Err(err("must start with a letter, digit or '_'"));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || extra.contains(c)))
    {
        let _ = bad;
        return Err(err(
            "only ASCII letters, digits, '_' and '-' are allowed (and '.' in user names)",
        ));
    }
    Ok(raw.to_string())
}

/// Whether a name read from SLURM is one this agent may put into a command: the same
/// alphabet it accepts from Waldur (another tool may have written `oscar,frank`).
pub fn writable(kind: NameKind, name: &str) -> bool {
    let extra: &[char] = match kind {
        NameKind::User => &['.'],
        _ => &[],
    };
    check(kind, name, extra).is_ok()
}

/// Validates and lower-cases an account name.
pub fn account(raw: &str) -> Result<String, NameError> {
    check(NameKind::Account, raw, &[]).map(|s| s.to_ascii_lowercase())
}

/// Validates and lower-cases a user name (POSIX-like logins, '.' allowed).
pub fn user(raw: &str) -> Result<String, NameError> {
    check(NameKind::User, raw, &['.']).map(|s| s.to_ascii_lowercase())
}

/// Validates a QoS name. SLURM stores QoS names lower-cased as well.
pub fn qos(raw: &str) -> Result<String, NameError> {
    check(NameKind::Qos, raw, &[]).map(|s| s.to_ascii_lowercase())
}

/// Validates a partition name (kept as written: partitions come from slurm.conf).
pub fn partition(raw: &str) -> Result<String, NameError> {
    check(NameKind::Partition, raw, &[])
}

/// Normalises free text (descriptions, organisations) the way sacctmgr stores it, so that
/// desired and observed values compare equal after one write: quotes are dropped (sacctmgr
/// turns `"` into a backquote and would otherwise quote-parse them), every whitespace run
/// becomes one space, `|` (the -P separator) becomes `/`, and the result is lower-cased
/// because sacctmgr lower-cases both fields.
///
/// Control and text-direction characters are dropped (they would reach terminals through
/// every `sacctmgr show`), and the text is cut to [`MAX_FREE_TEXT`] characters so one
/// command line stays well inside sacctmgr's line limit.
pub fn free_text(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter(|c| *c != '"' && *c != '\'' && *c != '`')
        .filter(|c| c.is_whitespace() || !crate::escape::is_unsafe(*c))
        .map(|c| if c == '|' { '/' } else { c })
        .collect();
    let text = cleaned
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    match text.char_indices().nth(MAX_FREE_TEXT) {
        Some((cut, _)) => text[..cut].trim_end().to_string(),
        None => text,
    }
}

/// Longest description or organisation written.
pub const MAX_FREE_TEXT: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_lower_cased() {
        assert_eq!(account("Hpc_Sample-1").unwrap(), "hpc_sample-1");
    }

    #[test]
    fn syntax_characters_are_rejected() {
        for bad in [
            "a b", "a=b", "a,b", "a|b", "a'b", "a\"b", "a\nb", "", "-x", "a.b",
        ] {
            assert!(account(bad).is_err(), "{bad:?} accepted");
        }
        assert!(user("john.doe").is_ok());
        assert!(user("john doe").is_err());
    }

    #[test]
    fn free_text_matches_what_sacctmgr_stores() {
        assert_eq!(
            free_text("My \"Big\"\n  Project\t| X"),
            "my big project / x"
        );
        assert_eq!(free_text("\u{1b}[8mhidden\u{202e}"), "[8mhidden");
        assert_eq!(free_text(&"x".repeat(500)).len(), MAX_FREE_TEXT);
    }
}
