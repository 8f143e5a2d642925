//! Leaf readers: one typed value from one key, or a collected problem and a fallback.

use std::time::Duration;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::Validator;
use crate::raw::Leaf;

/// Longest SLURM name accepted (the agent's names layer has the same bound).
pub(super) const MAX_NAME_LEN: usize = 64;
/// Longest account-name prefix: half a name, so a slug still fits after it.
pub(super) const MAX_PREFIX_LEN: usize = MAX_NAME_LEN / 2;

pub(super) fn line_of<T>(s: &Spanned<T>) -> Option<u64> {
    Some(s.referenced.line()).filter(|l| *l > 0)
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl Validator<'_> {
    /// A string leaf.
    pub(super) fn string(&mut self, leaf: &Leaf, path: &str) -> Option<String> {
        let s = leaf.as_ref()?;
        match &s.value {
            Value::Null => None,
            Value::String(v) => Some(v.clone()),
            // Numbers are accepted where a name is expected (a slug like 2024).
            Value::Number(n) => Some(n.to_string()),
            other => {
                let k = kind(other);
                self.error(path, line_of(s), format!("expected a string, found {k}"));
                None
            }
        }
    }

    pub(super) fn required_string(
        &mut self,
        leaf: &Leaf,
        path: &str,
        parent_line: Option<u64>,
    ) -> String {
        match self.string(leaf, path) {
            Some(v) if !v.trim().is_empty() => v,
            Some(_) => {
                let line = leaf.as_ref().and_then(line_of).or(parent_line);
                self.error(path, line, "must not be empty");
                String::new()
            }
            None => {
                if leaf.is_none() || matches!(leaf.as_ref().map(|s| &s.value), Some(Value::Null)) {
                    self.error(path, parent_line, "required key is missing");
                }
                String::new()
            }
        }
    }

    pub(super) fn bool(&mut self, leaf: &Leaf, path: &str, default: bool) -> bool {
        let Some(s) = leaf.as_ref() else {
            return default;
        };
        match &s.value {
            Value::Null => default,
            Value::Bool(b) => *b,
            other => {
                let k = kind(other);
                self.error(
                    path,
                    line_of(s),
                    format!("expected true or false, found {k}"),
                );
                default
            }
        }
    }

    pub(super) fn opt_bool(&mut self, leaf: &Leaf, path: &str) -> Option<bool> {
        let s = leaf.as_ref()?;
        match &s.value {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            other => {
                let k = kind(other);
                self.error(
                    path,
                    line_of(s),
                    format!("expected true, false or null, found {k}"),
                );
                None
            }
        }
    }

    pub(super) fn number(&mut self, leaf: &Leaf, path: &str) -> Option<f64> {
        let s = leaf.as_ref()?;
        match &s.value {
            Value::Null => None,
            Value::Number(n) => n.as_f64(),
            other => {
                let k = kind(other);
                self.error(path, line_of(s), format!("expected a number, found {k}"));
                None
            }
        }
    }

    pub(super) fn uint(
        &mut self,
        leaf: &Leaf,
        path: &str,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> u64 {
        let Some(s) = leaf.as_ref() else {
            return default;
        };
        match s.value.as_u64() {
            Some(n) if range.contains(&n) => n,
            _ if s.value.is_null() => default,
            _ => {
                self.error(
                    path,
                    line_of(s),
                    format!(
                        "expected a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        }
    }

    /// A duration: `90s`, `5m`, `1h 30m`, or a number of seconds.
    pub(super) fn duration(&mut self, leaf: &Leaf, path: &str, default: Duration) -> Duration {
        let Some(s) = leaf.as_ref() else {
            return default;
        };
        match &s.value {
            Value::Null => default,
            Value::Number(n) if n.as_u64().is_some() => {
                Duration::from_secs(n.as_u64().unwrap_or(0))
            }
            Value::String(text) => match humantime::parse_duration(text) {
                Ok(d) if !d.is_zero() => d,
                _ => {
                    self.error(
                        path,
                        line_of(s),
                        format!("not a duration: {text:?} (use e.g. 90s, 5m, 1h)"),
                    );
                    default
                }
            },
            other => {
                let k = kind(other);
                self.error(
                    path,
                    line_of(s),
                    format!("expected a duration such as 5m, found {k}"),
                );
                default
            }
        }
    }

    pub(super) fn name(&mut self, value: String, path: &str, leaf: &Leaf) -> String {
        self.name_of_length(value, path, leaf, MAX_NAME_LEN)
    }

    /// A name (or a prefix of names) of at most `max` characters.
    pub(super) fn name_of_length(
        &mut self,
        value: String,
        path: &str,
        leaf: &Leaf,
        max: usize,
    ) -> String {
        if value.is_empty() {
            return value;
        }
        let ok = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let line = leaf.as_ref().and_then(line_of);
        if !ok {
            self.error(
                path,
                line,
                format!("{value:?} is not a valid SLURM name (letters, digits, '_' and '-' only)"),
            );
        } else if value.starts_with('-') {
            // It would read as an option, and no name the agent writes may start so.
            self.error(path, line, format!("{value:?} starts with '-'"));
        } else if value.len() > max {
            self.error(
                path,
                line,
                format!("{} characters, more than {max}", value.len()),
            );
        }
        value
    }
}
