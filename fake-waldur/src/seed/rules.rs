//! The field rules every seed loader applies: own UUIDs (normalised, unique),
//! references (normalised, target exists), enumerations with a default,
//! timestamps filled with the load time, and slugs derived from names.

use super::SeedError;
use crate::ids;
use std::collections::HashSet;

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, SeedError> {
    Err(SeedError(msg.into()))
}

/// Lowercase, runs of non-alphanumerics become one `-` (Django-ish slugify).
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Gives the object a hex UUID (generating one if empty) and checks uniqueness.
pub(crate) fn own_uuid(
    kind: &str,
    uuid: &mut String,
    seen: &mut HashSet<String>,
) -> Result<(), SeedError> {
    *uuid = if uuid.is_empty() {
        ids::new_uuid()
    } else {
        ids::normalize(uuid).ok_or_else(|| SeedError(format!("{kind}: bad uuid {uuid:?}")))?
    };
    if !seen.insert(uuid.clone()) {
        return err(format!("{kind}: duplicate uuid {uuid}"));
    }
    Ok(())
}

/// Normalises a reference and checks that its target exists.
pub(crate) fn reference(
    kind: &str,
    field: &str,
    uuid: &mut String,
    targets: &HashSet<String>,
) -> Result<(), SeedError> {
    match ids::normalize(uuid).filter(|u| targets.contains(u)) {
        Some(u) => {
            *uuid = u;
            Ok(())
        }
        None => err(format!("{kind}.{field}: unknown reference {uuid:?}")),
    }
}

pub(crate) fn one_of(
    kind: &str,
    field: &str,
    value: &mut String,
    default: &str,
    allowed: &[&str],
) -> Result<(), SeedError> {
    if value.is_empty() {
        *value = default.to_string();
    }
    if !allowed.contains(&value.as_str()) {
        return err(format!(
            "{kind}.{field}: {value:?} is not one of {allowed:?}"
        ));
    }
    Ok(())
}

pub(crate) fn stamp(field: &mut String, now: &str) {
    if field.is_empty() {
        *field = now.to_string();
    }
}
