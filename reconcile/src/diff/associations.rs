//! User associations: added for members, per-user limits converged, and removed (after
//! their jobs are cancelled) from owned accounts when Waldur no longer lists the user.

use std::collections::BTreeSet;

use super::Planner;
use crate::names::NameKind;
use crate::plan::{Action, Address, Change, Command, Diagnostic, Effect, Phase, Reason};
use crate::state::{AssocKey, AssocSpec, ObservedAssoc, QosGrant, Shares, Value};
use crate::tres::{self, TresMap};

impl Planner<'_> {
    pub(super) fn plan_associations(&mut self) {
        let mut users_with_default: BTreeSet<String> =
            self.observed.users.keys().cloned().collect();
        let mut have = self.observed.associations.iter().peekable();
        let mut last_account: Option<(&str, bool)> = None;
        for (key, spec) in &self.desired.associations {
            let ok = match last_account {
                Some((a, ok)) if a == key.account => ok,
                _ => {
                    let ok = self.exists_or_planned(&key.account)
                        && !self.blocked.contains(&key.account);
                    last_account = Some((&key.account, ok));
                    ok
                }
            };
            // Both maps are sorted by key: one ordered pass instead of a lookup each.
            while have.peek().is_some_and(|(k, _)| *k < key) {
                have.next();
            }
            let current = have.peek().filter(|(k, _)| *k == key).map(|(_, v)| *v);
            if !ok {
                continue;
            }
            let grant = self.usable_grant(spec);
            match current {
                None => {
                    // DefaultAccount only for a user SLURM does not know yet: an existing
                    // user's default is theirs to keep.
                    let new_user = users_with_default.insert(key.user.clone());
                    self.add_association(spec, grant, new_user);
                }
                Some(current) => self.update_association(spec, current),
            }
        }
        self.remove_strays();
    }

    /// The QoS grant of a desired association, without it when it names a QoS the
    /// cluster does not have.
    fn usable_grant(&mut self, spec: &AssocSpec) -> Option<QosGrant> {
        let key = &spec.key;
        let mut grant = spec.qos_grant.clone();
        if let Some(g) = &grant {
            let missing: Vec<_> = g
                .levels
                .iter()
                .chain(g.default.iter())
                .filter(|q| !self.observed.qos.contains(*q))
                .cloned()
                .collect();
            if !missing.is_empty() {
                self.diagnostics.push(Diagnostic::error(
                    "missing_qos",
                    format!(
                        "association {} should be granted QoS {} which the cluster does not have; created without it",
                        Address::Association(key.clone()),
                        missing.join(",")
                    ),
                ));
                grant = None;
            }
        }
        grant
    }

    fn add_association(&mut self, spec: &AssocSpec, grant: Option<QosGrant>, new_user: bool) {
        let key = &spec.key;
        let limits = spec.max_tres_mins.as_ref().map(|m| self.known_tres(m));
        let default_account = if new_user {
            spec.default_account.clone()
        } else {
            None
        };
        let levels = grant
            .as_ref()
            .map(|g| g.levels.iter().cloned().collect::<Vec<_>>().join(","));
        let argv = self.ctx.target.add_user(
            key,
            default_account.as_deref(),
            levels
                .as_deref()
                .map(|l| (l, grant.as_ref().and_then(|g| g.default.as_deref()))),
            limits.as_ref(),
        );
        let assoc = ObservedAssoc {
            fairshare: Shares::Parent,
            qos: grant.as_ref().map(|g| g.levels.clone()).unwrap_or_default(),
            default_qos: grant.as_ref().and_then(|g| g.default.clone()),
            max_tres_mins: limits.clone().unwrap_or_default(),
        };
        let account_missing = !self.observed.accounts.contains_key(&key.account);
        let mut change = Change::new(
            Address::Association(key.clone()),
            Action::Create,
            Phase::AssociationCreate,
            Effect::AssocCreate(key.clone(), assoc, default_account.clone()),
        )
        .reason(spec.reason.clone())
        .after(account_missing.then(|| Address::Account(key.account.clone())))
        .command(Command::slurm(argv));
        if let Some(d) = default_account {
            change = change.field("default_account", None, Some(d));
        }
        if let Some(l) = levels {
            change = change.field("qos", None, Some(l));
        }
        if let Some(m) = limits.as_ref().filter(|m| !m.is_empty()) {
            change = change.field("MaxTRESMins", None, Some(tres::render(m)));
        }
        self.push(0, Some(&key.account), change);
    }

    fn update_association(&mut self, spec: &AssocSpec, current: &ObservedAssoc) {
        let key = &spec.key;
        let Some(wanted) = spec.max_tres_mins.as_ref().map(|m| self.known_tres(m)) else {
            return;
        };
        let own = self.known_tres(&self.own_user_limits(key, current, &wanted));
        if wanted == own {
            return;
        }
        let argv = self.ctx.target.modify_user_limits(key, &wanted, &own);
        let change = Change::new(
            Address::Association(key.clone()),
            Action::Update,
            Phase::AssociationUpdate,
            Effect::AssocUpdate(key.clone(), wanted.clone()),
        )
        .field(
            "MaxTRESMins",
            Value::Tres(own).display(),
            Value::Tres(wanted).display(),
        )
        .reason(Reason::new(
            "drift",
            format!("per-user limits of {} differ from Waldur", key.user),
        ))
        .reason(spec.reason.clone())
        .command(Command::slurm(argv));
        self.push(0, Some(&key.account), change);
    }

    /// Users on owned accounts that Waldur does not list are removed.
    fn remove_strays(&mut self) {
        let stray: Vec<AssocKey> = self
            .observed
            .associations
            .keys()
            .filter({
                let desired = self.desired;
                let blocked = &self.blocked;
                // Both maps are sorted by key: one ordered pass instead of a lookup each.
                let mut wanted = desired.associations.keys().peekable();
                let mut last: Option<(&str, bool)> = None;
                move |k: &&AssocKey| {
                    while wanted.peek().is_some_and(|d| *d < *k) {
                        wanted.next();
                    }
                    if wanted.peek() == Some(k) {
                        return false;
                    }
                    match last {
                        Some((a, owned)) if a == k.account => owned,
                        _ => {
                            let owned = desired.accounts.contains_key(&k.account)
                                && !desired.keep_users.contains(&k.account)
                                && !blocked.contains(&k.account);
                            last = Some((&k.account, owned));
                            owned
                        }
                    }
                }
            })
            .cloned()
            .collect();
        let planned: BTreeSet<Address> = self
            .changes
            .iter()
            .map(|(_, c)| c.address.clone())
            .collect();
        for key in stray {
            let what = format!("the removal of {}", Address::Association(key.clone()));
            let names = [
                (NameKind::User, key.user.as_str()),
                (NameKind::Partition, key.partition.as_str()),
            ];
            if !self.names_writable(&what, &names) {
                continue;
            }
            // The member stays, on another partition (a partition setting changed): the
            // old association goes after the new one exists, and its jobs are not
            // cancelled unless asked for.
            let moved_to: Vec<&AssocKey> = self
                .desired
                .associations
                .range(AssocKey::new(&key.account, &key.user, "")..)
                .map(|(k, _)| k)
                .take_while(|k| k.account == key.account && k.user == key.user)
                .collect();
            let replaced = moved_to.iter().all(|k| {
                self.observed.associations.contains_key(*k)
                    || planned.contains(&Address::Association((*k).clone()))
            });
            if !replaced {
                // The new association cannot be made this cycle: the old one stays.
                continue;
            }
            let reason = if moved_to.is_empty() {
                Reason::new(
                    "not_a_member",
                    format!(
                        "{} is not a member of the Waldur resource behind {} (or has no offering user in state OK)",
                        key.user, key.account
                    ),
                )
            } else {
                let to: Vec<&str> = moved_to.iter().map(|k| k.partition.as_str()).collect();
                Reason::new(
                    "partition_changed",
                    format!(
                        "{}'s association on {} moves from partition {} to {}; the old one is removed once the new one exists{}",
                        key.user,
                        key.account,
                        shown_partition(&key.partition),
                        to.iter().map(|p| shown_partition(p)).collect::<Vec<_>>().join(","),
                        if self.ctx.cancel_jobs_on_partition_change {
                            ""
                        } else {
                            " and its jobs have ended"
                        }
                    ),
                )
            };
            let cancel = if moved_to.is_empty() {
                self.ctx.cancel_jobs
            } else {
                self.ctx.cancel_jobs_on_partition_change
            };
            let mut change = Change::new(
                Address::Association(key.clone()),
                Action::Delete,
                Phase::AssociationDelete,
                Effect::AssocDelete(key.clone()),
            )
            .reason(reason)
            .after(
                moved_to
                    .into_iter()
                    .map(|k| Address::Association(k.clone())),
            );
            if cancel {
                change = change.command(Command::Slurm {
                    argv: self.ctx.target.cancel_jobs(&key.account, Some(&key.user)),
                    best_effort: true,
                });
            }
            change = change.command(Command::slurm(self.ctx.target.remove_user(&key)));
            self.push(0, Some(&key.account), change);
        }
    }

    /// A user's MaxTRESMins without entries that merely repeat the account's. Real
    /// sacctmgr shows only the row's own limits (`WOPLimits`), but accounting front-ends
    /// such as slurm-emulator fill them in from the parents, and an inherited entry the
    /// agent does not want would otherwise be "cleared" with -1 on every cycle.
    fn own_user_limits(
        &self,
        key: &AssocKey,
        current: &ObservedAssoc,
        wanted: &TresMap,
    ) -> TresMap {
        let account = self.observed.accounts.get(&key.account);
        current
            .max_tres_mins
            .iter()
            .filter(|(tres, value)| {
                wanted.contains_key(*tres)
                    || account.and_then(|a| a.max_tres_mins.get(*tres)) != Some(*value)
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

fn shown_partition(partition: &str) -> &str {
    if partition.is_empty() {
        "(none)"
    } else {
        partition
    }
}
