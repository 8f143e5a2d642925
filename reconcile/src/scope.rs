//! Scoped plans: an event names one resource or project, and the pass that follows reads
//! and plans only the accounts it concerns, so a change reaches SLURM in the time of a
//! few small reads whatever the size of the site.
//!
//! A [`Scope`] is what such a read must show to plan the scope's desired state exactly
//! as a full read would: the desired accounts (with every name a new allocation may take)
//! and their users; the anchors and `root`, whose own rows only are read (the planner
//! never changes them or their users, and `root` may hold every user of the site); and
//! for users the members the desired state names plus every user found on the desired
//! accounts — with all of their associations, so a default account moved off a removal
//! lands where a full plan would put it.
//!
//! What a scoped read cannot show is every child of an account, so a scoped plan
//! (`PlanContext::scope`) never deletes an account (a terminated allocation waits for the
//! full pass, which also decides whether its project account goes) and never reports
//! unmanaged children; and it keeps only changes on the scope's accounts and users.
//!
//! The same reads serve the check after an apply ([`Scope::touched_by`],
//! [`Scope::overlay`]): only what the applied plan named is read again, over the rest of
//! the full read the plan was made from, which nothing wrote to.

use std::collections::BTreeSet;

use crate::fresh::MAX_SUFFIX;
use crate::names::{self, NameKind};
use crate::plan::{Action, Address, Kind, Plan};
use crate::state::{Desired, Observed};

/// Names above which a check after an apply reads the whole cluster again: one bulk
/// read is then cheaper than long `where` lists.
pub const MAX_TOUCHED_NAMES: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Accounts read by name: their account-level row and every user association on them.
    pub accounts: BTreeSet<String>,
    /// Accounts read by name for their account-level row only: `root`, the anchors, and
    /// parents that are not desired accounts.
    pub anchors: BTreeSet<String>,
    /// Users read by name: their default account and every association they have.
    pub users: BTreeSet<String>,
}

impl Scope {
    /// What a scoped read must cover to plan `desired`. The users found on these accounts
    /// are added by the read itself ([`Scope::with_users_of`]).
    pub fn of(desired: &Desired) -> Scope {
        let mut accounts: BTreeSet<String> = BTreeSet::new();
        // Parents are read for their own row: they are desired accounts themselves
        // (read whole anyway) or anchors.
        let mut rows_only: BTreeSet<String> = std::iter::once("root".to_string())
            .chain(desired.anchors.iter().cloned())
            .collect();
        for spec in desired.accounts.values() {
            accounts.insert(spec.name.clone());
            if let Some(parent) = spec.parent() {
                rows_only.insert(parent.to_string());
            }
            if spec.fresh {
                accounts.extend((1..=MAX_SUFFIX).map(|n| format!("{}-{n}", spec.name)));
            }
        }
        for stone in desired.tombstones.values() {
            accounts.insert(stone.account.clone());
        }
        let anchors = rows_only
            .into_iter()
            .filter(|a| !accounts.contains(a))
            .collect();
        let users = desired
            .associations
            .keys()
            .map(|k| k.user.clone())
            .collect();
        Scope {
            accounts,
            anchors,
            users,
        }
    }

    /// Every account read by name.
    pub fn names(&self) -> BTreeSet<String> {
        self.accounts.union(&self.anchors).cloned().collect()
    }

    /// Adds the users SLURM shows on the scope's accounts (a first read).
    pub fn with_users_of(mut self, observed: &Observed) -> Scope {
        self.users.extend(
            observed
                .associations
                .keys()
                .filter(|k| self.accounts.contains(&k.account))
                .map(|k| k.user.clone()),
        );
        self
    }

    /// The users a scoped read reads with all their associations, once its first round
    /// (`first`) is known: the scope's users and those found on its accounts, if they are
    /// names the agent writes (no other name goes into argv).
    pub fn users_read(&self, first: &Observed) -> BTreeSet<String> {
        self.clone()
            .with_users_of(first)
            .users
            .into_iter()
            .filter(|u| names::writable(NameKind::User, u))
            .collect()
    }

