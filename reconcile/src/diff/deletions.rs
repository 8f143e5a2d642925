//! Removals: accounts Waldur terminated (children first, the project account once nothing
//! else lives under it), and default accounts moved off what is being removed.

use std::collections::{BTreeMap, BTreeSet};

use super::{tier_rank, Planner};
use crate::names::NameKind;
use crate::plan::{Action, Address, Change, Command, Diagnostic, Effect, Phase, Reason};
use crate::state::{AssocKey, Tier};

impl Planner<'_> {
    pub(super) fn plan_tombstones(&mut self) {
        let mut deleting: BTreeMap<String, (Tier, Reason)> = BTreeMap::new();
        for stone in self.desired.tombstones.values() {
            if self.desired.accounts.contains_key(&stone.account)
                || !self.observed.accounts.contains_key(&stone.account)
                || self.blocked.contains(&stone.account)
            {
                continue;
            }
            deleting.insert(stone.account.clone(), (stone.tier, stone.reason.clone()));
            // The project account goes too once nothing else lives under it: the one the
            // allocation really sits under, never an anchor or an account left out.
            let sits_under = self.observed.accounts[&stone.account].parent.as_deref();
            if let Some(parent) = stone
                .cascade_parent
                .as_ref()
                .filter(|p| sits_under == Some(p.as_str()))
            {
                if !self.desired.accounts.contains_key(parent)
                    && !self.desired.anchors.contains(parent)
                    && !self.blocked.contains(parent)
                    && self.observed.accounts.contains_key(parent)
                {
                    deleting.entry(parent.clone()).or_insert((
                        Tier::Project,
                        Reason::new(
                            "project_empty",
                            format!(
                                "{parent} has no allocation left after {} is removed",
                                stone.account
                            ),
                        ),
                    ));
                }
            }
        }
        // Drop candidates that still have children or users we are not removing.
        loop {
            let keep: Vec<String> = deleting
                .keys()
                .filter(|name| {
                    let (tier, _) = &deleting[*name];
                    let live_child = self
                        .observed
                        .children_of(name)
                        .any(|c| !deleting.contains_key(c));
                    let users_block = *tier != Tier::Allocation
                        && self.observed.associations_of(name).next().is_some();
                    live_child || users_block
                })
                .cloned()
                .collect();
            if keep.is_empty() {
                break;
            }
            for name in keep {
                let (tier, _) = deleting.remove(&name).expect("present");
                if tier == Tier::Allocation {
                    // Its order waits: the account is still there.
                    self.blocked.insert(name.clone());
                    self.diagnostics.push(Diagnostic::error(
                        "delete_blocked",
                        format!("account {name} is terminated in Waldur but has sub-accounts the agent does not own; not removed"),
                    ));
                }
            }
        }
        for (name, (tier, reason)) in deleting {
            let users: Vec<String> = self
                .observed
                .associations_of(&name)
                .map(|(k, _)| k.user.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let children: Vec<Address> = self
                .observed
                .children_of(&name)
                .map(|c| Address::Account(c.to_string()))
                .collect();
            let mut change = Change::new(
                Address::Account(name.clone()),
                Action::Delete,
                Phase::AccountDelete,
                Effect::AccountDelete(name.clone()),
            )
            .reason(reason)
            .after(children);
            if !users.is_empty() {
                change = change.field("users", Some(users.join(",")), None);
                if self.ctx.cancel_jobs {
                    change = change.command(Command::Slurm {
                        argv: self.ctx.target.cancel_jobs(&name, None),
                        best_effort: true,
                    });
                }
                change = change.command(Command::slurm(self.ctx.target.remove_all_users(&name)));
            }
            change = change.command(Command::slurm(self.ctx.target.remove_account(&name)));
            self.deleted_accounts.insert(name.clone());
            self.push(-tier_rank(tier), Some(&name), change);
        }
    }

    /// Moves a user's default account off an association about to be removed, to one that
    /// stays (the configured default account when the user has it).
    pub(super) fn plan_default_account_moves(&mut self) {
        let mut removed: BTreeSet<AssocKey> = BTreeSet::new();
        let mut added: BTreeSet<AssocKey> = BTreeSet::new();
        for (_, c) in &self.changes {
            match &c.effect {
                Effect::AssocDelete(k) => {
                    removed.insert(k.clone());
                }
                Effect::AssocCreate(k, _, _) => {
                    added.insert(k.clone());
                }
                _ => {}
            }
        }
        let mut moves = Vec::new();
        for (user, default) in &self.observed.users {
            let loses_default = self.deleted_accounts.contains(default)
                || removed
                    .iter()
                    .any(|k| &k.user == user && &k.account == default);
            if !loses_default {
                continue;
            }
            let remaining: BTreeSet<String> = self
                .observed
                .associations
                .keys()
                .filter(|k| &k.user == user)
                .filter(|k| !removed.contains(*k) && !self.deleted_accounts.contains(&k.account))
                .chain(added.iter().filter(|k| &k.user == user))
                .map(|k| k.account.clone())
                .collect();
            if remaining.contains(default) {
                continue;
            }
            let target = match &self.ctx.fallback_default_account {
                Some(f) if remaining.contains(f) => Some(f.clone()),
                _ => remaining.iter().next().cloned(),
            };
            if let Some(target) = target {
                moves.push((user.clone(), default.clone(), target));
            }
        }
        for (user, from, to) in moves {
            let what = format!("moving {user}'s default account off {from}");
            if !self.names_writable(&what, &[(NameKind::User, &user), (NameKind::Account, &to)]) {
                continue;
            }
            let new_association: Vec<Address> = added
                .iter()
                .filter(|k| k.user == user && k.account == to)
                .map(|k| Address::Association(k.clone()))
                .collect();
            let change = Change::new(
                Address::User(user.clone()),
                Action::Update,
                Phase::DefaultAccountMove,
                Effect::DefaultAccount(user.clone(), to.clone()),
            )
            .field("default_account", Some(from.clone()), Some(to.clone()))
            .reason(Reason::new(
                "default_account_removed",
                format!("{user}'s default account {from} is being removed"),
            ))
            .after(new_association)
            .command(Command::slurm(
                self.ctx.target.set_default_account(&user, &to),
            ));
            self.push(0, None, change);
        }
    }
}
