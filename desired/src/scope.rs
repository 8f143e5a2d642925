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
            policies: self.policies.clone(),
            usages: self
                .usages
                .iter()
                .filter(|(r, _)| kept.contains(&hex(r)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
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
        if self.policies.is_empty() {
            self.policies = other.policies;
        }
        self.usages.extend(other.usages);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(uuid: &str, project: &str, backend_id: &str) -> serde_json::Value {
        json!({
            "uuid": uuid, "name": "R", "slug": "r", "state": "OK", "backend_id": backend_id,
            "project_uuid": project, "project_slug": "p", "project_name": "P",
            "customer_slug": "c", "customer_name": "C", "limits": {}, "paused": false,
            "downscaled": false, "restrict_member_access": false
        })
    }

    fn docs() -> WaldurDocs {
        let (p1, p2) = (
            "b0000000000000000000000000000001",
            "b0000000000000000000000000000002",
        );
        let r = |n: u32| format!("e00000000000000000000000000000{n:02}");
        WaldurDocs {
            offering: serde_json::from_value(json!({"uuid": "f0000000000000000000000000000001"}))
                .unwrap(),
            resources: serde_json::from_value(json!([
                resource(&r(1), p1, "a_one"),
                resource(&r(2), p1, "a_two"),
                resource(&r(3), p2, "a_one"),
                resource(&r(4), p2, "a_four"),
            ]))
            .unwrap(),
            teams: (1..=4).map(|n| (r(n), Vec::new())).collect(),
            orders: serde_json::from_value(json!([{
                "uuid": "d0000000000000000000000000000001", "type": "Update",
                "state": "pending-provider", "marketplace_resource_uuid": r(2)
            }]))
            .unwrap(),
            user_limits: None,
            policies: Vec::new(),
            usages: Default::default(),
        }
    }

    fn uuids(d: &WaldurDocs) -> Vec<String> {
        let mut u: Vec<String> = d.resources.iter().map(|r| r.uuid.clone()).collect();
        u.sort();
        u
    }

    #[test]
    fn a_scope_keeps_its_resources_and_their_claimants() {
        let d = docs();
        let one = d.narrow(&DocScope::Resource(
            "e0000000000000000000000000000001".into(),
        ));
        // r3 claims a_one too: a full read would see both.
        assert_eq!(
            uuids(&one),
            [
                "e0000000000000000000000000000001",
                "e0000000000000000000000000000003"
            ]
        );
        assert!(one.orders.is_empty());
        let p1 = d.narrow(&DocScope::Project(
            "b0000000000000000000000000000001".into(),
        ));
        assert_eq!(p1.resources.len(), 3);
        assert_eq!(p1.orders.len(), 1);
        assert_eq!(p1.teams.len(), 3);
        let both = one.union(p1);
        assert_eq!(both.resources.len(), 3, "each resource once");
        assert_eq!(
            d.order_resource("d0000000-0000-0000-0000-000000000001")
                .as_deref(),
            Some("e0000000000000000000000000000002")
        );
    }
}
