//! Compares desired and observed state and produces the ordered plan.
//!
//! Rules, in the words an operator would use:
//! - Only what the agent owns is changed: the accounts in the desired state, the user
//!   associations on those accounts, and accounts that Waldur says are terminated
//!   (tombstones). Anything else is at most reported as a diagnostic.
//! - Accounts are created parents first and deleted children first; a user's default
//!   account is moved off an association before that association is removed.
//! - A change that cannot succeed (its parent account is missing, it names a QoS the
//!   cluster does not have) is left out and reported, rather than planned to fail.
//! - The result depends only on the inputs: the same snapshots give the same bytes.
//!
//! The passes, in the order they run:
//! - [`ownership`]: only accounts of the managed tree are written;
//! - [`capabilities`]: anchors exist; TRES and QoS the cluster lacks are dropped;
//! - [`accounts`]: account creations and updates, and unmanaged children reported;
//! - [`associations`]: user associations added, updated and removed;
//! - [`deletions`]: terminated accounts removed, default accounts moved off removals;
//! - [`storage`](mod@storage): home and project directories and their quotas, after the
//!   associations and accounts they serve;
//! - [`periodic`]: the fields Waldur's periodic policy owns, the RawUsage reset once per
//!   period, and the result report;
//! - [`waldur_calls`]: the Waldur calls that report the SLURM outcome.

mod accounts;
mod associations;
mod capabilities;
mod deletions;
mod ownership;
mod periodic;
mod storage;
mod waldur_calls;

use std::collections::{BTreeMap, BTreeSet};

use crate::commands::SlurmTarget;
use crate::names::{self, NameKind};
use crate::plan::{Address, Change, Diagnostic, Phase, Plan};
use crate::scope::Scope;
use crate::state::{Desired, Observed, Tier};

/// Settings that shape the commands, not the state.
#[derive(Debug, Clone)]
pub struct PlanContext {
    pub target: SlurmTarget,
    /// Cancel the jobs of an association or account before removing it.
    pub cancel_jobs: bool,
    /// Also when the association only moves to another partition (a config change):
    /// off, the old one goes once its jobs have ended.
    pub cancel_jobs_on_partition_change: bool,
    /// Preferred new default account when a user's default account goes away.
    pub fallback_default_account: Option<String>,
    /// A scoped plan ([`crate::scope`]): SLURM was read for these accounts only, so
    /// only they change, nothing is deleted and no unmanaged child is reported.
    pub scope: Option<Scope>,
}

/// Plans the changes that make `observed` look like `desired`.
pub fn plan(desired: &Desired, observed: &Observed, ctx: &PlanContext) -> Plan {
    let renamed = crate::fresh::resolve(desired, observed);
    let desired = renamed.as_ref().unwrap_or(desired);
    let mut p = Planner {
        desired,
        observed,
        ctx,
        changes: Vec::new(),
        diagnostics: desired.diagnostics.clone(),
        blocked: BTreeSet::new(),
        account_addresses: BTreeMap::new(),
        deleted_accounts: BTreeSet::new(),
        collided: BTreeSet::new(),
        storage_bases: BTreeMap::new(),
    };
    p.check_anchors();
    p.check_ownership();
    let specs = p.effective_specs();
    p.plan_accounts(&specs);
    p.plan_periodic();
    p.plan_associations();
    if ctx.scope.is_some() {
        p.defer_tombstones();
    } else {
        p.plan_tombstones();
    }
    p.plan_default_account_moves();
    if ctx.scope.is_none() {
        p.report_unmanaged(&specs);
    }
    p.plan_storage();
    p.plan_waldur_calls();
    p.keep_in_scope();
    p.finish()
}

struct Planner<'a> {
    desired: &'a Desired,
    observed: &'a Observed,
    ctx: &'a PlanContext,
    changes: Vec<(SortKey, Change)>,
    diagnostics: Vec<Diagnostic>,
    /// Accounts whose changes were left out: nothing that depends on them is planned.
    blocked: BTreeSet<String>,
    /// Account name -> addresses of the changes planned for it (its own and its users').
    account_addresses: BTreeMap<String, Vec<Address>>,
    deleted_accounts: BTreeSet<String>,
    /// New allocations for which no free name was found: their orders are erred.
    collided: BTreeSet<String>,
    /// Bases of homes and project directories checked so far, and whether usable.
    storage_bases: BTreeMap<String, bool>,
}

