//! The allocation account of a resource: text fields, limits, QoS (or GrpSubmitJobs) from
//! the paused/downscaled flags, and what a Terminate order leaves (a soft-deleted account
//! or a tombstone).

use std::collections::{BTreeMap, BTreeSet};

use agent_reconcile::names;
use agent_reconcile::plan::{Diagnostic, Reason};
use agent_reconcile::state::{AccountField, AccountSpec, Tier, Tombstone, Value};
use agent_reconcile::tres::TresMap;

use super::Builder;
use crate::limits::{self, LimitInputs};
use crate::waldur::{hex, Order, OrderKind, Resource};

impl Builder<'_> {
    pub(super) fn allocation(&mut self, r: &Resource, order: Option<&Order>) {
        let Some(p) = self.placement(r) else {
            if let Some(o) = order.filter(|o| o.kind.provisions()) {
                self.fail_order(r, o);
            }
            return;
        };
        let mut fields = Self::text_fields(&p.project, &r.name, &p.project, &p.allocation);
        let waldur_limits = match order {
            Some(o) if o.kind == OrderKind::Update && !o.limits.is_empty() => &o.limits,
            _ => &r.limits,
        };
        let mut order = order;
        // A periodic policy owns its limit field: the order does not write that one.
        let owned = self.periodic(r, &p.allocation);
        if owned != Some(AccountField::GrpTresMins) {
            match limits::grp_tres_mins(&LimitInputs {
                components: &self.cfg.components,
                waldur_limits,
                period: r.created.as_deref().zip(r.end_date.as_deref()),
            }) {
                Ok(got) => {
                    for n in got.notes {
                        self.out.diagnostics.push(Diagnostic::warning(
                            "prepaid_without_dates",
                            format!("{}: {n}", r.name),
                        ));
                    }
                    if !got.tres.is_empty() {
                        fields.insert(AccountField::GrpTresMins, Value::Tres(got.tres));
                        if !got.unnamed.is_empty() {
                            self.unnamed_limits(r, &p.allocation, got.unnamed);
                        }
                    }
                }
                Err(e) => {
                    // The limits stay as SLURM has them; an order that asked for these
                    // values is erred rather than carried out without its caps.
                    self.out.diagnostics.push(Diagnostic::error(
                        "invalid_limit",
                        format!(
                            "resource {:?} ({}): {e}; its limits in SLURM are left as they are",
                            r.name,
                            hex(&r.uuid)
                        ),
                    ));
                    if let Some(o) = order.take() {
                        self.fail_order(r, o);
                        if o.kind.provisions() {
                            return;
                        }
                    }
                }
            }
        }
        self.tree(r, &p);
        let qos = self.qos(r, &mut fields);
        self.out.add_account(AccountSpec {
            name: p.allocation.clone(),
            tier: Tier::Allocation,
            fields,
            fresh: order.is_some_and(|o| o.kind == OrderKind::Create) && r.backend_id().is_none(),
            reason: self.resource_reason(r, "allocation of"),
        });
        if !r.restrict_member_access {
            self.members(r, &p.allocation);
        }
        if let Some(o) = order {
            self.order_calls(r, o, &p.allocation);
        }
        self.resource_calls(r, order, &p.allocation, qos);
    }

    /// Limit components Waldur's limits leave out: their TRES stay as SLURM has them.
    fn unnamed_limits(&mut self, r: &Resource, account: &str, tres: BTreeSet<String>) {
        let names = tres.iter().cloned().collect::<Vec<_>>().join(", ");
        self.out.diagnostics.push(Diagnostic::info(
            "limit_not_named",
            format!(
                "resource {:?} ({}): Waldur's limits do not name {names}; those GrpTRESMins entries of {account} stay as SLURM has them",
                r.name,
                hex(&r.uuid)
            ),
        ));
        self.out.unnamed_limits.insert(account.to_string(), tres);
    }

    /// Account QoS from the paused/downscaled flags, or GrpSubmitJobs in QoS enforcement mode.
    /// Returns the QoS name when one is managed (not in QoS enforcement mode).
    fn qos(&mut self, r: &Resource, fields: &mut BTreeMap<AccountField, Value>) -> Option<String> {
        let s = &self.cfg.slurm;
        if self.qos_enforcement() {
            let value = if r.paused || r.downscaled {
                Some(0)
            } else {
                None
            };
            fields.insert(AccountField::GrpSubmitJobs, Value::Count(value));
            return None;
        }
        let (qos, flag) = if r.paused {
            (s.qos_paused.clone(), Some("paused"))
        } else if r.downscaled {
            (s.qos_downscaled.clone(), Some("downscaled"))
        } else {
            (Some(s.qos_default.clone()), None)
        };
        match (qos, flag) {
            (Some(q), _) => {
                fields.insert(AccountField::Qos, Value::List(BTreeSet::from([q.clone()])));
                return Some(q);
            }
            (None, Some(flag)) => self.out.diagnostics.push(Diagnostic::warning(
                "qos_not_configured",
                format!(
                    "resource {:?} is {flag} in Waldur but backend_settings.qos_{flag} is not set; its QoS is left alone",
                    r.name
                ),
            )),
            (None, None) => {}
        }
        None
    }

    pub(super) fn qos_enforcement(&self) -> bool {
        let s = &self.cfg.slurm;
        if !s.qos_enforcement_enabled {
            return false;
        }
        s.enforce_offering_qos.unwrap_or_else(|| {
            self.docs
                .offering
                .plugin_options
                .get("enforce_qos")
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        })
    }

    pub(super) fn terminate(&mut self, r: &Resource, order: &Order) {
        let Some(account) = r.backend_id() else {
            // Nothing was ever created: the order only needs closing.
            self.order_calls(r, order, "");
            return;
        };
        let Ok(account) = names::account(account) else {
            self.skip(
                r,
                "invalid_name",
                format!("backend_id {account:?} is not a valid account name"),
            );
            return;
        };
        if self.cfg.slurm.soft_delete {
            // Soft delete keeps the account (for a later Restore) with zero limits and no users.
            let Some(p) = self.placement(r) else { return };
            self.tree(r, &p);
            let mut fields = Self::text_fields(&p.project, &r.name, &p.project, &account);
            let zeros: TresMap = self.cfg.components.keys().map(|k| (k.clone(), 0)).collect();
            fields.insert(AccountField::GrpTresMins, Value::Tres(zeros));
            self.out.add_account(AccountSpec {
                name: account.clone(),
                tier: Tier::Allocation,
                fields,
                fresh: false,
                reason: self
                    .resource_reason(r, "terminated (soft delete: limits zeroed, users removed)"),
            });
        } else {
            let cascade_parent = r.project_slug.as_deref().and_then(|slug| {
                names::account(&format!("{}{}", self.cfg.slurm.project_prefix, slug)).ok()
            });
            self.out.tombstones.insert(
                account.clone(),
                Tombstone {
                    account: account.clone(),
                    tier: Tier::Allocation,
                    cascade_parent,
                    reason: Reason::new(
                        "terminated",
                        format!(
                            "Waldur order {} terminates resource {:?} ({})",
                            order.uuid,
                            r.name,
                            hex(&r.uuid)
                        ),
                    ),
                },
            );
        }
        self.order_calls(r, order, &account);
    }

    fn resource_reason(&self, r: &Resource, what: &str) -> Reason {
        Reason::new(
            "waldur_resource",
            format!(
                "{what} Waldur resource {:?} ({}) in project {}",
                r.name,
                hex(&r.uuid),
                r.project_slug.as_deref().unwrap_or("?")
            ),
        )
    }
}
