//! The order state machine and its effect on the order's resource, after
//! Mastermind (only the provider-side transitions the agent drives), plus
//! order creation for the control API (the agent never creates orders).
//! Creation and every state change publish an `order` event.

use crate::http::{ApiError, ApiResult};
use crate::ids;
use crate::model::*;
use crate::seed::slugify;
use crate::state::World;
use serde::Deserialize;

/// Body of `POST /__fake__/orders`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewOrder {
    /// `Create`, `Update`, `Terminate` or `Restore`.
    #[serde(rename = "type")]
    pub order_type: String,
    /// Existing resource (Update/Terminate/Restore).
    pub resource: Option<String>,
    /// Create only: where the new resource lives.
    pub offering: Option<String>,
    pub project: Option<String>,
    pub name: Option<String>,
    /// Create only: preset the new resource's UUID.
    pub resource_uuid: Option<String>,
    pub uuid: Option<String>,
    pub limits: Object,
    pub attributes: Object,
    pub plan: Option<String>,
    /// Initial order state; `pending-provider` unless given (`executing` = auto-approved).
    pub state: Option<String>,
}

fn uuid_arg(field: &str, raw: Option<&str>) -> ApiResult<String> {
    let raw = raw.ok_or_else(|| ApiError::required(field))?;
    ids::normalize(raw).ok_or_else(|| ApiError::field(field, "Must be a valid UUID."))
}

impl World {
    fn order_or_404(&self, uuid: &str) -> ApiResult<&Order> {
        self.order(uuid).ok_or_else(ApiError::not_found)
    }

    /// Moves the order to `to` if it is in one of `valid`, else 409.
    fn transition(&mut self, uuid: &str, valid: &[&str], to: &str) -> ApiResult<Order> {
        let now = self.now();
        let order = self.order_or_404(uuid)?;
        if !valid.contains(&order.state.as_str()) {
            return Err(ApiError::wrong_state(valid));
        }
        let order = self.order_mut(uuid).ok_or_else(ApiError::not_found)?;
        order.state = to.to_string();
        order.modified = now;
        let order = order.clone();
        self.emit_order(uuid);
        Ok(order)
    }

    fn set_resource_state(&mut self, uuid: &str, state: &str) {
        let now = self.now();
        if let Some(r) = self.resource_mut(uuid) {
            r.state = state.to_string();
            r.modified = now;
        }
    }

    pub fn approve_order(&mut self, uuid: &str) -> ApiResult<()> {
        self.transition(uuid, &["pending-provider"], "executing")?;
        Ok(())
    }

    pub fn reject_order(&mut self, uuid: &str) -> ApiResult<()> {
        let order = self.transition(uuid, &["pending-consumer", "pending-provider"], "rejected")?;
        let state = if order.order_type == "Create" {
            "Terminated"
        } else {
            "OK"
        };
        self.set_resource_state(&order.resource, state);
        Ok(())
    }

    pub fn complete_order(&mut self, uuid: &str) -> ApiResult<()> {
        let order = self.transition(uuid, &["executing"], "done")?;
        let now = self.now();
        if let Some(r) = self.resource_mut(&order.resource) {
            match order.order_type.as_str() {
                "Terminate" => r.state = "Terminated".into(),
                "Update" => {
                    if !order.limits.is_empty() {
                        r.limits = order.limits.clone();
                    }
                    r.state = "OK".into();
                }
                _ => r.state = "OK".into(),
            }
            r.error_message.clear();
            r.error_traceback.clear();
            r.modified = now;
        }
        Ok(())
    }

    pub fn fail_order(&mut self, uuid: &str, message: &str, traceback: &str) -> ApiResult<()> {
        let valid = ["pending-consumer", "pending-provider", "executing"];
        let order = self.transition(uuid, &valid, "erred")?;
        let now = self.now();
        if let Some(o) = self.order_mut(uuid) {
            o.error_message = message.to_string();
            o.error_traceback = traceback.to_string();
        }
        if let Some(r) = self.resource_mut(&order.resource) {
            r.state = match order.order_type.as_str() {
                "Terminate" => "OK",
                // Mastermind drops a resource that never got provisioned.
                "Create" if r.state == "Creating" && r.backend_id.is_empty() => "Terminated",
                _ => "Erred",
            }
            .into();
            if r.state != "OK" {
                r.error_message = message.to_string();
                r.error_traceback = traceback.to_string();
            }
            r.modified = now;
        }
        Ok(())
    }

