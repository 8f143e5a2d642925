//! Team members -> associations: partitions, QoS grants, the default account policy,
//! per-user limits, and the guard against an empty team.

use std::collections::{BTreeMap, BTreeSet};

use agent_config::DefaultAccountPolicy;
use agent_reconcile::names;
use agent_reconcile::plan::{Diagnostic, Reason};
use agent_reconcile::state::{AssocKey, AssocSpec, QosGrant};
use agent_reconcile::tres::TresMap;

use super::Builder;
use crate::limits;
use crate::waldur::{hex, Resource};

/// Offering user states (Mastermind's enum) of a member who is not, or no longer, in SLURM.
const NOT_YET_OR_NO_LONGER: [&str; 9] = [
    "Requested",
    "Creating",
    "Pending account linking",
    "Pending additional validation",
    "Requested deletion",
    "Deleting",
    "Deleted",
    "Error creating",
    "Error deleting",
];

impl Builder<'_> {
    fn partitions(&self, r: &Resource) -> Vec<String> {
        let s = &self.cfg.slurm;
        if self.qos_enforcement() {
            if let Some(p) = r
                .attributes
                .get("partition")
                .and_then(|v| v.as_str())
                .filter(|p| !p.is_empty())
            {
                return vec![p.to_string()];
            }
        }
        let offering: BTreeSet<String> = self
            .docs
            .offering
            .partitions
            .iter()
            .map(|p| p.partition_name.clone())
            .filter(|p| !p.is_empty())
            .collect();
        if s.enforce_offering_partitions && !offering.is_empty() {
            return offering.into_iter().collect();
        }
        match &s.default_partition {
            Some(p) => vec![p.clone()],
            None => vec![String::new()],
        }
    }

    pub(super) fn members(&mut self, r: &Resource, account: &str) {
        let s = &self.cfg.slurm;
        let team = self
            .docs
            .teams
            .get(&hex(&r.uuid))
            .cloned()
            .unwrap_or_default();
        if team.is_empty() && r.backend_id().is_some() {
            // A project without a single member is rare; an empty answer from a proxy or
            // a half-migrated Waldur is not. Removing every user on a guess is worse than
            // waiting for a team that lists someone.
            self.out.keep_users.insert(account.to_string());
            self.out.diagnostics.push(Diagnostic::warning(
                "empty_team",
                format!(
                    "Waldur lists no team members for resource {:?}; the users of {account} are kept (remove them by hand if the project really is empty)",
                    r.name
                ),
            ));
            return;
        }
        let mut partitions = Vec::new();
        for p in self.partitions(r) {
            if p.is_empty() {
                partitions.push(p);
                continue;
            }
            match names::partition(&p) {
                Ok(p) => partitions.push(p),
                Err(e) => {
                    // Without all its partitions the member list is not the whole truth:
                    // nobody is removed from this account until the name is fixed.
                    self.out.keep_users.insert(account.to_string());
                    self.out.diagnostics.push(Diagnostic::error(
                        "invalid_name",
                        format!(
                            "resource {:?}: {e}; the users of {account} are kept as they are",
                            r.name
                        ),
                    ));
                }
            }
        }
        let grant = if self.qos_enforcement() {
            r.attributes
                .get("qos")
                .and_then(|v| v.as_str())
                .filter(|q| !q.is_empty())
                .and_then(|q| match names::qos(q) {
                    Ok(q) => Some(QosGrant {
                        levels: BTreeSet::from([q.clone()]),
                        default: Some(q),
                    }),
                    Err(e) => {
                        self.out.diagnostics.push(Diagnostic::error(
                            "invalid_name",
                            format!("resource {:?}: {e}", r.name),
                        ));
                        None
                    }
                })
        } else {
            None
        };
        let default_account = match s.default_account_policy {
            DefaultAccountPolicy::Common => Some(s.default_account.clone()),
            DefaultAccountPolicy::Individual => Some(account.to_string()),
            DefaultAccountPolicy::None => None,
        };
        let user_limits = self.user_limits(r);
        let limits_of = |user: &str| -> Option<TresMap> {
            let (valid, invalid) = user_limits.as_ref()?;
            // A user whose limit cannot be written keeps what SLURM has.
            (!invalid.contains(user)).then(|| valid.get(user).cloned().unwrap_or_default())
        };
        for m in &team {
            match m.offering_user_state.as_deref() {
                Some("OK") => {}
                None => continue,
                Some(s) if NOT_YET_OR_NO_LONGER.contains(&s) => continue,
                Some(s) => {
                    // A state Mastermind does not have: whether this member should be in
                    // SLURM is unknown.
                    let why = format!("offering user state {s:?} is not one Waldur has");
                    self.unsure_member(r, account, &m.username, "unknown_offering_user_state", why);
                    continue;
                }
            }
            let Some(username) = m.offering_user_username.as_deref() else {
                continue;
            };
            if username.is_empty() {
                continue;
            }
            let user = match names::user(username) {
                Ok(u) => u,
                Err(e) => {
                    // Who this member is in SLURM is unknown.
                    self.unsure_member(r, account, &m.username, "invalid_name", e.to_string());
                    continue;
                }
            };
            for partition in &partitions {
                let key = AssocKey::new(account, &user, partition);
                self.out.associations.insert(
                    key.clone(),
                    AssocSpec {
                        key,
                        default_account: default_account.clone(),
                        qos_grant: grant.clone(),
                        max_tres_mins: limits_of(&user),
                        reason: Reason::new(
                            "member",
                            format!(
                                "{user} is a member of project {} with Waldur resource {:?}",
                                r.project_slug.as_deref().unwrap_or("?"),
                                r.name
                            ),
                        ),
                    },
                );
            }
        }
    }

    /// A member the agent cannot place: the member list is then not the whole truth, so
    /// nobody is removed from the account on its grounds.
    fn unsure_member(
        &mut self,
        r: &Resource,
        account: &str,
        member: &str,
        code: &str,
        why: String,
    ) {
        self.out.keep_users.insert(account.to_string());
        self.out.diagnostics.push(Diagnostic::error(
            code,
            format!(
                "resource {:?}: team member {member}: {why}; not added, and the users of {account} are kept as they are",
                r.name
            ),
        ));
    }

    /// Per-user MaxTRESMins, when the per-user limits were read: user -> TRES map, and the
    /// users with a limit that cannot be written (reported here).
    fn user_limits(
        &mut self,
        r: &Resource,
    ) -> Option<(BTreeMap<String, TresMap>, BTreeSet<String>)> {
        let all = self.docs.user_limits.as_ref()?;
        let mut out: BTreeMap<String, TresMap> = BTreeMap::new();
        let mut invalid = BTreeSet::new();
        for l in all.get(&hex(&r.uuid)).into_iter().flatten() {
            let Some(comp) = self.cfg.components.get(&l.component_type) else {
                continue;
            };
            let Ok(user) = names::user(&l.user) else {
                continue;
            };
            let minutes = limits::limit_value(&l.component_type, &l.limit)
                .and_then(|v| limits::tres_minutes(&l.component_type, v * comp.unit_factor));
            match minutes {
                Ok(m) => {
                    out.entry(user)
                        .or_default()
                        .insert(l.component_type.clone(), m);
                }
                Err(e) => {
                    self.out.diagnostics.push(Diagnostic::error(
                        "invalid_limit",
                        format!(
                            "resource {:?}: per-user {e} of {user}; that user's limits are left as they are",
                            r.name
                        ),
                    ));
                    invalid.insert(user);
                }
            }
        }
        Some((out, invalid))
    }
}
