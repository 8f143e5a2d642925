//! What state changes publish: orders, resource flags, roles and offering users, only for
//! site-agent offerings; the dump keeps the registrations.

use crate::queues::{deliveries, per_type_queue, seed_with_queues, CONSUMER, NARROW_CONSUMER};
use crate::support::{start, Client};
use fake_waldur::{demo, DeliveryStatus};
use serde_json::{json, Value};

#[tokio::test]
async fn state_changes_publish_like_mastermind() {
    let (fake, c) = start(seed_with_queues()).await;
    let anon = Client::new(fake.addr, None);
    let all = format!("consumer_{CONSUMER}");
    let orders_only = format!("consumer_{NARROW_CONSUMER}");
    let offering = demo::OFFERING;

    // order: created, then every state change.
    let r = anon
        .post(
            "/__fake__/orders",
            Some(json!({"type": "Create", "offering": offering,
              "project": demo::PROJECT, "uuid": "e6000000000000000000000000000001"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let order = "e6000000000000000000000000000001";
    let created = json!({"order_uuid": order, "order_state": "pending-provider",
                         "object_type": "order", "offering_uuid": offering});
    let log = fake.state.published();
    assert_eq!(
        deliveries(&log),
        vec![
            (all.clone(), created.clone()),
            (orders_only.clone(), created.clone()),
            (per_type_queue("order"), created.clone()),
        ]
    );
    assert!(log.iter().all(|e| e.status == DeliveryStatus::NoBroker));
    assert_eq!(
        (
            log[0].scheme.as_str(),
            log[0].vhost.as_str(),
            log[2].scheme.as_str()
        ),
        ("unified", demo::STAFF_USER, "per_type")
    );
    let approve = format!("/api/marketplace-orders/{order}/approve_by_provider/");
    assert_eq!(c.post(&approve, Some(json!({}))).await.status, 200);
    let last = fake.state.published().pop().unwrap();
    assert_eq!(last.json().unwrap()["order_state"], "executing");
    fake.state.clear_published();

    // resource: only when one of the three flags changes; a sequence number per resource.
    let patch = |body: Value| {
        let anon = anon.clone();
        async move {
            let path = format!("/__fake__/resources/{}", demo::RESOURCE);
            assert_eq!(anon.patch(&path, body).await.status, 200);
        }
    };
    patch(json!({"paused": true})).await;
    patch(json!({"paused": true, "limits": {"cpu": 1}})).await;
    patch(json!({"downscaled": true})).await;
    let bodies = deliveries(&fake.state.published());
    assert_eq!(
        bodies.len(),
        2,
        "no message without a flag change; orders-only queues get none"
    );
    assert_eq!(
        bodies[0],
        (
            all.clone(),
            json!({"resource_uuid": demo::RESOURCE, "resource_backend_id": "demo_alloc",
            "downscaled": false, "restrict_member_access": false, "paused": true,
            "sequence_number": 1, "object_type": "resource", "offering_uuid": offering})
        )
    );
    assert_eq!(bodies[1].1["sequence_number"], 2);
    assert_eq!(bodies[1].1["downscaled"], true);
    fake.state.clear_published();

    // user_role and offering_user, from the membership control API.
    let r = anon
        .post(
            "/__fake__/members",
            Some(json!({"action": "add", "project": demo::PROJECT,
              "user": "dave", "offering": offering, "username": "dave01"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let dave = r.json()["user"].as_str().unwrap().to_string();
    let ou = r.json()["offering_user"].as_str().unwrap().to_string();
    let bodies = deliveries(&fake.state.published());
    let types: Vec<&str> = bodies
        .iter()
        .map(|(_, b)| b["object_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["user_role", "offering_user", "offering_user"]);
    assert_eq!(
        bodies[0].1,
        json!({"user_uuid": dave, "user_username": "dave", "project_uuid": demo::PROJECT,
               "project_name": "Demo Project", "role_name": "PROJECT.MEMBER", "granted": true,
               "object_type": "user_role", "offering_uuid": offering})
    );
    assert_eq!(bodies[1].1["action"], "create");
    assert_eq!(
        bodies[2].1,
        json!({"offering_user_uuid": ou, "user_uuid": dave, "username": "dave01", "state": "OK",
               "action": "username_set", "attributes": {}, "changed_fields": ["username"],
               "resource_backend_ids": ["demo_alloc"], "object_type": "offering_user",
               "offering_uuid": offering})
    );
    fake.state.clear_published();
    // Same role again: no grant. Removal: a revoke.
    anon.post(
        "/__fake__/members",
        Some(json!({"action": "add", "project": demo::PROJECT, "user": "dave"})),
    )
    .await;
    assert!(fake.state.published().is_empty());
    anon.post(
        "/__fake__/members",
        Some(json!({"action": "remove", "project": demo::PROJECT, "user": "dave"})),
    )
    .await;
    let bodies = deliveries(&fake.state.published());
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0].1["granted"], false);
    fake.state.clear_published();

    // Mastermind publishes only for site-agent (Marketplace.Slurm) offerings.
    let r = anon
        .post(
            "/__fake__/orders",
            Some(json!({"type": "Update",
              "resource": "e5000000000000000000000000000001"})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(fake.state.published().is_empty());

    // The dump carries the registrations and reloads; a reseed clears the log.
    let dump = anon.get("/__fake__/state").await.json();
    assert_eq!(dump["event_consumers"].as_array().unwrap().len(), 3);
    patch(json!({"paused": false})).await;
    assert_eq!(
        anon.post("/__fake__/seed", Some(dump.clone())).await.status,
        200
    );
    assert!(fake.state.published().is_empty());
    assert_eq!(anon.get("/__fake__/state").await.json(), dump);
}