/// Sort key within a phase. Addresses sort by their rendered form, which keeps plans
/// byte-stable whatever the variant order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    phase: Phase,
    rank: i32,
    seq: usize,
    address: String,
}

fn tier_rank(tier: Tier) -> i32 {
    match tier {
        Tier::Customer => 0,
        Tier::Project => 1,
        Tier::Allocation => 2,
    }
}

impl Planner<'_> {
    /// Adds a SLURM change, sorted by `rank` then address within its phase, and records
    /// it under `account` for the Waldur calls that wait for that account.
    fn push(&mut self, rank: i32, account: Option<&str>, change: Change) {
        if let Some(a) = account {
            self.account_addresses
                .entry(a.to_string())
                .or_default()
                .push(change.address.clone());
        }
        let key = SortKey {
            phase: change.phase,
            rank,
            seq: 0,
            address: change.address.to_string(),
        };
        self.changes.push((key, change));
    }

    /// Whether every name read from SLURM that a command of `what` would carry is one the
    /// agent writes; if not, the change is left out with an error naming it.
    fn names_writable(&mut self, what: &str, names: &[(NameKind, &str)]) -> bool {
        let bad: Vec<String> = names
            .iter()
            .filter(|(kind, name)| !name.is_empty() && !names::writable(*kind, name))
            .map(|(kind, name)| format!("{kind} {:?}", crate::escape::text(name)))
            .collect();
        if bad.is_empty() {
            return true;
        }
        self.diagnostics.push(Diagnostic::error(
            "unwritable_name",
            format!(
                "{what} is left alone: SLURM holds the {} this agent does not put into commands (change it by hand)",
                bad.join(", ")
            ),
        ));
        false
    }

    fn exists_or_planned(&self, account: &str) -> bool {
        self.observed.accounts.contains_key(account)
            || (self.desired.accounts.contains_key(account) && !self.blocked.contains(account))
    }

    /// A scoped plan: terminated accounts wait for the full pass (which sees every child
    /// and decides on the project account too); their orders' calls are held until then.
    fn defer_tombstones(&mut self) {
        for stone in self.desired.tombstones.values() {
            if self.observed.accounts.contains_key(&stone.account)
                && !self.desired.accounts.contains_key(&stone.account)
            {
                self.blocked.insert(stone.account.clone());
                self.diagnostics.push(Diagnostic::info(
                    "deletion_deferred",
                    format!(
                        "{}: account {} is removed by the next full pass",
                        stone.reason.text, stone.account
                    ),
                ));
            }
        }
    }

    /// A scoped plan keeps only changes on the accounts it read, and the Waldur calls
    /// whose SLURM changes all stayed. (By construction nothing falls out; this holds the
    /// line should a pass ever plan beyond what was read.)
    fn keep_in_scope(&mut self) {
        let Some(scope) = &self.ctx.scope else { return };
        let outside: BTreeSet<Address> = self
            .changes
            .iter()
            .map(|(_, c)| &c.address)
            .filter(|a| a.account().is_some_and(|acc| !scope.accounts.contains(acc)))
            .cloned()
            .collect();
        if outside.is_empty() {
            return;
        }
        self.changes.retain(|(_, c)| {
            !outside.contains(&c.address) && !c.depends_on.iter().any(|d| outside.contains(d))
        });
        self.diagnostics.push(Diagnostic::error(
            "outside_scope",
            format!(
                "a scoped plan left out {} change(s) outside what it read ({}); the next full pass plans them",
                outside.len(),
                outside.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }

    fn finish(mut self) -> Plan {
        self.changes.sort_by(|a, b| a.0.cmp(&b.0));
        // Only keep dependencies on changes that are in the plan.
        let present: BTreeSet<Address> = self
            .changes
            .iter()
            .map(|(_, c)| c.address.clone())
            .collect();
        let changes = self
            .changes
            .into_iter()
            .map(|(_, mut c)| {
                c.depends_on
                    .retain(|d| present.contains(d) && d != &c.address);
                c.depends_on.sort_by_key(|a| a.to_string());
                c.depends_on.dedup();
                c
            })
            .collect();
        self.diagnostics.sort();
        self.diagnostics.dedup();
        Plan::new(&self.observed.cluster, changes, self.diagnostics)
    }
}
