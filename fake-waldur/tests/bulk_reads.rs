//! The offering-wide filters the agent reads in bulk with (as Mastermind's filter sets
//! define them), and the latency knob.

mod support;

use fake_waldur::{
    demo, demo_seed, Amount, ComponentUsage, Offering, Resource, UserUsage, UserUsageLimit,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::start;

const OTHER_OFFERING: &str = "e0000000000000000000000000000030";
const OTHER_RESOURCE: &str = "e0000000000000000000000000000040";

/// The demo world plus a second offering of the same provider, with one resource: each
/// resource has a per-user limit and a usage with a per-user record in June and July.
fn two_offerings() -> fake_waldur::Seed {
    let mut seed = demo_seed();
    let mut other = seed.offerings[0].clone();
    other.uuid = OTHER_OFFERING.into();
    other.name = "Other cluster".into();
    for c in &mut other.components {
        c.uuid = String::new();
    }
    seed.offerings.push(Offering { ..other });
    seed.resources.push(Resource {
        uuid: OTHER_RESOURCE.into(),
        name: "other".into(),
        offering: OTHER_OFFERING.into(),
        project: demo::PROJECT.into(),
        backend_id: "other_acc".into(),
        ..Default::default()
    });
    for (i, resource) in [demo::RESOURCE, OTHER_RESOURCE].into_iter().enumerate() {
        seed.user_usage_limits.push(UserUsageLimit {
            resource: resource.into(),
            component_type: "cpu".into(),
            user: "alice".into(),
            limit: Some(Amount(100 * (i as i64 + 1))),
            ..Default::default()
        });
        for period in ["2025-06-01", "2025-07-01"] {
            seed.component_usages.push(ComponentUsage {
                resource: resource.into(),
                component_type: "cpu".into(),
                billing_period: period.into(),
                usage: Amount(500),
                user_usages: vec![UserUsage {
                    username: "alice".into(),
                    usage: Amount(200),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    seed
}

fn resources_of(list: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i[key].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn per_user_limits_filter_by_offering() {
    let (fake, c) = start(two_offerings()).await;
    let all = c.get("/api/component-user-usage-limits/").await.json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let url = |q: &str| format!("/api/component-user-usage-limits/?{q}");
    let ours = c
        .get(&url(&format!("offering_uuid={}", demo::OFFERING)))
        .await;
    assert_eq!(ours.status, 200);
    let ours = ours.json();
    assert_eq!(
        resources_of(&ours, "resource"),
        vec![format!(
            "{}marketplace-resources/{}/",
            fake.base_url,
            demo::RESOURCE
        )]
    );
    assert_eq!(ours[0]["limit"], json!("1.00"));
    let dashed = support::dashed(OTHER_OFFERING);
    let theirs = c.get(&url(&format!("offering_uuid={dashed}"))).await.json();
    assert_eq!(resources_of(&theirs, "resource_uuid"), vec![OTHER_RESOURCE]);
    let bad = c.get(&url("offering_uuid=nope")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json(),
        json!({"offering_uuid": ["Enter a valid UUID."]})
    );
}

#[tokio::test]
async fn user_usages_filter_by_offering_and_period() {
    let (_fake, c) = start(two_offerings()).await;
    let url = |q: &str| format!("/api/marketplace-component-user-usages/?{q}");
    let june = c
        .get(&url(&format!(
            "offering_uuid={}&component_usage__billing_period=2025-06-01",
            demo::OFFERING
        )))
        .await
        .json();
    assert_eq!(resources_of(&june, "resource_uuid"), vec![demo::RESOURCE]);
    assert_eq!(june[0]["billing_period"], json!("2025-06-01"));
    // The Python client's argument name is not a filter: like any unknown parameter, the
    // server ignores it and both months come back.
    let both = c
        .get(&url(&format!(
            "offering_uuid={}&component_usage_billing_period=2025-06-01",
            demo::OFFERING
        )))
        .await
        .json();
    assert_eq!(both.as_array().unwrap().len(), 2);
    let bad = c.get(&url("component_usage__billing_period=June")).await;
    assert_eq!(bad.status, 400);
    // Aggregate records by offering and period, as before.
    let usages = c
        .get(&format!(
            "/api/marketplace-component-usages/?offering_uuid={OTHER_OFFERING}&billing_period=2025-07-01"
        ))
        .await
        .json();
    assert_eq!(resources_of(&usages, "resource_uuid"), vec![OTHER_RESOURCE]);
}

#[tokio::test]
async fn latency_delays_api_requests_but_not_control() {
    let (fake, c) = start(demo_seed()).await;
    let r = c
        .patch("/__fake__/settings", json!({"latency_ms": 150}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["latency_ms"], json!(150));
    let started = Instant::now();
    let (a, b) = tokio::join!(c.get("/api/users/me/"), c.get("/api/users/me/"));
    let took = started.elapsed();
    assert_eq!((a.status, b.status), (200, 200));
    assert!(took >= Duration::from_millis(150), "{took:?}");
    // Two requests in flight overlap: the wait is a sleep, not a lock.
    assert!(took < Duration::from_millis(290), "{took:?}");
    let started = Instant::now();
    assert_eq!(c.get("/__fake__/state").await.status, 200);
    assert!(started.elapsed() < Duration::from_millis(150));
    fake.state.set_latency_ms(0);
    let started = Instant::now();
    c.get("/api/users/me/").await;
    assert!(started.elapsed() < Duration::from_millis(150));
}