    pub fn set_order_backend_id(&mut self, uuid: &str, backend_id: &str) -> ApiResult<()> {
        self.order_or_404(uuid)?;
        if let Some(o) = self.order_mut(uuid) {
            o.backend_id = backend_id.to_string();
        }
        Ok(())
    }

    /// Creates an order (and, for Create, its resource in state `Creating`
    /// with no backend_id). Returns the new order's UUID.
    pub fn create_order(&mut self, req: NewOrder) -> ApiResult<String> {
        if !ORDER_TYPES.contains(&req.order_type.as_str()) {
            let msg = format!("\"{}\" is not a valid choice.", req.order_type);
            return Err(ApiError::field("type", &msg));
        }
        let state = req.state.unwrap_or_else(|| "pending-provider".into());
        if !ORDER_STATES.contains(&state.as_str()) {
            return Err(ApiError::field(
                "state",
                &format!("\"{state}\" is not a valid choice."),
            ));
        }
        let uuid = match req.uuid.as_deref() {
            None => ids::new_uuid(),
            Some(u) => uuid_arg("uuid", Some(u))?,
        };
        if self.order(&uuid).is_some() {
            return Err(ApiError::field(
                "uuid",
                "Order with this uuid already exists.",
            ));
        }
        let plan = match req.plan.as_deref() {
            None => None,
            Some(p) => Some(uuid_arg("plan", Some(p))?),
        };
        let now = self.now();

        let mut attributes = req.attributes;
        let resource = if req.order_type == "Create" {
            let offering = uuid_arg("offering", req.offering.as_deref())?;
            let project = uuid_arg("project", req.project.as_deref())?;
            if self.offering(&offering).is_none() {
                return Err(ApiError::field("offering", "Offering not found."));
            }
            if self.project(&project).is_none() {
                return Err(ApiError::field("project", "Project not found."));
            }
            let resource_uuid = match req.resource_uuid.as_deref() {
                None => ids::new_uuid(),
                Some(u) => uuid_arg("resource_uuid", Some(u))?,
            };
            if self.resource(&resource_uuid).is_some() {
                return Err(ApiError::field("resource_uuid", "Resource already exists."));
            }
            let name = req
                .name
                .unwrap_or_else(|| format!("resource-{}", &resource_uuid[..8]));
            // Waldur's order form puts the resource name into the attributes.
            attributes
                .entry("name")
                .or_insert_with(|| name.clone().into());
            self.data.resources.push(Resource {
                uuid: resource_uuid.clone(),
                slug: slugify(&name),
                name,
                offering,
                project,
                plan: plan.clone(),
                state: "Creating".into(),
                limits: req.limits.clone(),
                attributes: attributes.clone(),
                created: now.clone(),
                modified: now.clone(),
                ..Default::default()
            });
            resource_uuid
        } else {
            let resource = uuid_arg("resource", req.resource.as_deref())?;
            let state = match req.order_type.as_str() {
                "Update" => Some("Updating"),
                "Terminate" => Some("Terminating"),
                _ => None, // Restore leaves the (terminated) resource as is until done.
            };
            let r = self
                .resource_mut(&resource)
                .ok_or_else(|| ApiError::field("resource", "Resource not found."))?;
            if let Some(state) = state {
                r.state = state.into();
                r.modified = now.clone();
            }
            resource
        };

        self.data.orders.push(Order {
            uuid: uuid.clone(),
            order_type: req.order_type,
            state,
            resource,
            limits: req.limits,
            attributes,
            plan,
            created: now.clone(),
            modified: now,
            ..Default::default()
        });
        self.emit_order(&uuid);
        Ok(uuid)
    }
}
