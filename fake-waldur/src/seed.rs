//! Loading a seed: normalise UUIDs to hex, fill defaults, and reject dangling
//! references up front so handlers can rely on a consistent graph.
//! Also provides the built-in demo seed.

use crate::clock;
use crate::ids;
use crate::model::*;
use serde_json::json;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid seed: {0}")]
pub struct SeedError(pub String);

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, SeedError> {
    Err(SeedError(msg.into()))
}

/// Lowercase, runs of non-alphanumerics become one `-` (Django-ish slugify).
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Gives the object a hex UUID (generating one if empty) and checks uniqueness.
pub(crate) fn own_uuid(
    kind: &str,
    uuid: &mut String,
    seen: &mut HashSet<String>,
) -> Result<(), SeedError> {
    *uuid = if uuid.is_empty() {
        ids::new_uuid()
    } else {
        ids::normalize(uuid).ok_or_else(|| SeedError(format!("{kind}: bad uuid {uuid:?}")))?
    };
    if !seen.insert(uuid.clone()) {
        return err(format!("{kind}: duplicate uuid {uuid}"));
    }
    Ok(())
}

/// Normalises a reference and checks that its target exists.
pub(crate) fn reference(
    kind: &str,
    field: &str,
    uuid: &mut String,
    targets: &HashSet<String>,
) -> Result<(), SeedError> {
    match ids::normalize(uuid).filter(|u| targets.contains(u)) {
        Some(u) => {
            *uuid = u;
            Ok(())
        }
        None => err(format!("{kind}.{field}: unknown reference {uuid:?}")),
    }
}

pub(crate) fn one_of(
    kind: &str,
    field: &str,
    value: &mut String,
    default: &str,
    allowed: &[&str],
) -> Result<(), SeedError> {
    if value.is_empty() {
        *value = default.to_string();
    }
    if !allowed.contains(&value.as_str()) {
        return err(format!(
            "{kind}.{field}: {value:?} is not one of {allowed:?}"
        ));
    }
    Ok(())
}

pub(crate) fn stamp(field: &mut String, now: &str) {
    if field.is_empty() {
        *field = now.to_string();
    }
}

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
    load_agents(&mut seed, &now, &offering_ids, &user_ids)?;
    Ok(seed)
}

fn object_type(kind: &str, value: &str) -> Result<(), SeedError> {
    if OBSERVABLE_OBJECT_TYPES.contains(&value) {
        return Ok(());
    }
    err(format!(
        "{kind}: {value:?} is not one of {OBSERVABLE_OBJECT_TYPES:?}"
    ))
}

/// Agent identities, services, processors and the event queues of both schemes.
fn load_agents(
    seed: &mut Seed,
    now: &str,
    offering_ids: &HashSet<String>,
    user_ids: &HashSet<String>,
) -> Result<(), SeedError> {
    let mut identity_ids = HashSet::new();
    let mut names = HashSet::new();
    for i in &mut seed.agent_identities {
        own_uuid("agent_identities", &mut i.uuid, &mut identity_ids)?;
        reference(
            "agent_identities",
            "offering",
            &mut i.offering,
            offering_ids,
        )?;
        if let Some(u) = &mut i.created_by {
            reference("agent_identities", "created_by", u, user_ids)?;
        }
        if i.name.is_empty() || !names.insert(i.name.clone()) {
            return err(format!(
                "agent_identities: empty or duplicate name {:?}",
                i.name
            ));
        }
        stamp(&mut i.created, now);
        stamp(&mut i.modified, now);
    }
    let mut service_ids = HashSet::new();
    for s in &mut seed.agent_services {
        own_uuid("agent_services", &mut s.uuid, &mut service_ids)?;
        reference("agent_services", "identity", &mut s.identity, &identity_ids)?;
        one_of(
            "agent_services",
            "state",
            &mut s.state,
            "Active",
            AGENT_SERVICE_STATES,
        )?;
        stamp(&mut s.created, now);
        stamp(&mut s.modified, now);
    }
    let mut processor_ids = HashSet::new();
    for p in &mut seed.agent_processors {
        own_uuid("agent_processors", &mut p.uuid, &mut processor_ids)?;
        reference("agent_processors", "service", &mut p.service, &service_ids)?;
        stamp(&mut p.created, now);
        stamp(&mut p.modified, now);
    }
    let mut consumer_ids = HashSet::new();
    let mut consumer_identities = HashSet::new();
    for c in &mut seed.event_consumers {
        own_uuid("event_consumers", &mut c.uuid, &mut consumer_ids)?;
        reference(
            "event_consumers",
            "identity",
            &mut c.identity,
            &identity_ids,
        )?;
        reference("event_consumers", "user", &mut c.user, user_ids)?;
        if !consumer_identities.insert(c.identity.clone()) {
            return err(format!("event_consumers: identity {} has two", c.identity));
        }
        for t in &c.object_types {
            object_type("event_consumers.object_types", t)?;
        }
        stamp(&mut c.created, now);
        stamp(&mut c.modified, now);
    }
    let mut subscription_ids = HashSet::new();
    for s in &mut seed.event_subscriptions {
        own_uuid("event_subscriptions", &mut s.uuid, &mut subscription_ids)?;
        reference("event_subscriptions", "user", &mut s.user, user_ids)?;
        object_type("event_subscriptions.object_type", &s.object_type)?;
        stamp(&mut s.created, now);
        stamp(&mut s.modified, now);
    }
    let mut queue_ids = HashSet::new();
    for q in &mut seed.event_subscription_queues {
        own_uuid("event_subscription_queues", &mut q.uuid, &mut queue_ids)?;
        let kind = "event_subscription_queues";
        reference(kind, "subscription", &mut q.subscription, &subscription_ids)?;
        reference(kind, "offering", &mut q.offering, offering_ids)?;
        object_type("event_subscription_queues.object_type", &q.object_type)?;
        stamp(&mut q.created, now);
    }
    Ok(())
}

