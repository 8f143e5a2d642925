//! JSON renderings of stored objects, as Waldur's serializers print them:
//! hex UUIDs, absolute `url`s, denormalised names, and every key always
//! present (null / "" / {} rather than missing) so `field=` never drops one.

use crate::http::Base;
use crate::model::*;
use crate::state::World;
use serde_json::{json, Value};

/// Old-style project role names, as `team/` reports them.
pub fn old_role(role: &str) -> &str {
    match role {
        "PROJECT.ADMIN" => "admin",
        "PROJECT.MANAGER" => "manager",
        "PROJECT.MEMBER" => "member",
        other => other,
    }
}

/// New-style role names, as `users/me/` permissions report them.
pub fn new_role(role: &str) -> &str {
    match role {
        "admin" => "PROJECT.ADMIN",
        "manager" => "PROJECT.MANAGER",
        "member" => "PROJECT.MEMBER",
        other => other,
    }
}

fn split_name(full: &str) -> (&str, &str) {
    full.split_once(' ').unwrap_or((full, ""))
}

/// Rendering context: the data plus the base for absolute URLs.
pub struct View<'a> {
    pub w: &'a World,
    pub base: &'a Base,
}

impl View<'_> {
    fn customer_of_project(&self, project: &str) -> Option<&Customer> {
        self.w
            .project(project)
            .and_then(|p| self.w.customer(&p.customer))
    }

    pub fn user(&self, u: &User) -> Value {
        let mut permissions = Vec::new();
        for c in self
            .w
            .data
            .customers
            .iter()
            .filter(|c| c.owners.contains(&u.uuid))
        {
            permissions.push(json!({
                "role_name": "CUSTOMER.OWNER", "scope_type": "customer",
                "scope_name": c.name, "scope_uuid": c.uuid,
                "customer_uuid": c.uuid, "customer_name": c.name,
                "expiration_time": null,
            }));
        }
        for p in &self.w.data.projects {
            for m in p.members.iter().filter(|m| m.user == u.uuid) {
                let customer = self.w.customer(&p.customer);
                permissions.push(json!({
                    "role_name": new_role(&m.role), "scope_type": "project",
                    "scope_name": p.name, "scope_uuid": p.uuid,
                    "customer_uuid": p.customer, "customer_name": customer.map(|c| c.name.as_str()),
                    "expiration_time": m.expiration_time,
                }));
            }
        }
        json!({
            "url": self.base.url("users", &u.uuid),
            "uuid": u.uuid,
            "username": u.username,
            "full_name": u.full_name,
            "email": u.email,
            "is_staff": u.is_staff,
            "is_support": false,
            "is_active": true,
            "permissions": permissions,
        })
    }

    pub fn component(&self, c: &Component) -> Value {
        json!({
            "uuid": c.uuid,
            "type": c.component_type,
            "name": c.name,
            "description": c.description,
            "measured_unit": c.measured_unit,
            "billing_type": c.billing_type,
            "limit_amount": c.limit_amount,
            "limit_period": c.limit_period,
            "unit_factor": c.unit_factor,
        })
    }

    pub fn offering(&self, o: &Offering) -> Value {
        let customer = self.w.customer(&o.customer);
        json!({
            "url": self.base.url("marketplace-provider-offerings", &o.uuid),
            "uuid": o.uuid,
            "name": o.name,
            "customer": self.base.url("customers", &o.customer),
            "customer_uuid": o.customer,
            "customer_name": customer.map(|c| c.name.as_str()),
            "type": o.offering_type,
            "state": o.state,
            "backend_id": o.backend_id,
            "plugin_options": o.plugin_options,
            "partitions": o.partitions,
            "components": o.components.iter().map(|c| self.component(c)).collect::<Vec<_>>(),
            "created": o.created,
        })
    }

    pub fn service_provider(&self, c: &Customer) -> Value {
        json!({
            "url": self.base.url("marketplace-service-providers", &c.service_provider_uuid),
            "uuid": c.service_provider_uuid,
            "customer": self.base.url("customers", &c.uuid),
            "customer_uuid": c.uuid,
            "customer_name": c.name,
            "customer_slug": c.slug,
            "customer_abbreviation": c.abbreviation,
        })
    }

    pub fn offering_user(&self, ou: &OfferingUser) -> Value {
        let user = self.w.user(&ou.user);
        let full_name = user.map_or("", |u| u.full_name.as_str());
        let (first, last) = split_name(full_name);
        let runtime_state = match ou.state.as_str() {
            s @ ("Pending account linking" | "Pending additional validation") => s,
            _ => "Active",
        };
        json!({
            "url": self.base.url("marketplace-offering-users", &ou.uuid),
            "uuid": ou.uuid,
            "user": self.base.url("users", &ou.user),
            "user_uuid": ou.user,
            "offering": self.base.url("marketplace-provider-offerings", &ou.offering),
            "offering_uuid": ou.offering,
            "offering_name": self.w.offering(&ou.offering).map(|o| o.name.as_str()),
            "username": ou.username,
            "state": ou.state,
            "runtime_state": runtime_state,
            "is_restricted": ou.is_restricted,
            "user_username": user.map(|u| u.username.as_str()),
            "user_full_name": full_name,
            "user_first_name": first,
            "user_last_name": last,
            "user_email": user.map(|u| u.email.as_str()),
            "created": ou.created,
            "modified": ou.modified,
        })
    }

    pub fn resource(&self, r: &Resource) -> Value {
        let offering = self.w.offering(&r.offering);
        let project = self.w.project(&r.project);
        let customer = self.customer_of_project(&r.project);
        json!({
            "url": self.base.url("marketplace-provider-resources", &r.uuid),
            "uuid": r.uuid,
            "name": r.name,
            "slug": r.slug,
            "state": r.state,
            "backend_id": r.backend_id,
            "offering": self.base.url("marketplace-provider-offerings", &r.offering),
            "offering_uuid": r.offering,
            "offering_name": offering.map(|o| o.name.as_str()),
            "offering_type": offering.map(|o| o.offering_type.as_str()),
            "offering_backend_id": offering.map_or("", |o| o.backend_id.as_str()),
            "offering_plugin_options": offering.map(|o| o.plugin_options.clone()).unwrap_or_default(),
            "project": self.base.url("projects", &r.project),
            "project_uuid": r.project,
            "project_slug": project.map_or("", |p| p.slug.as_str()),
            "project_name": project.map_or("", |p| p.name.as_str()),
            "project_description": project.map_or("", |p| p.description.as_str()),
            "project_end_date": project.and_then(|p| p.end_date.as_deref()),
            "customer_uuid": customer.map(|c| c.uuid.as_str()),
            "customer_slug": customer.map_or("", |c| c.slug.as_str()),
            "customer_name": customer.map_or("", |c| c.name.as_str()),
            "plan_uuid": r.plan,
            "limits": r.limits,
            "attributes": r.attributes,
            "backend_metadata": r.backend_metadata,
            "paused": r.paused,
            "downscaled": r.downscaled,
            "restrict_member_access": r.restrict_member_access,
            "end_date": r.end_date,
            "end_date_updated_at": r.end_date_updated_at,
            "created": r.created,
            "modified": r.modified,
            "last_sync": r.last_sync,
            "error_message": r.error_message,
            "error_traceback": r.error_traceback,
        })
    }

    /// Project members joined with their offering user in the resource's offering.
    pub fn team(&self, r: &Resource) -> Vec<Value> {
        let Some(project) = self.w.project(&r.project) else {
            return Vec::new();
        };
        project
            .members
            .iter()
            .filter_map(|m| {
                let user = self.w.user(&m.user)?;
                let ou = self.w.offering_user_for(&r.offering, &m.user);
                Some(json!({
                    "url": self.base.url("users", &user.uuid),
                    "uuid": user.uuid,
                    "username": user.username,
                    "full_name": user.full_name,
                    "email": user.email,
                    "role": old_role(&m.role),
                    "expiration_time": m.expiration_time,
                    "offering_user_username": ou.and_then(|o| o.username.as_deref()),
                    "offering_user_state": ou.map(|o| o.state.as_str()),
                }))
            })
            .collect()
    }

    pub fn order(&self, o: &Order) -> Value {
        let resource = self.w.resource(&o.resource);
        let offering = resource.and_then(|r| self.w.offering(&r.offering));
        let project = resource.and_then(|r| self.w.project(&r.project));
        let customer = resource.and_then(|r| self.customer_of_project(&r.project));
        json!({
            "url": self.base.url("marketplace-orders", &o.uuid),
            "uuid": o.uuid,
            "type": o.order_type,
            "state": o.state,
            "offering": offering.map(|of| self.base.url("marketplace-provider-offerings", &of.uuid)),
            "offering_uuid": offering.map(|of| of.uuid.as_str()),
            "offering_name": offering.map(|of| of.name.as_str()),
            "offering_type": offering.map(|of| of.offering_type.as_str()),
            "marketplace_resource_uuid": o.resource,
            "resource_name": resource.map_or("", |r| r.name.as_str()),
            "project_uuid": project.map(|p| p.uuid.as_str()),
            "project_slug": project.map_or("", |p| p.slug.as_str()),
            "project_name": project.map_or("", |p| p.name.as_str()),
            "customer_uuid": customer.map(|c| c.uuid.as_str()),
            "customer_slug": customer.map_or("", |c| c.slug.as_str()),
            "customer_name": customer.map_or("", |c| c.name.as_str()),
            "plan_uuid": o.plan,
            "limits": o.limits,
            "attributes": o.attributes,
            "backend_id": o.backend_id,
            "error_message": o.error_message,
            "error_traceback": o.error_traceback,
            "created": o.created,
            "modified": o.modified,
        })
    }

    pub fn usage(&self, cu: &ComponentUsage) -> Value {
        let resource = self.w.resource(&cu.resource);
        let offering = resource.and_then(|r| self.w.offering(&r.offering));
        let component = offering.and_then(|o| {
            o.components
                .iter()
                .find(|c| c.component_type == cu.component_type)
        });
        let project = resource.and_then(|r| self.w.project(&r.project));
        let customer = resource.and_then(|r| self.customer_of_project(&r.project));
        json!({
            "url": self.base.url("marketplace-component-usages", &cu.uuid),
            "uuid": cu.uuid,
            "created": cu.created,
            "modified": cu.modified,
            "description": cu.description,
            "type": cu.component_type,
            "name": component.map_or(cu.component_type.as_str(), |c| c.name.as_str()),
            "measured_unit": component.map_or("", |c| c.measured_unit.as_str()),
            "usage": cu.usage,
            "date": cu.date,
            "recurring": cu.recurring,
            "billing_period": cu.billing_period,
            "resource_name": resource.map_or("", |r| r.name.as_str()),
            "resource_uuid": cu.resource,
            "offering_name": offering.map_or("", |o| o.name.as_str()),
            "offering_uuid": offering.map(|o| o.uuid.as_str()),
            "project_name": project.map_or("", |p| p.name.as_str()),
            "project_uuid": project.map(|p| p.uuid.as_str()),
            "customer_name": customer.map_or("", |c| c.name.as_str()),
            "customer_uuid": customer.map(|c| c.uuid.as_str()),
        })
    }

    pub fn user_usage(&self, cu: &ComponentUsage, uu: &UserUsage) -> Value {
        json!({
            "url": self.base.url("marketplace-component-user-usages", &uu.uuid),
            "uuid": uu.uuid,
            "created": uu.created,
            "modified": uu.modified,
            "username": uu.username,
            "usage": uu.usage,
            "user": uu.user.as_ref().map(|u| self.base.url("marketplace-offering-users", u)),
            "user_uuid": uu.user,
            "date": uu.date,
            "component_usage": self.base.url("marketplace-component-usages", &cu.uuid),
            "component_usage_uuid": cu.uuid,
            "component_type": cu.component_type,
            "billing_period": cu.billing_period,
            "resource_uuid": cu.resource,
        })
    }

    pub fn usage_limit(&self, l: &UserUsageLimit) -> Value {
        let component = self
            .w
            .resource(&l.resource)
            .and_then(|r| self.w.offering(&r.offering))
            .and_then(|o| {
                o.components
                    .iter()
                    .find(|c| c.component_type == l.component_type)
            });
        json!({
            "url": self.base.url("component-user-usage-limits", &l.uuid),
            "uuid": l.uuid,
            "resource": self.base.url("marketplace-resources", &l.resource),
            "resource_uuid": l.resource,
            "component": component.map(|c| c.uuid.as_str()),
            "component_type": l.component_type,
            "user": l.user,
            "limit": l.limit,
        })
    }

    pub fn agent_processor(&self, p: &AgentProcessor) -> Value {
        let service = self
            .w
            .data
            .agent_services
            .iter()
            .find(|s| s.uuid == p.service);
        json!({
            "url": self.base.url("marketplace-site-agent-processors", &p.uuid),
            "uuid": p.uuid,
            "service": p.service,
            "service_name": service.map(|s| s.name.as_str()),
            "name": p.name,
            "backend_type": p.backend_type,
            "backend_version": p.backend_version,
            "last_run": p.last_run,
            "created": p.created,
            "modified": p.modified,
        })
    }

    pub fn agent_service(&self, s: &AgentService) -> Value {
        let identity = self.w.agent_identity(&s.identity);
        let processors: Vec<Value> = (self.w.data.agent_processors.iter())
            .filter(|p| p.service == s.uuid)
            .map(|p| self.agent_processor(p))
            .collect();
        json!({
            "url": self.base.url("marketplace-site-agent-services", &s.uuid),
            "uuid": s.uuid,
            "identity": s.identity,
            "identity_name": identity.map(|i| i.name.as_str()),
            "name": s.name,
            "mode": s.mode,
            "state": s.state,
            "statistics": s.statistics,
            "created": s.created,
            "modified": s.modified,
            "processors": processors,
        })
    }

    pub fn agent_identity(&self, i: &AgentIdentity) -> Value {
        let services: Vec<Value> = (self.w.data.agent_services.iter())
            .filter(|s| s.identity == i.uuid)
            .map(|s| self.agent_service(s))
            .collect();
        json!({
            "url": self.base.url("marketplace-site-agent-identities", &i.uuid),
            "uuid": i.uuid,
            "offering": i.offering,
            "created_by": i.created_by,
            "name": i.name,
            "version": i.version,
            "dependencies": i.dependencies,
            "config_file_path": i.config_file_path,
            "config_file_content": i.config_file_content,
            "last_restarted": i.last_restarted,
            "created": i.created,
            "modified": i.modified,
            "services": services,
        })
    }

    /// The answer of `register_queue`.
    pub fn event_consumer(&self, c: &EventConsumer) -> Value {
        let types: Vec<&str> = if c.object_types.is_empty() {
            OBSERVABLE_OBJECT_TYPES.to_vec()
        } else {
            c.object_types.iter().map(String::as_str).collect()
        };
        json!({
            "rmq_username": c.rmq_username(),
            "queue_name": c.queue_name(),
            "vhost": c.vhost(),
            "observable_object_types": types,
        })
    }

    pub fn event_subscription(&self, s: &EventSubscription) -> Value {
        let user = self.w.user(&s.user);
        json!({
            "url": self.base.url("event-subscriptions", &s.uuid),
            "uuid": s.uuid,
            "user": self.base.url("users", &s.user),
            "user_uuid": s.user,
            "user_username": user.map(|u| u.username.as_str()),
            "user_full_name": user.map(|u| u.full_name.as_str()),
            "description": s.description,
            "source_ip": null,
            "observable_objects": [{ "object_type": s.object_type }],
            "created": s.created,
            "modified": s.modified,
        })
    }

    pub fn event_subscription_queue(&self, q: &EventSubscriptionQueue) -> Value {
        json!({
            "url": self.base.url("event-subscription-queues", &q.uuid),
            "uuid": q.uuid,
            "event_subscription": self.base.url("event-subscriptions", &q.subscription),
            "event_subscription_uuid": q.subscription,
            "offering_uuid": q.offering,
            "object_type": q.object_type,
            "queue_name": q.queue_name(),
            "vhost": self.w.subscription_vhost(q),
            "created": q.created,
        })
    }
}
