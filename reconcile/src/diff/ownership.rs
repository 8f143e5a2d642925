//! Which accounts the agent may write. Waldur names an account (a resource's
//! `backend_id`, a customer or project slug); that name is trusted only when SLURM agrees
//! the account belongs to the managed tree:
//! - absent (the agent will create it), or
//! - under the parent the tree expects, or under another account of the managed tree one
//!   tier up (a project moved to another customer, an allocation to another project:
//!   reparented, as the Python agent does), or
//! - carrying the agent's mark wherever it was moved: the organisation the agent writes
//!   (a customer's or project's own name, an allocation's project), so an account an
//!   admin moved out of the tree by hand is moved back;
//! - never an anchor (root, the flat parent, the default account), never an account the
//!   desired state claims twice, never an account that sits outside the tree.
//!
//! An account that fails is left out with an error naming the Waldur resource behind it;
//! everything that depends on it (its users, accounts below it, the Waldur calls that
//! would report it done) is left out too.

use std::collections::BTreeSet;

use super::Planner;
use crate::plan::Diagnostic;
use crate::state::{AccountSpec, Tier};

impl Planner<'_> {
    pub(super) fn check_ownership(&mut self) {
        for name in &self.desired.conflicts {
            self.blocked.insert(name.clone());
        }
        let tier_names = |tier: Tier| -> BTreeSet<&str> {
            self.desired
                .accounts
                .values()
                .filter(|s| s.tier == tier)
                .map(|s| s.name.as_str())
                .collect()
        };
        let customers = tier_names(Tier::Customer);
        let projects = tier_names(Tier::Project);
        let mut refused: Vec<(String, String)> = Vec::new();
        for spec in self.desired.accounts.values() {
            if let Some(why) = self.not_ours(spec, &customers, &projects) {
                refused.push((spec.name.clone(), why));
            }
        }
        for stone in self.desired.tombstones.values() {
            let Some(current) = self.observed.accounts.get(&stone.account) else {
                continue;
            };
            let parent = current.parent.as_deref().unwrap_or("");
            let why = if self.desired.anchors.contains(&stone.account) {
                Some("it is an anchor of the managed tree".to_string())
            } else if self.desired.accounts.contains_key(&stone.account) {
                None // Wanted as well: kept, and reported by the account pass.
            } else if stone.cascade_parent.as_deref() != Some(parent) && !projects.contains(parent)
            {
                Some(format!(
                    "it sits under {}, not under a project account of the managed tree",
                    shown(parent)
                ))
            } else {
                None
            };
            if let Some(why) = why {
                refused.push((
                    stone.account.clone(),
                    format!("{}: {why}; it is not removed", stone.reason.text),
                ));
            }
        }
        for (name, why) in refused {
            self.diagnostics.push(Diagnostic::error(
                "not_owned",
                format!("account {name} is not the agent's to change ({why})"),
            ));
            self.blocked.insert(name);
        }
    }

    /// Why a desired account must not be written, if it must not.
    fn not_ours(
        &self,
        spec: &AccountSpec,
        customers: &BTreeSet<&str>,
        projects: &BTreeSet<&str>,
    ) -> Option<String> {
        // A name just generated for a new allocation: an existing account of that name is
        // a collision, which the account pass resolves with a suffix or errs the order.
        if spec.fresh {
            return None;
        }
        if self.desired.anchors.contains(&spec.name) {
            return Some(format!(
                "{}: the name is an anchor of the managed tree",
                spec.reason.text
            ));
        }
        let current = self.observed.accounts.get(&spec.name)?;
        let parent = current.parent.as_deref().unwrap_or("");
        let expected = spec.parent().unwrap_or("");
        let org = current.organization.as_str();
        let inside = parent == expected
            || match spec.tier {
                Tier::Customer => org == spec.name,
                Tier::Project => {
                    customers.contains(parent)
                        || self.desired.anchors.contains(parent)
                        || org == spec.name
                }
                Tier::Allocation => {
                    projects.contains(parent) || org == expected || projects.contains(org)
                }
            };
        (!inside).then(|| {
            format!(
                "{}: SLURM has it under {}, outside the managed tree; fix the name in Waldur or move the account under {expected}",
                spec.reason.text,
                shown(parent)
            )
        })
    }
}

fn shown(parent: &str) -> &str {
    if parent.is_empty() {
        "no parent (a cluster root)"
    } else {
        parent
    }
}
