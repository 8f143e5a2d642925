//! Waldur documents + offering config -> desired SLURM state. Pure: no I/O, no clock, and
//! no observed SLURM values (that is what keeps the agent out of echo loops).
//!
//! Tree: `root_account -> customer -> project -> allocation` (or `parent_account ->
//! project -> allocation` in flat mode). Allocation account = backend_id, or for a new
//! resource `lower(allocation_prefix + slug)`.

use std::collections::{BTreeMap, BTreeSet};

use agent_config::{DefaultAccountPolicy, Offering as OfferingConfig};
use agent_reconcile::names;
use agent_reconcile::plan::{Diagnostic, Reason};
use agent_reconcile::state::{
    AccountField, AccountSpec, AssocKey, AssocSpec, Desired, QosGrant, Stage, Tier, Tombstone,
    Value, WaldurCall,
};
use agent_reconcile::tres::TresMap;
use serde_json::json;

use crate::limits::{self, LimitInputs};
use crate::waldur::{hex, number, Order, Resource, WaldurDocs};

/// Resource states whose accounts must exist (Updating/Terminating: an order is in flight
/// on a provisioned resource).
const LIVE_STATES: [&str; 4] = ["OK", "Erred", "Updating", "Terminating"];

/// Builds the desired state of one offering.
pub fn build(cfg: &OfferingConfig, docs: &WaldurDocs) -> Desired {
    let mut b = Builder {
        cfg,
        docs,
        out: Desired::default(),
    };
    b.anchors();
    let orders = orders_by_resource(docs, &mut b.out.diagnostics);
    for resource in &docs.resources {
        let order = orders.get(&hex(&resource.uuid)).copied();
        b.resource(resource, order);
    }
    for (uuid, order) in &orders {
        if !docs.resources.iter().any(|r| &hex(&r.uuid) == uuid) {
            b.out.diagnostics.push(Diagnostic::warning(
                "order_without_resource",
                format!(
                    "order {} refers to resource {uuid}, which Waldur did not list; skipped",
                    order.uuid
                ),
            ));
        }
    }
    b.out
}

/// Open orders keyed by resource; orders not in pending-provider/executing are ignored.
fn orders_by_resource<'d>(
    docs: &'d WaldurDocs,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, &'d Order> {
    let mut map: BTreeMap<String, &Order> = BTreeMap::new();
    let mut orders: Vec<&Order> = docs.orders.iter().collect();
    orders.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    for o in orders {
        if !["pending-provider", "executing"].contains(&o.state.as_str()) {
            continue;
        }
        if !["Create", "Update", "Terminate", "Restore"].contains(&o.kind.as_str()) {
            diagnostics.push(Diagnostic::warning(
                "unknown_order_type",
                format!("order {} has unknown type {:?}; skipped", o.uuid, o.kind),
            ));
            continue;
        }
        let key = hex(&o.marketplace_resource_uuid);
        if let Some(prev) = map.get(&key) {
            diagnostics.push(Diagnostic::warning(
                "several_orders",
                format!("resource {key} has open orders {} and {}; only the first is handled this cycle", prev.uuid, o.uuid),
            ));
            continue;
        }
        map.insert(key, o);
    }
    map
}

struct Builder<'a> {
    cfg: &'a OfferingConfig,
    docs: &'a WaldurDocs,
    out: Desired,
}

/// The names an allocation hangs from.
struct Placement {
    customer: Option<String>,
    project: String,
    allocation: String,
}

