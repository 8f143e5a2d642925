//! Homes: created (as mkhomedir_helper makes them) when absent, for users with a Linux
//! account that is not a system account; never changed or removed once they exist. Their
//! quotas are read back with the provider's tool and only differing limits written.

use std::collections::BTreeMap;

use super::super::Planner;
use super::{differing, quota_drift};
use crate::address::StorageKey;
use crate::plan::{Action, Address, Change, Command, Diagnostic, Effect, Phase, Reason};
use crate::storage::commands::LustreId;
use crate::storage::{
    paths, size, FileKind, HomeSpec, Lookup, PasswdEntry, Provider, QuotaSpec, QuotaTarget,
    StorageEffect, StorageTools, MIN_UID,
};

impl Planner<'_> {
    pub(super) fn plan_homes(&mut self) {
        // A home waits for the associations being made for its user, unless the user
        // already has one (the home serves that too, whatever happens to the new ones).
        let mut serves: BTreeMap<String, Vec<Address>> = BTreeMap::new();
        for (_, c) in &self.changes {
            if let (Address::Association(k), Action::Create) = (&c.address, c.action) {
                serves
                    .entry(k.user.clone())
                    .or_default()
                    .push(c.address.clone());
            }
        }
        for k in self.observed.associations.keys() {
            serves.remove(&k.user);
        }
        let homes: Vec<&HomeSpec> = self.desired.storage.homes.values().collect();
        for spec in homes {
            let after = serves.remove(&spec.user).unwrap_or_default();
            self.plan_home(spec, after);
        }
    }

    fn plan_home(&mut self, spec: &HomeSpec, serves: Vec<Address>) {
        let user = spec.user.as_str();
        let accounts: Vec<&str> = spec
            .accounts
            .iter()
            .filter(|a| !self.blocked.contains(*a))
            .map(String::as_str)
            .collect();
        // The user's associations are all left out: so is the home they would serve.
        if accounts.is_empty() && !spec.accounts.is_empty() {
            return;
        }
        if !paths::component_ok(user) {
            self.diagnostics.push(Diagnostic::error(
                "invalid_name",
                format!(
                    "user name {:?} cannot be a path component; no home directory is made",
                    crate::escape::text(user)
                ),
            ));
            return;
        }
        let entry = match self.observed.storage.users.get(user) {
            Some(Lookup::Found(e)) => e.clone(),
            Some(Lookup::Missing) => {
                self.diagnostics.push(Diagnostic::warning(
                    "linux_user_missing",
                    format!(
                        "{user} has no Linux account (getent passwd {user} finds nothing); its home directory is made once it has one"
                    ),
                ));
                return;
            }
            Some(Lookup::Failed(e)) => {
                let e = e.clone();
                return self.storage_read_failed(format!("the passwd entry of {user}"), &e);
            }
            None => {
                return self.storage_read_failed(format!("the passwd entry of {user}"), "not read")
            }
        };
        if entry.uid < MIN_UID {
            self.diagnostics.push(Diagnostic::warning(
                "system_account",
                format!(
                    "{user} is a system account (uid {} < {MIN_UID}); its home directory is not managed",
                    entry.uid
                ),
            ));
            return;
        }
        let path = match spec.path(&entry) {
            Ok(p) => p,
            Err(why) => {
                self.diagnostics.push(Diagnostic::error(
                    "unsafe_home_path",
                    format!("the home directory of {user} is left alone: {why}"),
                ));
                return;
            }
        };
        let parent = spec.parent_of(&path).to_string();
        let what = if spec.base.is_some() {
            "homedir_base_path"
        } else {
            "the directory of passwd homes"
        };
        if !self.base_usable(&parent, what) {
            return;
        }
        let create = match self.observed.storage.paths.get(&path) {
            Some(Lookup::Found(s)) if s.kind == FileKind::Directory => false,
            Some(Lookup::Found(s)) => {
                let is = if s.kind == FileKind::Symlink {
                    "a symbolic link (never followed)"
                } else {
                    "not a directory"
                };
                self.diagnostics.push(Diagnostic::error(
                    "home_not_a_directory",
                    format!(
                        "the home of {user}, {path}, is {is}; it is left alone and its quota is not set"
                    ),
                ));
                return;
            }
            Some(Lookup::Missing) => true,
            Some(Lookup::Failed(e)) => {
                let e = e.clone();
                return self.storage_read_failed(format!("the home of {user}, {path},"), &e);
            }
            None => {
                return self.storage_read_failed(format!("the home of {user}, {path},"), "not read")
            }
        };
        let reason = home_reason(user, &accounts);
        if create {
            self.create_home(spec, &entry, &path, reason.clone(), serves);
        }
        if let Some(quota) = &spec.quota {
            self.plan_home_quota(spec, quota, &entry, &path, create, reason);
        }
    }

    fn create_home(
        &mut self,
        spec: &HomeSpec,
        entry: &PasswdEntry,
        path: &str,
        reason: Reason,
        serves: Vec<Address>,
    ) {
        let user = &spec.user;
        let mode = 0o777 & !spec.umask;
        let effect = StorageEffect::MakeDir {
            path: path.to_string(),
            uid: entry.uid,
            gid: entry.gid,
            mode,
            acl_group: None,
        };
        let change = Change::new(
            Address::Directory(StorageKey::Home(user.clone())),
            Action::Create,
            Phase::DirectoryCreate,
            Effect::Storage(vec![effect]),
        )
        .reason(reason)
        .field("path", None, Some(path.to_string()))
        .field(
            "owner",
            None,
            Some(format!("{user} (uid {}, gid {})", entry.uid, entry.gid)),
        )
        .field("mode", None, Some(format!("{mode:04o}")))
        .field(
            "skeleton",
            None,
            Some(crate::storage::commands::SKELETON.to_string()),
        )
        .after(serves)
        .command(Command::Storage {
            argv: StorageTools::default().make_home(user, spec.umask),
        });
        self.push(0, None, change);
    }

    fn plan_home_quota(
        &mut self,
        spec: &HomeSpec,
        quota: &QuotaSpec,
        entry: &PasswdEntry,
        path: &str,
        created: bool,
        reason: Reason,
    ) {
        let user = &spec.user;
        let target = match &quota.provider {
            Provider::CephXattr => QuotaTarget::Directory(path.to_string()),
            p => QuotaTarget::User {
                provider: p.clone(),
                uid: entry.uid,
            },
        };
        let held = match (&target, self.observed.storage.quotas.get(&target)) {
            // A directory made now has no CephFS quota yet.
            (QuotaTarget::Directory(_), _) if created => Default::default(),
            (_, Some(Lookup::Found(v))) => v.clone(),
            (_, Some(Lookup::Missing)) => Default::default(),
            (_, Some(Lookup::Failed(e))) => {
                let e = e.clone();
                return self.storage_read_failed(format!("the home quota of {user}"), &e);
            }
            (_, None) => {
                return self.storage_read_failed(format!("the home quota of {user}"), "not read")
            }
        };
        let diff = differing(&quota.limits, &held);
        if diff.is_empty() {
            return;
        }
        let tools = StorageTools::default();
        let values = diff.iter().map(|(f, _, w)| (*f, *w)).collect();
        let commands: Vec<Vec<String>> = match &quota.provider {
            Provider::CephXattr => diff
                .iter()
                .map(|(f, _, w)| tools.ceph_quota(path, *f, *w))
                .collect(),
            Provider::Xfs { mount_point } => vec![tools.xfs_limit(mount_point, entry.uid, &values)],
            Provider::Lustre { mount_point } => {
                vec![tools.lfs_setquota(LustreId::User, entry.uid, mount_point, &values)]
            }
        };
        let what = format!("the {} home quota of {user}", quota.provider.name());
        let drift = quota_drift(&what, &diff);
        let action = if drift.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        let mut change = Change::new(
            Address::Quota(StorageKey::Home(user.clone())),
            action,
            Phase::QuotaSet,
            Effect::Storage(vec![StorageEffect::SetQuota { target, values }]),
        );
        if let Some(d) = drift {
            change = change.reason(d);
        }
        change = change
            .reason(reason)
            .after([Address::Directory(StorageKey::Home(user.clone()))]);
        for (field, held, wanted) in &diff {
            change = change.field(
                field.name(),
                size::shown(*field, *held),
                size::shown(*field, *wanted),
            );
        }
        for argv in commands {
            change = change.command(Command::Storage { argv });
        }
        self.push(0, None, change);
    }
}

fn home_reason(user: &str, accounts: &[&str]) -> Reason {
    if accounts.is_empty() {
        return Reason::new(
            "home_directory",
            format!("{user} is an offering user in state OK (create-homedirs)"),
        );
    }
    Reason::new(
        "home_directory",
        format!("{user} is associated with {}", accounts.join(", ")),
    )
}
