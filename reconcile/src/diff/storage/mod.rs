//! The storage pass: home directories and their quotas for the users the agent
//! associates, project directories and their Lustre quotas for the allocations it keeps.
//! It runs after the SLURM passes, so a home waits for the associations it serves and a
//! project directory for its account.
//!
//! Rules:
//! - storage that was not read plans nothing; a lookup that failed skips that user or
//!   directory with an error (nothing is "fixed" on a guess);
//! - homes are created only when absent and never changed or removed afterwards; project
//!   directories are created and kept at their owner, mode and ACL; nothing is removed;
//! - every path is a checked base joined with a validated name, under a base owned by
//!   root that no one else may write; a symbolic link is reported, never followed;
//! - only differing quota limits are written, in the provider's own unit.
//!
//! - [`homes`](self::homes): homes and their quotas;
//! - [`projects`](self::projects): project directories and their quotas.

mod homes;
mod projects;

use super::Planner;
use crate::plan::{Diagnostic, Reason};
use crate::storage::{FileKind, Lookup, QuotaField, QuotaValues};

impl Planner<'_> {
    pub(super) fn plan_storage(&mut self) {
        let want = &self.desired.storage;
        self.diagnostics.extend(want.diagnostics.iter().cloned());
        if want.is_empty() {
            return;
        }
        if let Some(why) = &self.observed.storage.unread {
            self.diagnostics.push(Diagnostic::info(
                "storage_not_observed",
                format!("home and project directories are not planned: {why}"),
            ));
            return;
        }
        self.plan_homes();
        self.plan_projects();
    }

    /// Whether `base` (a home or project base, or the directory that holds a passwd
    /// home) may have directories made in it: a real directory owned by root that group
    /// and others cannot write (so no one can swap a path for a link under the agent).
    /// Reported once per base.
    fn base_usable(&mut self, base: &str, what: &str) -> bool {
        if let Some(ok) = self.storage_bases.get(base) {
            return *ok;
        }
        let why = match self.observed.storage.paths.get(base) {
            Some(Lookup::Found(s)) if s.kind == FileKind::Symlink => {
                Some("is a symbolic link (configure the directory it points to)".to_string())
            }
            Some(Lookup::Found(s)) if s.kind != FileKind::Directory => {
                Some("is not a directory".to_string())
            }
            Some(Lookup::Found(s)) if s.uid != 0 => Some(format!(
                "is owned by uid {}, not root: its owner could swap what the agent creates for a link",
                s.uid
            )),
            Some(Lookup::Found(s)) if s.mode & 0o022 != 0 => Some(format!(
                "has mode {:04o}: group or others may write it and swap what the agent creates for a link",
                s.mode
            )),
            Some(Lookup::Found(_)) => None,
            Some(Lookup::Missing) => Some("does not exist".to_string()),
            Some(Lookup::Failed(e)) => Some(format!("could not be read: {e}")),
            None => Some("was not read".to_string()),
        };
        if let Some(why) = &why {
            self.diagnostics.push(Diagnostic::error(
                "storage_base_unusable",
                format!("{what} {base} {why}; nothing is created under it"),
            ));
        }
        self.storage_bases.insert(base.to_string(), why.is_none());
        why.is_none()
    }

    fn storage_read_failed(&mut self, what: String, why: &str) {
        self.diagnostics.push(Diagnostic::error(
            "storage_read_failed",
            format!("{what} could not be read ({why}); it is left as it is"),
        ));
    }
}

/// The configured limits that differ from what is held: `(field, held, wanted)`.
fn differing(wanted: &QuotaValues, held: &QuotaValues) -> Vec<(QuotaField, u64, u64)> {
    wanted
        .iter()
        .map(|(f, w)| (*f, held.get(f).copied().unwrap_or(0), *w))
        .filter(|(_, h, w)| h != w)
        .collect()
}

/// The reason of a quota change that repairs drift rather than sets a first value.
fn quota_drift(what: &str, fields: &[(QuotaField, u64, u64)]) -> Option<Reason> {
    fields.iter().any(|(_, held, _)| *held != 0).then(|| {
        let names: Vec<&str> = fields.iter().map(|(f, _, _)| f.name()).collect();
        Reason::new(
            "drift",
            format!(
                "{what} differs from the configuration: {}",
                names.join(", ")
            ),
        )
    })
}
