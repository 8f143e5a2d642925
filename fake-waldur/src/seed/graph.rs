//! The marketplace graph of a seed: users, customers, projects, offerings,
//! offering users, resources, orders, usages and usage limits, each checked
//! against what came before it; policies and agents follow (their own modules).

use super::rules::{err, one_of, own_uuid, reference, slugify, stamp};
use super::SeedError;
use crate::clock;
use crate::ids;
use crate::model::*;
use std::collections::HashSet;

/// Validates and normalises a seed. The result is what the server stores.
pub fn load(mut seed: Seed) -> Result<Seed, SeedError> {
    let s = &mut seed.settings;
    if s.utc_offset_minutes.abs() >= 24 * 60 {
        return err("settings.utc_offset_minutes must be within a day");
    }
    if let Some(now) = &s.now {
        let t = clock::parse_datetime(now, s.utc_offset_minutes)
            .ok_or_else(|| SeedError(format!("settings.now: bad datetime {now:?}")))?;
        s.now = Some(clock::format_datetime(t));
    }
    let now = crate::state::now_iso(&seed.settings);

    let mut user_ids = HashSet::new();
    let mut tokens = HashSet::new();
    let mut usernames = HashSet::new();
    for u in &mut seed.users {
        own_uuid("users", &mut u.uuid, &mut user_ids)?;
        if u.username.is_empty() || !usernames.insert(u.username.clone()) {
            return err(format!(
                "users: empty or duplicate username {:?}",
                u.username
            ));
        }
        if let Some(t) = &u.token {
            if t.is_empty() || !tokens.insert(t.clone()) {
                return err(format!(
                    "users: empty or duplicate token for {}",
                    u.username
                ));
            }
        }
    }

    let mut customer_ids = HashSet::new();
    let mut sp_ids = HashSet::new();
    for c in &mut seed.customers {
        own_uuid("customers", &mut c.uuid, &mut customer_ids)?;
        own_uuid(
            "customers.service_provider_uuid",
            &mut c.service_provider_uuid,
            &mut sp_ids,
        )?;
        if c.slug.is_empty() {
            c.slug = slugify(&c.name);
        }
        for o in &mut c.owners {
            reference("customers", "owners", o, &user_ids)?;
        }
    }

    let mut project_ids = HashSet::new();
    for p in &mut seed.projects {
        own_uuid("projects", &mut p.uuid, &mut project_ids)?;
        reference("projects", "customer", &mut p.customer, &customer_ids)?;
        if p.slug.is_empty() {
            p.slug = slugify(&p.name);
        }
        stamp(&mut p.created, &now);
        let mut members = HashSet::new();
        for m in &mut p.members {
            reference("projects.members", "user", &mut m.user, &user_ids)?;
            if !members.insert(m.user.clone()) {
                return err(format!(
                    "projects.members: {} listed twice in {}",
                    m.user, p.uuid
                ));
            }
            if m.role.is_empty() {
                m.role = "PROJECT.MEMBER".into();
            }
        }
    }

    let mut offering_ids = HashSet::new();
    for o in &mut seed.offerings {
        own_uuid("offerings", &mut o.uuid, &mut offering_ids)?;
        reference("offerings", "customer", &mut o.customer, &customer_ids)?;
        if o.offering_type.is_empty() {
            o.offering_type = "Marketplace.Slurm".into();
        }
        one_of(
            "offerings",
            "state",
            &mut o.state,
            "Active",
            OFFERING_STATES,
        )?;
        stamp(&mut o.created, &now);
        let mut component_ids = HashSet::new();
        let mut types = HashSet::new();
        for c in &mut o.components {
            own_uuid("offerings.components", &mut c.uuid, &mut component_ids)?;
            if c.component_type.is_empty() || !types.insert(c.component_type.clone()) {
                return err(format!(
                    "offerings.components: empty or duplicate type in {}",
                    o.uuid
                ));
            }
            if c.name.is_empty() {
                c.name = c.component_type.clone();
            }
            one_of(
                "offerings.components",
                "billing_type",
                &mut c.billing_type,
                "usage",
                BILLING_TYPES,
            )?;
            if c.unit_factor == 0 {
                c.unit_factor = 1;
            }
        }
    }

    let mut ou_ids = HashSet::new();
    let mut ou_pairs = HashSet::new();
    for ou in &mut seed.offering_users {
        own_uuid("offering_users", &mut ou.uuid, &mut ou_ids)?;
        reference(
            "offering_users",
            "offering",
            &mut ou.offering,
            &offering_ids,
        )?;
        reference("offering_users", "user", &mut ou.user, &user_ids)?;
        if !ou_pairs.insert((ou.offering.clone(), ou.user.clone())) {
            return err(format!(
                "offering_users: user {} twice in offering {}",
                ou.user, ou.offering
            ));
        }
        one_of(
            "offering_users",
            "state",
            &mut ou.state,
            "OK",
            OFFERING_USER_STATES,
        )?;
        stamp(&mut ou.created, &now);
        stamp(&mut ou.modified, &now);
    }

    let mut resource_ids = HashSet::new();
    for r in &mut seed.resources {
        own_uuid("resources", &mut r.uuid, &mut resource_ids)?;
        reference("resources", "offering", &mut r.offering, &offering_ids)?;
        reference("resources", "project", &mut r.project, &project_ids)?;
        if let Some(plan) = &mut r.plan {
            *plan = ids::normalize(plan)
                .ok_or_else(|| SeedError(format!("resources.plan: bad uuid {plan:?}")))?;
        }
        if r.name.is_empty() {
            r.name = format!("resource-{}", &r.uuid[..8]);
        }
        if r.slug.is_empty() {
            r.slug = slugify(&r.name);
        }
        one_of("resources", "state", &mut r.state, "OK", RESOURCE_STATES)?;
        stamp(&mut r.created, &now);
        stamp(&mut r.modified, &now);
    }

    let mut order_ids = HashSet::new();
    for o in &mut seed.orders {
        own_uuid("orders", &mut o.uuid, &mut order_ids)?;
        reference("orders", "resource", &mut o.resource, &resource_ids)?;
        if !ORDER_TYPES.contains(&o.order_type.as_str()) {
            return err(format!(
                "orders.type: {:?} is not one of {ORDER_TYPES:?}",
                o.order_type
            ));
        }
        one_of(
            "orders",
            "state",
            &mut o.state,
            "pending-provider",
            ORDER_STATES,
        )?;
        stamp(&mut o.created, &now);
        stamp(&mut o.modified, &now);
    }

    let mut usage_ids = HashSet::new();
    let mut user_usage_ids = HashSet::new();
    for cu in &mut seed.component_usages {
        own_uuid("component_usages", &mut cu.uuid, &mut usage_ids)?;
        reference(
            "component_usages",
            "resource",
            &mut cu.resource,
            &resource_ids,
        )?;
        let period_ok = clock::parse_date(&cu.billing_period).is_some_and(|(_, _, d)| d == 1);
        if !period_ok {
            return err(format!(
                "component_usages.billing_period: {:?} is not YYYY-MM-01",
                cu.billing_period
            ));
        }
        if cu.component_type.is_empty() {
            return err("component_usages.type is required");
        }
        stamp(
            &mut cu.date,
            &format!("{}T00:00:00.000000Z", cu.billing_period),
        );
        stamp(&mut cu.created, &now);
        stamp(&mut cu.modified, &now);
        for uu in &mut cu.user_usages {
            own_uuid(
                "component_usages.user_usages",
                &mut uu.uuid,
                &mut user_usage_ids,
            )?;
            if uu.username.is_empty() {
                return err("component_usages.user_usages.username is required");
            }
            if let Some(user) = &mut uu.user {
                reference("component_usages.user_usages", "user", user, &ou_ids)?;
            }
            stamp(&mut uu.date, &cu.date);
            stamp(&mut uu.created, &now);
            stamp(&mut uu.modified, &now);
        }
    }

    let mut limit_ids = HashSet::new();
    for l in &mut seed.user_usage_limits {
        own_uuid("user_usage_limits", &mut l.uuid, &mut limit_ids)?;
        reference(
            "user_usage_limits",
            "resource",
            &mut l.resource,
            &resource_ids,
        )?;
        if l.component_type.is_empty() || l.user.is_empty() {
            return err("user_usage_limits: component_type and user are required");
        }
    }
    crate::policies::load(&mut seed, &now, &offering_ids)?;
    super::agents::load_agents(&mut seed, &now, &offering_ids, &user_ids)?;
    Ok(seed)
}
