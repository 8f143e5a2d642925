//! The built-in demo world (what the binary serves without a seed file).

use super::demo;
use crate::model::*;
use serde_json::json;

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