impl Builder<'_> {
    fn anchors(&mut self) {
        let s = &self.cfg.slurm;
        match &s.parent_account {
            Some(p) => self.out.anchors.insert(p.clone()),
            None => self.out.anchors.insert(s.root_account.clone()),
        };
        if s.default_account_policy == DefaultAccountPolicy::Common {
            self.out.anchors.insert(s.default_account.clone());
        }
    }

    fn skip(&mut self, resource: &Resource, code: &str, why: String) {
        self.out.diagnostics.push(Diagnostic::error(
            code,
            format!(
                "resource {:?} ({}): {why}; skipped",
                resource.name,
                hex(&resource.uuid)
            ),
        ));
    }

    fn resource(&mut self, r: &Resource, order: Option<&Order>) {
        let kind = order.map(|o| o.kind.as_str());
        let live = LIVE_STATES.contains(&r.state.as_str()) && r.backend_id().is_some();
        match kind {
            Some("Create") | Some("Restore") => self.allocation(r, order),
            Some("Terminate") => self.terminate(r, order.expect("order")),
            Some("Update") if live => self.allocation(r, order),
            _ if live => self.allocation(r, None),
            _ => {}
        }
    }

    fn placement(&mut self, r: &Resource) -> Option<Placement> {
        let s = &self.cfg.slurm;
        let customer_slug = r.customer_slug.clone().unwrap_or_default();
        let project_slug = r.project_slug.clone().unwrap_or_default();
        if project_slug.is_empty() || (s.parent_account.is_none() && customer_slug.is_empty()) {
            self.skip(
                r,
                "missing_slug",
                "unset or missing slug fields (customer_slug/project_slug)".into(),
            );
            return None;
        }
        let customer = if s.parent_account.is_some() {
            None
        } else {
            match names::account(&format!("{}{}", s.customer_prefix, customer_slug)) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.skip(r, "invalid_name", e.to_string());
                    return None;
                }
            }
        };
        let project = match names::account(&format!("{}{}", s.project_prefix, project_slug)) {
            Ok(n) => n,
            Err(e) => {
                self.skip(r, "invalid_name", e.to_string());
                return None;
            }
        };
        let allocation = match r.backend_id() {
            Some(b) => names::account(b),
            None => {
                let policy = r
                    .offering_plugin_options
                    .get("account_name_generation_policy")
                    .and_then(|v| v.as_str())
                    .unwrap_or("resource_name");
                let base = if policy == "project_slug" {
                    &project_slug
                } else {
                    &r.slug
                };
                names::account(&format!("{}{}", s.allocation_prefix, base))
            }
        };
        let allocation = match allocation {
            Ok(n) => n,
            Err(e) => {
                self.skip(r, "invalid_name", e.to_string());
                return None;
            }
        };
        if allocation == project || Some(&allocation) == customer.as_ref() {
            self.skip(r, "name_collision", format!("allocation account {allocation} would coincide with its project/customer account"));
            return None;
        }
        Some(Placement {
            customer,
            project,
            allocation,
        })
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

    fn text_fields(
        parent: &str,
        description: &str,
        organization: &str,
        name: &str,
    ) -> BTreeMap<AccountField, Value> {
        let description = match names::free_text(description) {
            d if d.is_empty() => name.to_string(),
            d => d,
        };
        BTreeMap::from([
            (AccountField::Parent, Value::Text(parent.to_string())),
            (AccountField::Description, Value::Text(description)),
            (
                AccountField::Organization,
                Value::Text(organization.to_string()),
            ),
        ])
    }

    fn tree(&mut self, r: &Resource, p: &Placement) {
        let s = &self.cfg.slurm;
        let project_parent = match (&p.customer, &s.parent_account) {
            (_, Some(flat)) => flat.clone(),
            (Some(c), None) => c.clone(),
            (None, None) => s.root_account.clone(),
        };
        if let Some(c) = &p.customer {
            self.out.add_account(AccountSpec {
                name: c.clone(),
                tier: Tier::Customer,
                fields: Self::text_fields(&s.root_account, &r.customer_name, c, c),
                fresh: false,
                reason: Reason::new(
                    "waldur_customer",
                    format!(
                        "customer {} of Waldur resource {:?}",
                        r.customer_slug.as_deref().unwrap_or("?"),
                        r.name
                    ),
                ),
            });
        }
        self.out.add_account(AccountSpec {
            name: p.project.clone(),
            tier: Tier::Project,
            fields: Self::text_fields(&project_parent, &r.project_name, &p.project, &p.project),
            fresh: false,
            reason: Reason::new(
                "waldur_project",
                format!(
                    "project {} of Waldur resource {:?}",
                    r.project_slug.as_deref().unwrap_or("?"),
                    r.name
                ),
            ),
        });
    }

    fn allocation(&mut self, r: &Resource, order: Option<&Order>) {
        let Some(p) = self.placement(r) else {
            if let Some(o) = order.filter(|o| o.kind == "Create" || o.kind == "Restore") {
                self.fail_order(r, o);
            }
            return;
        };
        self.tree(r, &p);
        let s = &self.cfg.slurm;
        let mut fields = Self::text_fields(&p.project, &r.name, &p.project, &p.allocation);
        let waldur_limits = match order {
            Some(o) if o.kind == "Update" && !o.limits.is_empty() => &o.limits,
            _ => &r.limits,
        };
        if !s.periodic_limits.enabled {
            let (map, notes) = limits::grp_tres_mins(&LimitInputs {
                components: &self.cfg.components,
                waldur_limits,
                period: r.created.as_deref().zip(r.end_date.as_deref()),
            });
            for n in notes {
                self.out.diagnostics.push(Diagnostic::warning(
                    "prepaid_without_dates",
                    format!("{}: {n}", r.name),
                ));
            }
            if !map.is_empty() {
                fields.insert(AccountField::GrpTresMins, Value::Tres(map));
            }
        }
        let qos = self.qos(r, &mut fields);
        self.out.add_account(AccountSpec {
            name: p.allocation.clone(),
            tier: Tier::Allocation,
            fields,
            fresh: order.is_some_and(|o| o.kind == "Create") && r.backend_id().is_none(),
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

    /// Keeps the resource's Waldur view in step: the QoS recorded in backend_metadata
    /// (only when it differs, so a converged cycle sends nothing) and an Erred resource
    /// set back to OK once its SLURM side matches.
    fn resource_calls(
        &mut self,
        r: &Resource,
        order: Option<&Order>,
        account: &str,
        qos: Option<String>,
    ) {
        let res = hex(&r.uuid);
        if let Some(q) = qos {
            if r.backend_metadata.get("qos").and_then(|v| v.as_str()) != Some(q.as_str()) {
                let mut metadata = r.backend_metadata.clone();
                metadata.insert("qos".into(), json!(q));
                self.out.waldur_calls.push(WaldurCall {
                    id: format!("resource/{res}/set_backend_metadata"),
                    method: "POST".into(),
                    path: format!(
                        "/api/marketplace-provider-resources/{res}/set_backend_metadata/"
                    ),
                    body: Some(json!({ "backend_metadata": metadata })),
                    stage: Stage::After,
                    accounts: vec![account.to_string()],
                    after_calls: vec![],
                    reason: Reason::new(
                        "waldur_resource",
                        format!("record QoS {q} of {account} in Waldur"),
                    ),
                    offering: self.cfg.uuid.clone(),
                    on_failure: None,
                });
            }
        }
        if r.state == "Erred" && order.is_none() {
            self.out.waldur_calls.push(WaldurCall {
                id: format!("resource/{res}/set_as_ok"),
                method: "POST".into(),
                path: format!("/api/marketplace-provider-resources/{res}/set_as_ok/"),
                body: None,
                stage: Stage::After,
                accounts: vec![account.to_string()],
                after_calls: vec![],
                reason: Reason::new(
                    "waldur_resource",
                    format!(
                        "{:?} is Erred in Waldur; its SLURM account {account} is in order",
                        r.name
                    ),
                ),
                offering: self.cfg.uuid.clone(),
                on_failure: None,
            });
        }
    }

    /// A Create/Restore order that cannot be carried out (bad slug or name): approve it if
    /// needed, then mark it erred with the reason the builder reported.
    fn fail_order(&mut self, r: &Resource, order: &Order) {
        let o = hex(&order.uuid);
        let message = self
            .out
            .diagnostics
            .last()
            .map(|d| d.text.clone())
            .unwrap_or_else(|| format!("resource {:?} cannot be placed in SLURM", r.name));
        let after: Vec<String> = self.approve_if_pending(r, order).into_iter().collect();
        self.out.waldur_calls.push(WaldurCall {
            id: format!("order/{o}/set_state_erred"),
            method: "POST".into(),
            path: format!("/api/marketplace-orders/{o}/set_state_erred/"),
            body: Some(json!({ "error_message": message, "error_traceback": "" })),
            stage: Stage::After,
            accounts: vec![],
            after_calls: after,
            reason: Reason::new(
                "waldur_order",
                format!("{} order {o} cannot be carried out: {message}", order.kind),
            ),
            offering: self.cfg.uuid.clone(),
            on_failure: None,
        });
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

    fn qos_enforcement(&self) -> bool {
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

    fn members(&mut self, r: &Resource, account: &str) {
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
                Err(e) => self.out.diagnostics.push(Diagnostic::error(
                    "invalid_name",
                    format!("resource {:?}: {e}", r.name),
                )),
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
        for m in &team {
            let (Some(username), Some("OK")) = (
                m.offering_user_username.as_deref(),
                m.offering_user_state.as_deref(),
            ) else {
                continue;
            };
            if username.is_empty() {
                continue;
            }
            let user = match names::user(username) {
                Ok(u) => u,
                Err(e) => {
                    self.out.diagnostics.push(Diagnostic::error(
                        "invalid_name",
                        format!(
                            "resource {:?}: team member {}: {e}; not added",
                            r.name, m.username
                        ),
                    ));
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
                        max_tres_mins: user_limits
                            .as_ref()
                            .map(|l| l.get(&user).cloned().unwrap_or_default()),
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

    /// Per-user MaxTRESMins, when the per-user limits were read: user -> TRES map.
    fn user_limits(&self, r: &Resource) -> Option<BTreeMap<String, TresMap>> {
        let all = self.docs.user_limits.as_ref()?;
        let mut out: BTreeMap<String, TresMap> = BTreeMap::new();
        for l in all.get(&hex(&r.uuid)).into_iter().flatten() {
            let Some(comp) = self.cfg.components.get(&l.component_type) else {
                continue;
            };
            let Some(v) = number(&l.limit) else { continue };
            let Ok(user) = names::user(&l.user) else {
                continue;
            };
            out.entry(user).or_default().insert(
                l.component_type.clone(),
                (v * comp.unit_factor).trunc() as u64,
            );
        }
        Some(out)
    }

    fn terminate(&mut self, r: &Resource, order: &Order) {
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

    /// `approve_by_provider` for an order still waiting for the provider; returns the call's
    /// id for the calls that must follow it.
    fn approve_if_pending(&mut self, r: &Resource, order: &Order) -> Option<String> {
        if order.state != "pending-provider" {
            return None;
        }
        let o = hex(&order.uuid);
        let id = format!("order/{o}/approve_by_provider");
        self.out.waldur_calls.push(WaldurCall {
            id: id.clone(),
            method: "POST".into(),
            path: format!("/api/marketplace-orders/{o}/approve_by_provider/"),
            body: Some(json!({})),
            stage: Stage::Before,
            accounts: vec![],
            after_calls: vec![],
            reason: Reason::new(
                "waldur_order",
                format!(
                    "{} order {o} for {:?} awaits the provider",
                    order.kind, r.name
                ),
            ),
            offering: self.cfg.uuid.clone(),
            on_failure: None,
        });
        Some(id)
    }

    /// The Waldur calls that drive an order around the SLURM work.
    fn order_calls(&mut self, r: &Resource, order: &Order, account: &str) {
        let o = hex(&order.uuid);
        let res = hex(&r.uuid);
        let accounts: Vec<String> = Some(account.to_string())
            .filter(|a| !a.is_empty())
            .into_iter()
            .collect();
        let reason = |text: String| Reason::new("waldur_order", text);
        let mut done_after: Vec<String> = self.approve_if_pending(r, order).into_iter().collect();
        if order.kind == "Create" || order.kind == "Restore" {
            if r.backend_id() != Some(account) {
                self.out.waldur_calls.push(WaldurCall {
                    id: format!("resource/{res}/set_backend_id"),
                    method: "POST".into(),
                    path: format!("/api/marketplace-provider-resources/{res}/set_backend_id/"),
                    body: Some(json!({ "backend_id": account })),
                    stage: Stage::After,
                    accounts: accounts.clone(),
                    after_calls: vec![],
                    reason: reason(format!(
                        "record SLURM account {account} as the backend id of {:?}",
                        r.name
                    )),
                    offering: self.cfg.uuid.clone(),
                    on_failure: None,
                });
                done_after.push(format!("resource/{res}/set_backend_id"));
            }
            let reported = limits::reported_limits(&self.cfg.components, &r.limits);
            if !reported.is_empty() {
                self.out.waldur_calls.push(WaldurCall {
                    id: format!("resource/{res}/set_limits"),
                    method: "POST".into(),
                    path: format!("/api/marketplace-provider-resources/{res}/set_limits/"),
                    body: Some(json!({ "limits": reported })),
                    stage: Stage::After,
                    accounts: accounts.clone(),
                    after_calls: vec![],
                    reason: reason(format!("report the limits applied to {account}")),
                    offering: self.cfg.uuid.clone(),
                    on_failure: None,
                });
            }
        }
        self.out.waldur_calls.push(WaldurCall {
            id: format!("order/{o}/set_state_done"),
            method: "POST".into(),
            path: format!("/api/marketplace-orders/{o}/set_state_done/"),
            body: None,
            stage: Stage::After,
            accounts,
            after_calls: done_after,
            reason: reason(format!(
                "{} order {o} for {:?} is complete once SLURM matches",
                order.kind, r.name
            )),
            offering: self.cfg.uuid.clone(),
            on_failure: Some(format!("/api/marketplace-orders/{o}/set_state_erred/")),
        });
    }
}

#[cfg(test)]
mod tests;
