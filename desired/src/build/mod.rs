//! Waldur documents + offering config -> desired SLURM state. Pure: no I/O, no clock, and
//! no observed SLURM values (that is what keeps the agent out of echo loops).
//!
//! Tree: `root_account -> customer -> project -> allocation` (or `parent_account ->
//! project -> allocation` in flat mode). Allocation account = backend_id, or for a new
//! resource `lower(allocation_prefix + slug)`.

mod allocation;
mod calls;
mod members;
mod orders;
mod periodic;
mod placement;

use std::collections::BTreeMap;

use agent_config::{DefaultAccountPolicy, Offering as OfferingConfig};
use agent_reconcile::plan::Diagnostic;
use agent_reconcile::state::Desired;

use crate::periodic::{Received, YearMonth};
use crate::waldur::{hex, Order, OrderKind, Resource, WaldurDocs};

pub use periodic::limit_field;

/// What the desired state depends on besides Waldur's documents and the config.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// The current month in the configured time zone (periodic policies count in it);
    /// `None`: no clock, so a periodic policy cannot be applied.
    pub month: Option<YearMonth>,
    /// Resource UUID (hex) -> the settings Waldur last published for it, as stored, or
    /// why they cannot be read.
    pub stored: BTreeMap<String, Result<Received, String>>,
}

/// Resource states whose accounts must exist (Updating/Terminating: an order is in flight
/// on a provisioned resource).
const LIVE_STATES: [&str; 4] = ["OK", "Erred", "Updating", "Terminating"];

/// Mastermind's resource states.
const KNOWN_STATES: [&str; 6] = [
    "OK",
    "Erred",
    "Creating",
    "Updating",
    "Terminating",
    "Terminated",
];

/// Builds the desired state of one offering.
/// Diagnostic code of a setting of the file this agent does not act on, where that
/// changes what SLURM ends up holding; plans show these first.
pub const SETTING_IGNORED: &str = agent_reconcile::render::SETTING_IGNORED;

pub fn build(cfg: &OfferingConfig, docs: &WaldurDocs) -> Desired {
    build_with(cfg, docs, &BuildContext::default())
}

/// [`build`] with the clock and the stored periodic settings.
pub fn build_with(cfg: &OfferingConfig, docs: &WaldurDocs, ctx: &BuildContext) -> Desired {
    let mut b = Builder {
        cfg,
        docs,
        ctx,
        policy: periodic::PolicyState::None,
        out: Desired::default(),
    };
    b.anchors();
    b.policy = b.policy_state();
    for setting in &cfg.ignored {
        b.out.diagnostics.push(Diagnostic::warning(
            SETTING_IGNORED,
            format!("offering {:?}: {setting}", cfg.name),
        ));
    }
    let orders = orders::by_resource(docs, &mut b.out.diagnostics);
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
    b.out.storage = crate::storage::for_desired(cfg, &b.out);
    b.out
}

struct Builder<'a> {
    cfg: &'a OfferingConfig,
    docs: &'a WaldurDocs,
    ctx: &'a BuildContext,
    policy: periodic::PolicyState,
    out: Desired,
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
        let kind = order.map(|o| &o.kind);
        if !KNOWN_STATES.contains(&r.state.as_str()) {
            // Not Mastermind's enum: nothing is inferred from it (the account, if any,
            // is left alone like one Waldur does not list).
            self.out.diagnostics.push(Diagnostic::warning(
                "unknown_resource_state",
                format!(
                    "resource {:?} ({}) has state {:?}, which Waldur does not have; left alone",
                    r.name,
                    hex(&r.uuid),
                    r.state
                ),
            ));
            return;
        }
        let live = LIVE_STATES.contains(&r.state.as_str()) && r.backend_id().is_some();
        match kind {
            Some(OrderKind::Create | OrderKind::Restore) => self.allocation(r, order),
            Some(OrderKind::Terminate) => self.terminate(r, order.expect("order")),
            Some(OrderKind::Update) if live => self.allocation(r, order),
            _ if live => self.allocation(r, None),
            _ => {}
        }
    }
}

#[cfg(test)]
mod periodic_tests;
#[cfg(test)]
mod tests;
