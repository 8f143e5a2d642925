//! The account's project directory and its users' homes, as the filesystem holds them.

use std::collections::BTreeSet;

use agent_reconcile::state::{Desired, Observed};
use agent_reconcile::storage::{FileKind, Lookup, PathState};
use serde::Serialize;

/// One storage object of the account, and what the filesystem shows of it.
#[derive(Debug, Clone, Serialize)]
pub struct StorageRow {
    /// `project directory PATH` or `home of USER`.
    pub what: String,
    pub state: String,
}

/// Storage of the account: `None` when none is managed; `Err` with why when it was not read.
pub type StorageSide = Option<Result<Vec<StorageRow>, String>>;

/// Users associated with the account, wanted or held.
pub fn users_of(account: &str, desired: &Desired, observed: &Observed) -> BTreeSet<String> {
    desired
        .associations
        .keys()
        .filter(|k| k.account == account)
        .chain(observed.associations_of(account).map(|(k, _)| k))
        .map(|k| k.user.clone())
        .collect()
}

fn path_state(observed: &Observed, path: &str) -> String {
    let show = |s: &PathState| match s.kind {
        FileKind::Directory => {
            format!("exists (uid {}, gid {}, mode {:04o})", s.uid, s.gid, s.mode)
        }
        FileKind::Symlink => "is a symbolic link (left alone)".into(),
        _ => "is not a directory (left alone)".into(),
    };
    match observed.storage.paths.get(path) {
        Some(Lookup::Found(s)) => show(s),
        Some(Lookup::Missing) => "does not exist".into(),
        Some(Lookup::Failed(e)) => format!("could not be read: {e}"),
        None => "not read".into(),
    }
}

pub fn storage_side(
    account: &str,
    users: &BTreeSet<String>,
    desired: &Desired,
    observed: &Observed,
) -> StorageSide {
    let want = &desired.storage;
    let homes: Vec<_> = users.iter().filter_map(|u| want.homes.get(u)).collect();
    let project = want.projects.get(account);
    if homes.is_empty() && project.is_none() {
        return None;
    }
    if let Some(why) = &observed.storage.unread {
        return Some(Err(why.clone()));
    }
    let mut rows = Vec::new();
    if let Some(p) = project {
        let path = p.path();
        rows.push(StorageRow {
            what: format!("project directory {path}"),
            state: path_state(observed, &path),
        });
    }
    for h in homes {
        let state = match observed.storage.users.get(&h.user) {
            Some(Lookup::Found(e)) => match h.path(e) {
                Ok(path) => format!("{path} {}", path_state(observed, &path)),
                Err(why) => why,
            },
            Some(Lookup::Missing) => "no Linux account".to_string(),
            Some(Lookup::Failed(e)) => format!("the passwd entry could not be read: {e}"),
            None => "not read".to_string(),
        };
        rows.push(StorageRow {
            what: format!("home of {}", h.user),
            state,
        });
    }
    Some(Ok(rows))
}
