//! The part of an offering an event names, and the same cut made on documents already in
//! memory (recorded snapshots, the in-memory Waldur of the tests), so every side answers
//! a scoped read alike.

use std::collections::BTreeSet;

use crate::waldur::{hex, WaldurDocs};

/// What a scoped pass re-reads of one offering.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DocScope {
    /// One resource (UUID hex) and its open orders.
    Resource(String),
    /// The resources of one project (UUID hex) in the offering, and their open orders.
    Project(String),
}

impl WaldurDocs {
    /// The documents a scoped read of `scope` gives: its resources, any other resource
    /// with one of their backend IDs, and their orders, teams and per-user limits.
    pub fn narrow(&self, scope: &DocScope) -> WaldurDocs {
        let named = |r: &crate::waldur::Resource| match scope {
            DocScope::Resource(u) => hex(&r.uuid) == hex(u),
            DocScope::Project(p) => hex(&r.project_uuid) == hex(p),
        };
        let backend_ids: BTreeSet<&str> = self
            .resources
            .iter()
            .filter(|r| named(r))
            .filter_map(|r| r.backend_id())
            .collect();
        let resources: Vec<_> = self
            .resources
            .iter()
            .filter(|r| named(r) || r.backend_id().is_some_and(|b| backend_ids.contains(b)))
            .cloned()
            .collect();
        let kept: BTreeSet<String> = resources.iter().map(|r| hex(&r.uuid)).collect();
        WaldurDocs {
            offering: self.offering.clone(),
            orders: self
                .orders
                .iter()
                .filter(|o| kept.contains(&hex(&o.marketplace_resource_uuid)))
                .cloned()
                .collect(),
            teams: self
                .teams
                .iter()
                .filter(|(r, _)| kept.contains(&hex(r)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            user_limits: self.user_limits.as_ref().map(|l| {
                l.iter()
                    .filter(|(r, _)| kept.contains(&hex(r)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }),
            resources,
        }
    }

    /// Both reads of one offering together (two scopes of one pass), each document once.
    pub fn union(mut self, other: WaldurDocs) -> WaldurDocs {
        let have: BTreeSet<String> = self.resources.iter().map(|r| hex(&r.uuid)).collect();
        self.resources.extend(
            other
                .resources
                .into_iter()
                .filter(|r| !have.contains(&hex(&r.uuid))),
        );
        let orders: BTreeSet<String> = self.orders.iter().map(|o| hex(&o.uuid)).collect();
        self.orders.extend(
            other
                .orders
                .into_iter()
                .filter(|o| !orders.contains(&hex(&o.uuid))),
        );
        self.teams.extend(other.teams);
        match (&mut self.user_limits, other.user_limits) {
            (Some(mine), Some(theirs)) => mine.extend(theirs),
            (None, theirs) => self.user_limits = theirs,
            (Some(_), None) => {}
        }
        self
    }

    /// The resource an order names, when the order is in these documents.
    pub fn order_resource(&self, order_uuid: &str) -> Option<String> {
        self.orders
            .iter()
            .find(|o| hex(&o.uuid) == hex(order_uuid))
            .map(|o| hex(&o.marketplace_resource_uuid))
    }
}
