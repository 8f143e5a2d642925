//! The messages Mastermind publishes when the state it announces changes: orders,
//! resource flags, project roles and offering-user usernames.

use crate::state::World;
use serde_json::json;

impl World {
    /// `order`: `{order_uuid, order_state}` (on creation and on every state change).
    pub(crate) fn emit_order(&mut self, order_uuid: &str) {
        let Some(order) = self.order(order_uuid) else {
            return;
        };
        let fields = json!({ "order_uuid": order.uuid, "order_state": order.state });
        if let Some(offering) = self.resource(&order.resource).map(|r| r.offering.clone()) {
            self.emit(&offering, "order", fields);
        }
    }

    /// `resource`, when `paused`, `downscaled` or `restrict_member_access` changed.
    pub(crate) fn emit_resource_flags(&mut self, resource_uuid: &str) {
        let seq = self
            .events
            .resource_sequence
            .entry(resource_uuid.to_string())
            .or_insert(0);
        *seq += 1;
        let seq = *seq;
        let Some(r) = self.resource(resource_uuid) else {
            return;
        };
        let fields = json!({
            "resource_uuid": r.uuid,
            "resource_backend_id": r.backend_id,
            "downscaled": r.downscaled,
            "restrict_member_access": r.restrict_member_access,
            "paused": r.paused,
            "sequence_number": seq,
        });
        let offering = r.offering.clone();
        self.emit(&offering, "resource", fields);
    }

    /// `user_role` grant or revoke, for each offering with an OK resource in the project.
    pub(crate) fn emit_user_role(&mut self, project: &str, user: &str, role: &str, granted: bool) {
        let (Some(p), Some(u)) = (self.project(project), self.user(user)) else {
            return;
        };
        let fields = json!({
            "user_uuid": u.uuid,
            "user_username": u.username,
            "project_uuid": p.uuid,
            "project_name": p.name,
            "role_name": crate::views::new_role(role),
            "granted": granted,
        });
        let mut offerings: Vec<String> = (self.data.resources.iter())
            .filter(|r| r.project == project && r.state == "OK")
            .map(|r| r.offering.clone())
            .collect();
        offerings.sort();
        offerings.dedup();
        for o in offerings {
            self.emit(&o, "user_role", fields.clone());
        }
    }

    /// `offering_user` (`create`, `username_set`, …) with the backend IDs of the offering's
    /// resources in the user's projects.
    pub(crate) fn emit_offering_user(&mut self, ou_uuid: &str, action: &str, changed: &[&str]) {
        let Some(ou) = self.offering_user(ou_uuid) else {
            return;
        };
        let projects: Vec<&str> = (self.data.projects.iter())
            .filter(|p| p.members.iter().any(|m| m.user == ou.user))
            .map(|p| p.uuid.as_str())
            .collect();
        let backend_ids: Vec<&str> = (self.data.resources.iter())
            .filter(|r| r.offering == ou.offering && projects.contains(&r.project.as_str()))
            .filter(|r| !r.backend_id.is_empty() && r.state != "Terminated")
            .map(|r| r.backend_id.as_str())
            .collect();
        let fields = json!({
            "offering_user_uuid": ou.uuid,
            "user_uuid": ou.user,
            "username": ou.username,
            "state": ou.state,
            "action": action,
            "attributes": {},
            "changed_fields": changed,
            "resource_backend_ids": backend_ids,
        });
        let offering = ou.offering.clone();
        self.emit(&offering, "offering_user", fields);
    }
}
