//! Applies a plan to an observed snapshot in memory, as SLURM would if every command
//! succeeded. Used to check that planning again after an apply gives an empty plan, and
//! by the agent's in-memory SLURM for in-process tests.

use crate::plan::{Change, Effect, Plan};
use crate::state::Observed;
use crate::storage::{
    Acl, FileKind, Lookup, PathState, ProjectAttr, QuotaTarget, StorageEffect, StorageObserved,
};

/// Returns the state SLURM would be in after `plan` ran without failures.
pub fn apply(observed: &Observed, plan: &Plan) -> Observed {
    let mut state = observed.clone();
    for change in &plan.changes {
        apply_change(&mut state, change);
    }
    state
}

/// Applies one change in place, as SLURM would if its commands succeeded.
pub fn apply_change(state: &mut Observed, change: &Change) {
    match &change.effect {
        Effect::None => {}
        Effect::AccountCreate(name, values) => {
            state.accounts.insert(name.clone(), (**values).clone());
        }
        Effect::AccountUpdate(name, sets) => {
            if let Some(account) = state.accounts.get_mut(name) {
                for (field, value) in sets {
                    account.set(*field, value);
                }
            }
        }
        Effect::AccountDelete(name) => {
            state.accounts.remove(name);
            state.associations.retain(|k, _| &k.account != name);
        }
        Effect::AssocCreate(key, assoc, default_account) => {
            state.associations.insert(key.clone(), assoc.clone());
            if !state.users.contains_key(&key.user) {
                let default = default_account
                    .clone()
                    .unwrap_or_else(|| key.account.clone());
                state.users.insert(key.user.clone(), default);
            }
        }
        Effect::AssocUpdate(key, limits) => {
            if let Some(assoc) = state.associations.get_mut(key) {
                assoc.max_tres_mins = limits.clone();
            }
        }
        Effect::AssocDelete(key) => {
            state.associations.remove(key);
        }
        Effect::DefaultAccount(user, account) => {
            state.users.insert(user.clone(), account.clone());
        }
        Effect::Storage(effects) => {
            for e in effects {
                apply_storage(&mut state.storage, e);
            }
            return;
        }
        Effect::RawUsageReset(account, period) => {
            state
                .raw_usage_resets
                .get_or_insert_with(Default::default)
                .insert(account.clone(), period.clone());
        }
    }
    // SLURM deletes a user together with their last association.
    let with_assoc: std::collections::BTreeSet<_> =
        state.associations.keys().map(|k| k.user.clone()).collect();
    state.users.retain(|u, _| with_assoc.contains(u));
}

/// Applies one storage effect, as the filesystem would if the commands succeeded.
pub fn apply_storage(state: &mut StorageObserved, effect: &StorageEffect) {
    match effect {
        StorageEffect::MakeDir {
            path,
            uid,
            gid,
            mode,
            acl_group,
        } => {
            let dir = PathState {
                kind: FileKind::Directory,
                uid: *uid,
                gid: *gid,
                mode: *mode,
            };
            state.paths.insert(path.clone(), Lookup::Found(dir));
            let mut acl = Acl::default();
            if let Some(g) = acl_group {
                acl.groups.insert(*g);
                acl.default_groups.insert(*g);
            }
            state.acls.insert(path.clone(), Lookup::Found(acl));
            state.quotas.insert(
                QuotaTarget::Directory(path.clone()),
                Lookup::Found(Default::default()),
            );
            state.projects.insert(
                path.clone(),
                Lookup::Found(ProjectAttr {
                    id: 0,
                    inherit: false,
                }),
            );
        }
        StorageEffect::SetDir {
            path,
            owner,
            mode,
            acl_group,
        } => {
            if let Some(Lookup::Found(dir)) = state.paths.get_mut(path) {
                if let Some((uid, gid)) = owner {
                    dir.uid = *uid;
                    dir.gid = *gid;
                }
                if let Some(m) = mode {
                    dir.mode = *m;
                }
            }
            if let (Some(g), Some(Lookup::Found(acl))) = (acl_group, state.acls.get_mut(path)) {
                acl.groups.insert(*g);
                acl.default_groups.insert(*g);
            }
        }
        StorageEffect::SetQuota { target, values } => {
            let entry = state
                .quotas
                .entry(target.clone())
                .or_insert_with(|| Lookup::Found(Default::default()));
            if let Lookup::Found(have) = entry {
                have.extend(values.iter().map(|(f, v)| (*f, *v)));
            }
        }
        StorageEffect::SetProject { path, id } => {
            state.projects.insert(
                path.clone(),
                Lookup::Found(ProjectAttr {
                    id: *id,
                    inherit: true,
                }),
            );
        }
    }
}