    /// What must be read again to check what applying `plan` did: every account and user
    /// its SLURM changes name, and `root` (a read without it is not plausible). `None`
    /// when the plan cannot be checked that way: it removes an account (which takes every
    /// child and association below it), names a SLURM object by no account or user, or
    /// names so many that one full read is cheaper. Waldur calls and storage are checked
    /// by reading those again in full.
    pub fn touched_by(plan: &Plan) -> Option<Scope> {
        let mut accounts = BTreeSet::new();
        let mut users = BTreeSet::new();
        for change in &plan.changes {
            if change.kind == Kind::Account && change.action == Action::Delete {
                return None;
            }
            match &change.address {
                Address::Account(a) | Address::Periodic(a) | Address::RawUsage(a, _) => {
                    accounts.insert(a.clone());
                }
                Address::Association(k) => {
                    accounts.insert(k.account.clone());
                    users.insert(k.user.clone());
                }
                Address::User(u) => {
                    users.insert(u.clone());
                }
                Address::Waldur(_) | Address::Directory(_) | Address::Quota(_) => {}
            }
        }
        accounts.remove("root");
        let writable = accounts
            .iter()
            .all(|a| names::writable(NameKind::Account, a))
            && users.iter().all(|u| names::writable(NameKind::User, u));
        if !writable || accounts.len() + users.len() > MAX_TOUCHED_NAMES {
            return None;
        }
        Some(Scope {
            accounts,
            anchors: BTreeSet::from(["root".to_string()]),
            users,
        })
    }

    /// `before` (a full read) with what a scoped read of this scope covers replaced by
    /// `fresh` (that read): the rows of the scope's accounts and anchors, every user
    /// association on the scope's accounts, and the users read with all their
    /// associations. QoS and TRES are read whole by a scoped read, so they come
    /// from `fresh`; storage and the RawUsage record are not SLURM's and are set apart.
    pub fn overlay(&self, before: &Observed, fresh: &Observed) -> Observed {
        let users = self.users_read(fresh);
        let covered_assoc = |k: &crate::state::AssocKey| {
            self.accounts.contains(&k.account) || users.contains(&k.user)
        };
        let mut out = Observed {
            cluster: before.cluster.clone(),
            accounts: before
                .accounts
                .iter()
                .filter(|(name, _)| !self.accounts.contains(*name) && !self.anchors.contains(*name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            associations: before
                .associations
                .iter()
                .filter(|(k, _)| !covered_assoc(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            users: before
                .users
                .iter()
                .filter(|(u, _)| !users.contains(*u))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            qos: fresh.qos.clone(),
            tres: fresh.tres.clone(),
            storage: Default::default(),
            raw_usage_resets: None,
        };
        out.accounts
            .extend(fresh.accounts.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.associations.extend(
            fresh
                .associations
                .iter()
                .filter(|(k, _)| covered_assoc(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        out.users.extend(
            fresh
                .users
                .iter()
                .filter(|(u, _)| users.contains(*u))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        out
    }

    /// What a scoped read of a cluster shows: `observed` cut down to the scope (for the
    /// sides that hold the whole cluster already: memory, snapshots).
    pub fn restrict(&self, observed: &Observed) -> Observed {
        let scope = self.clone().with_users_of(observed);
        Observed {
            // Storage is read apart, for what the (scoped) desired state needs.
            storage: Default::default(),
            raw_usage_resets: observed.raw_usage_resets.clone(),
            cluster: observed.cluster.clone(),
            accounts: observed
                .accounts
                .iter()
                .filter(|(name, _)| scope.accounts.contains(*name) || scope.anchors.contains(*name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            associations: observed
                .associations
                .iter()
                .filter(|(k, _)| {
                    scope.accounts.contains(&k.account) || scope.users.contains(&k.user)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            users: observed
                .users
                .iter()
                .filter(|(u, _)| scope.users.contains(*u))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            qos: observed.qos.clone(),
            tres: observed.tres.clone(),
        }
    }
}