/// Fixed identifiers of the demo seed, for tests and for the binary.
pub mod demo {
    pub const STAFF_TOKEN: &str = "fake-waldur-staff-token";
    pub const PROVIDER_TOKEN: &str = "fake-waldur-provider-token";
    pub const STAFF_USER: &str = "d0000000000000000000000000000001";
    pub const PROVIDER_USER: &str = "d0000000000000000000000000000002";
    pub const ALICE: &str = "d0000000000000000000000000000003";
    pub const BOB: &str = "d0000000000000000000000000000004";
    pub const CAROL: &str = "d0000000000000000000000000000005";
    pub const CUSTOMER: &str = "d0000000000000000000000000000010";
    pub const SERVICE_PROVIDER: &str = "d0000000000000000000000000000011";
    pub const PROJECT: &str = "d0000000000000000000000000000020";
    pub const OFFERING: &str = "d0000000000000000000000000000030";
    pub const OFFERING_USER_ALICE: &str = "d0000000000000000000000000000031";
    pub const OFFERING_USER_BOB: &str = "d0000000000000000000000000000032";
    pub const RESOURCE: &str = "d0000000000000000000000000000040";
}

/// A small, realistic world: a staff token and a non-staff provider token,
/// one SLURM offering with `cpu`/`mem` usage components, one project with
/// three members (two with OK offering users), and one OK resource.
pub fn demo_seed() -> Seed {
    use demo::*;
    let user =
        |uuid: &str, username: &str, full_name: &str, staff: bool, token: Option<&str>| User {
            uuid: uuid.into(),
            username: username.into(),
            full_name: full_name.into(),
            email: format!("{username}@example.org"),
            is_staff: staff,
            token: token.map(Into::into),
        };
    let member = |user: &str, role: &str| Member {
        user: user.into(),
        role: role.into(),
        expiration_time: None,
    };
    let offering_user = |uuid: &str, user: &str, username: &str| OfferingUser {
        uuid: uuid.into(),
        offering: OFFERING.into(),
        user: user.into(),
        username: Some(username.into()),
        ..Default::default()
    };
    let component = |ty: &str, name: &str, unit: &str| Component {
        component_type: ty.into(),
        name: name.into(),
        measured_unit: unit.into(),
        billing_type: "usage".into(),
        ..Default::default()
    };
    let as_object = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    Seed {
        users: vec![
            user(STAFF_USER, "staff", "Staff Agent", true, Some(STAFF_TOKEN)),
            user(
                PROVIDER_USER,
                "provider",
                "Provider Owner",
                false,
                Some(PROVIDER_TOKEN),
            ),
            user(ALICE, "alice", "Alice Archer", false, None),
            user(BOB, "bob", "Bob Baker", false, None),
            user(CAROL, "carol", "Carol Cook", false, None),
        ],
        customers: vec![Customer {
            uuid: CUSTOMER.into(),
            name: "Demo HPC Centre".into(),
            slug: "demo-hpc".into(),
            abbreviation: "DHC".into(),
            owners: vec![PROVIDER_USER.into()],
            service_provider_uuid: SERVICE_PROVIDER.into(),
        }],
        projects: vec![Project {
            uuid: PROJECT.into(),
            name: "Demo Project".into(),
            slug: "demo-project".into(),
            customer: CUSTOMER.into(),
            members: vec![
                member(ALICE, "PROJECT.MEMBER"),
                member(BOB, "PROJECT.ADMIN"),
                member(CAROL, "PROJECT.MEMBER"),
            ],
            ..Default::default()
        }],
        offerings: vec![Offering {
            uuid: OFFERING.into(),
            name: "Demo SLURM cluster".into(),
            customer: CUSTOMER.into(),
            plugin_options: as_object(json!({"account_name_generation_policy": "project_slug"})),
            partitions: vec![json!({"partition_name": "batch"})],
            components: vec![
                component("cpu", "CPU", "k-Hours"),
                component("mem", "Memory", "gb-Hours"),
            ],
            ..Default::default()
        }],
        offering_users: vec![
            offering_user(OFFERING_USER_ALICE, ALICE, "alice"),
            offering_user(OFFERING_USER_BOB, BOB, "bob"),
        ],
        resources: vec![Resource {
            uuid: RESOURCE.into(),
            name: "Demo allocation".into(),
            slug: "demo-alloc".into(),
            offering: OFFERING.into(),
            project: PROJECT.into(),
            backend_id: "demo_alloc".into(),
            limits: as_object(json!({"cpu": 1000, "mem": 2000})),
            attributes: as_object(json!({"name": "Demo allocation"})),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seed_loads_and_dump_reloads() {
        let loaded = load(demo_seed()).unwrap();
        assert_eq!(loaded.offerings[0].offering_type, "Marketplace.Slurm");
        assert_eq!(loaded.projects[0].members[0].role, "PROJECT.MEMBER");
        let again = load(loaded.clone()).unwrap();
        assert_eq!(again, loaded);
    }

    #[test]
    fn dangling_reference_is_rejected() {
        let mut seed = demo_seed();
        seed.resources[0].project = "ffffffffffffffffffffffffffffffff".into();
        assert!(load(seed).unwrap_err().0.contains("resources.project"));
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Demo  HPC / Centre!"), "demo-hpc-centre");
    }
}
