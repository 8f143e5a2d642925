//! Project directories: one per allocation the agent keeps, `<base>/<account>`, owned by
//! the configured owner and group, with its mode (setgid included) and the group's
//! access and default ACL; kept that way, never removed. The Lustre project quota uses
//! the group's GID as project id: without a GID it is not applicable.

use super::super::Planner;
use super::{differing, quota_drift};
use crate::address::StorageKey;
use crate::plan::{Action, Address, Change, Command, Diagnostic, Effect, Phase, Reason};
use crate::storage::commands::LustreId;
use crate::storage::{
    size, FileKind, Lookup, PathState, ProjectDirSpec, ProjectQuotaSpec, QuotaTarget,
    StorageEffect, StorageTools,
};

/// Owner and group of a project directory, resolved.
struct Ids {
    uid: u32,
    gid: u32,
}

impl Planner<'_> {
    pub(super) fn plan_projects(&mut self) {
        let specs: Vec<&ProjectDirSpec> = self.desired.storage.projects.values().collect();
        for spec in specs {
            if self.blocked.contains(&spec.account) || !self.exists_or_planned(&spec.account) {
                continue;
            }
            self.plan_project(spec);
        }
    }

    fn plan_project(&mut self, spec: &ProjectDirSpec) {
        let path = spec.path();
        if !self.base_usable(&spec.base, "project_directory.base_path") {
            return;
        }
        let Some(ids) = self.project_ids(spec, &path) else {
            return;
        };
        let created = match self.observed.storage.paths.get(&path).cloned() {
            Some(Lookup::Missing) => {
                self.create_project_dir(spec, &path, &ids);
                true
            }
            Some(Lookup::Found(s)) if s.kind == FileKind::Directory => {
                if !self.update_project_dir(spec, &path, &ids, &s) {
                    return;
                }
                false
            }
            Some(Lookup::Found(s)) => {
                let is = if s.kind == FileKind::Symlink {
                    "a symbolic link (never followed)"
                } else {
                    "not a directory"
                };
                self.diagnostics.push(Diagnostic::error(
                    "project_dir_not_a_directory",
                    format!(
                        "the project directory of {}, {path}, is {is}; it is left alone",
                        spec.account
                    ),
                ));
                return;
            }
            Some(Lookup::Failed(e)) => {
                return self.storage_read_failed(format!("project directory {path}"), &e)
            }
            None => {
                return self.storage_read_failed(format!("project directory {path}"), "not read")
            }
        };
        if let Some(q) = &spec.quota {
            self.plan_project_quota(spec, q, &path, ids.gid, created);
        }
    }

    /// The owner's uid and the group's gid, or why the directory cannot be made.
    fn project_ids(&mut self, spec: &ProjectDirSpec, path: &str) -> Option<Ids> {
        let quota_note = if spec.quota.is_some() {
            " (and its Lustre project quota is not applicable without a GID)"
        } else {
            ""
        };
        let uid = match self.observed.storage.users.get(&spec.owner) {
            Some(Lookup::Found(e)) => e.uid,
            Some(Lookup::Missing) => {
                self.diagnostics.push(Diagnostic::error(
                    "project_owner_missing",
                    format!(
                        "project_directory.owner {} is not a Linux user; {path} is not made",
                        spec.owner
                    ),
                ));
                return None;
            }
            Some(Lookup::Failed(e)) => {
                let e = e.clone();
                self.storage_read_failed(format!("the passwd entry of {}", spec.owner), &e);
                return None;
            }
            None => {
                self.storage_read_failed(format!("the passwd entry of {}", spec.owner), "not read");
                return None;
            }
        };
        let gid = match self.observed.storage.groups.get(&spec.group) {
            Some(Lookup::Found(g)) => *g,
            Some(Lookup::Missing) => {
                self.diagnostics.push(Diagnostic::error(
                    "project_group_missing",
                    format!(
                        "group {} is not in the group database (getent group); the project directory {path} of {} is not made{quota_note}",
                        spec.group, spec.account
                    ),
                ));
                return None;
            }
            Some(Lookup::Failed(e)) => {
                let e = e.clone();
                self.storage_read_failed(format!("group {}", spec.group), &e);
                return None;
            }
            None => {
                self.storage_read_failed(format!("group {}", spec.group), "not read");
                return None;
            }
        };
        Some(Ids { uid, gid })
    }

    fn create_project_dir(&mut self, spec: &ProjectDirSpec, path: &str, ids: &Ids) {
        let tools = StorageTools::default();
        let mut change = Change::new(
            Address::Directory(StorageKey::Project(spec.account.clone())),
            Action::Create,
            Phase::DirectoryCreate,
            Effect::Storage(vec![StorageEffect::MakeDir {
                path: path.to_string(),
                uid: ids.uid,
                gid: ids.gid,
                mode: spec.mode,
                acl_group: spec.acl.then_some(ids.gid),
            }]),
        )
        .reason(spec.reason.clone())
        .field("path", None, Some(path.to_string()))
        .field("owner", None, Some(owner_text(spec, ids)))
        .field("mode", None, Some(format!("{:04o}", spec.mode)));
        if spec.acl {
            change = change.field("acl", None, Some(acl_text(&spec.group)));
        }
        if !self.observed.accounts.contains_key(&spec.account) {
            change = change.after([Address::Account(spec.account.clone())]);
        }
        // Made private to root, then given away; the mode comes last because setfacl
        // recomputes the ACL mask, which chmod then sets to the configured group bits.
        change = change
            .command(Command::Storage {
                argv: tools.make_dir(path),
            })
            .command(Command::Storage {
                argv: tools.chown(path, ids.uid, ids.gid),
            });
        if spec.acl {
            change = change.command(Command::Storage {
                argv: tools.group_acl(path, ids.gid),
            });
        }
        change = change.command(Command::Storage {
            argv: tools.chmod(path, spec.mode),
        });
        self.push(0, None, change);
    }

    /// Plans what differs on an existing directory; false when its ACL could not be read
    /// (nothing more is done to it).
    fn update_project_dir(
        &mut self,
        spec: &ProjectDirSpec,
        path: &str,
        ids: &Ids,
        have: &PathState,
    ) -> bool {
        let need_acl = if spec.acl {
            match self.observed.storage.acls.get(path) {
                Some(Lookup::Found(acl)) => {
                    !acl.groups.contains(&ids.gid) || !acl.default_groups.contains(&ids.gid)
                }
                Some(Lookup::Failed(e)) => {
                    let e = e.clone();
                    self.storage_read_failed(format!("the ACL of {path}"), &e);
                    return false;
                }
                Some(Lookup::Missing) | None => {
                    self.storage_read_failed(format!("the ACL of {path}"), "not read");
                    return false;
                }
            }
        } else {
            false
        };
        let need_owner = have.uid != ids.uid || have.gid != ids.gid;
        // setfacl recomputes the mask (the group bits of the mode): chmod follows it.
        let need_mode = have.mode != spec.mode || need_acl;
        if !(need_owner || need_acl || need_mode) {
            return true;
        }
        let tools = StorageTools::default();
        let mut differs = Vec::new();
        let mut change = Change::new(
            Address::Directory(StorageKey::Project(spec.account.clone())),
            Action::Update,
            Phase::DirectoryUpdate,
            Effect::Storage(vec![StorageEffect::SetDir {
                path: path.to_string(),
                owner: need_owner.then_some((ids.uid, ids.gid)),
                mode: need_mode.then_some(spec.mode),
                acl_group: need_acl.then_some(ids.gid),
            }]),
        );
        if need_owner {
            differs.push("owner");
            change = change
                .field(
                    "owner",
                    Some(format!("uid {}, gid {}", have.uid, have.gid)),
                    Some(owner_text(spec, ids)),
                )
                .command(Command::Storage {
                    argv: tools.chown(path, ids.uid, ids.gid),
                });
        }
        if need_acl {
            differs.push("acl");
            change = change
                .field("acl", None, Some(acl_text(&spec.group)))
                .command(Command::Storage {
                    argv: tools.group_acl(path, ids.gid),
                });
        }
        if have.mode != spec.mode {
            differs.push("mode");
            change = change.field(
                "mode",
                Some(format!("{:04o}", have.mode)),
                Some(format!("{:04o}", spec.mode)),
            );
        }
        change = change
            .command(Command::Storage {
                argv: tools.chmod(path, spec.mode),
            })
            .reason(Reason::new(
                "drift",
                format!(
                    "{path} differs from the configuration: {}",
                    differs.join(", ")
                ),
            ))
            .reason(spec.reason.clone());
        self.push(0, None, change);
        true
    }

    fn plan_project_quota(
        &mut self,
        spec: &ProjectDirSpec,
        quota: &ProjectQuotaSpec,
        path: &str,
        gid: u32,
        created: bool,
    ) {
        let target = QuotaTarget::Project {
            mount_point: quota.mount_point.clone(),
            id: gid,
        };
        let held = match self.observed.storage.quotas.get(&target) {
            Some(Lookup::Found(v)) => v.clone(),
            Some(Lookup::Missing) => Default::default(),
            Some(Lookup::Failed(e)) => {
                let e = e.clone();
                return self.storage_read_failed(format!("the Lustre project quota {gid}"), &e);
            }
            None => {
                return self
                    .storage_read_failed(format!("the Lustre project quota {gid}"), "not read")
            }
        };
        let current_id = if created {
            None
        } else {
            match self.observed.storage.projects.get(path) {
                Some(Lookup::Found(p)) if p.inherit => Some(p.id),
                Some(Lookup::Found(_)) => None,
                Some(Lookup::Failed(e)) => {
                    let e = e.clone();
                    return self.storage_read_failed(format!("the Lustre project of {path}"), &e);
                }
                Some(Lookup::Missing) | None => {
                    return self
                        .storage_read_failed(format!("the Lustre project of {path}"), "not read")
                }
            }
        };
        let diff = differing(&quota.limits, &held);
        let need_project = current_id != Some(gid);
        if diff.is_empty() && !need_project {
            return;
        }
        let tools = StorageTools::default();
        let values: crate::storage::QuotaValues = diff.iter().map(|(f, _, w)| (*f, *w)).collect();
        let what = format!("the Lustre project quota of {}", spec.account);
        let drift = quota_drift(&what, &diff);
        let mut effects = Vec::new();
        let mut change = Change::new(
            Address::Quota(StorageKey::Project(spec.account.clone())),
            if drift.is_some() || current_id.is_some() {
                Action::Update
            } else {
                Action::Create
            },
            Phase::QuotaSet,
            Effect::None,
        );
        for (field, held, wanted) in &diff {
            change = change.field(
                field.name(),
                size::shown(*field, *held),
                size::shown(*field, *wanted),
            );
        }
        if !diff.is_empty() {
            change = change.command(Command::Storage {
                argv: tools.lfs_setquota(LustreId::Project, gid, &quota.mount_point, &values),
            });
            effects.push(StorageEffect::SetQuota { target, values });
        }
        if need_project {
            change = change
                .field(
                    "project_id",
                    current_id.map(|i| i.to_string()),
                    Some(gid.to_string()),
                )
                .command(Command::Storage {
                    argv: tools.lfs_project(path, gid),
                });
            effects.push(StorageEffect::SetProject {
                path: path.to_string(),
                id: gid,
            });
        }
        change.effect = Effect::Storage(effects);
        if let Some(d) = drift {
            change = change.reason(d);
        }
        change = change
            .reason(spec.reason.clone())
            .after([Address::Directory(StorageKey::Project(
                spec.account.clone(),
            ))]);
        self.push(0, None, change);
    }
}

fn owner_text(spec: &ProjectDirSpec, ids: &Ids) -> String {
    format!(
        "{}:{} (uid {}, gid {})",
        spec.owner, spec.group, ids.uid, ids.gid
    )
}

fn acl_text(group: &str) -> String {
    format!("group:{group}:rwx, default:group:{group}:rwx")
}
