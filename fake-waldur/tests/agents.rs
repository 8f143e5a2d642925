//! Agent identities, event queue registration and Mastermind-style publishing, without a
//! broker: registration answers 503, and what would be published is still recorded (status
//! `no_broker`) for queues that a seed registered. tests/rabbitmq.rs covers the real broker.

mod support;

use fake_waldur::{
    demo, demo_seed, AgentIdentity, Broker, DeliveryStatus, EventConsumer, EventSubscription,
    EventSubscriptionQueue, NewEvent, Offering, PublishedEvent, Resource, Seed,
};
use serde_json::{json, Value};
use support::{keys, set, start, Client};

const IDS: &str = "/api/marketplace-site-agent-identities/";
const IDENTITY: &str = "e1000000000000000000000000000001";
const NARROW_IDENTITY: &str = "e1000000000000000000000000000002";
const CONSUMER: &str = "e2000000000000000000000000000001";
const NARROW_CONSUMER: &str = "e2000000000000000000000000000002";
const SUBSCRIPTION: &str = "e3000000000000000000000000000001";
const BASIC_OFFERING: &str = "e4000000000000000000000000000001";

fn identity_body(name: &str) -> Value {
    json!({
        "offering": demo::OFFERING, "name": name, "version": "0.1.0",
        "last_restarted": "2026-12-01T10:00:00+00:00",
        "dependencies": [{"package": "waldur-slurm-agent", "version": "0.1.0"}],
        "config_file_path": "", "config_file_content": "",
    })
}

#[tokio::test]
async fn identities_services_and_processors() {
    let (_fake, c) = start(demo_seed()).await;
    let name = format!("agent-{}", demo::OFFERING);
    let r = c.get(&format!("{IDS}?name={name}")).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert_eq!(r.header("x-result-count"), Some("0"));

    let r = c.post(IDS, Some(identity_body(&name))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let identity = r.json();
    assert_eq!(
        keys(&identity),
        set(&[
            "url",
            "uuid",
            "offering",
            "created_by",
            "name",
            "version",
            "dependencies",
            "config_file_path",
            "config_file_content",
            "last_restarted",
            "created",
            "modified",
            "services",
        ])
    );
    assert_eq!(identity["offering"], demo::OFFERING);
    assert_eq!(identity["created_by"], demo::STAFF_USER);
    assert_eq!(identity["last_restarted"], "2026-12-01T10:00:00.000000Z");
    let uuid = identity["uuid"].as_str().unwrap().to_string();
    assert_eq!(
        identity["url"],
        format!("http://{}{IDS}{uuid}/", c.addr),
        "url from the Host header"
    );

    // Validation.
    let r = c.post(IDS, Some(identity_body(&name))).await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"name": ["Agent identity with this name already exists."]})
        )
    );
    let mut bad = identity_body("other");
    bad["offering"] = json!("ffffffffffffffffffffffffffffffff");
    let r = c.post(IDS, Some(bad)).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["offering"][0]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    let r = c.post(IDS, Some(json!({"offering": demo::OFFERING}))).await;
    assert_eq!(r.json(), json!({"name": ["This field is required."]}));

    // The look-up by name is a paginated list like every other.
    for i in 0..11 {
        let r = c
            .post(IDS, Some(identity_body(&format!("agent-extra-{i}"))))
            .await;
        assert_eq!(r.status, 201);
    }
    let r = c.get(&format!("{IDS}?name={name}")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    assert_eq!(r.json()[0]["uuid"], uuid.as_str());
    let r = c.get(IDS).await;
    assert_eq!(r.header("x-result-count"), Some("12"));
    assert_eq!(r.json().as_array().unwrap().len(), 10);
    assert!(r.header("link").unwrap().contains("rel=\"next\""));

    // B8: a full update; the identity keeps its own name.
    let mut body = identity_body(&name);
    body["version"] = json!("0.2.0");
    let r = c.send("PUT", &format!("{IDS}{uuid}/"), Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], "0.2.0");
    let r = c
        .send("PUT", &format!("{IDS}{}/", "f".repeat(32)), Some(&body))
        .await;
    assert_eq!(r.status, 404);

    // B9/B10: 201 new, 200 existing.
    let service_path = format!("{IDS}{uuid}/register_service/");
    let svc = json!({"name": "event_process", "mode": "event_process"});
    let r = c.post(&service_path, Some(svc.clone())).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let service = r.json();
    assert_eq!(
        (
            service["state"].clone(),
            service["identity"].clone(),
            service["identity_name"].clone()
        ),
        (json!("Active"), json!(uuid), json!(name))
    );
    let r = c.post(&service_path, Some(svc)).await;
    assert_eq!(
        (r.status, r.json()["uuid"].clone()),
        (200, service["uuid"].clone())
    );
    let processor_path = format!(
        "/api/marketplace-site-agent-services/{}/register_processor/",
        service["uuid"].as_str().unwrap()
    );
    let proc_body = json!({"name": "OfferingOrderProcessor",
        "backend_type": "waldur_slurm_agent", "backend_version": "0.1.0"});
    let r = c.post(&processor_path, Some(proc_body.clone())).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["service_name"], "event_process");
    assert_eq!(c.post(&processor_path, Some(proc_body)).await.status, 200);
    let identity = c.get(&format!("{IDS}{uuid}/")).await.json();
    assert_eq!(identity["services"][0]["name"], "event_process");
    assert_eq!(
        identity["services"][0]["processors"][0]["name"],
        "OfferingOrderProcessor"
    );
    let unknown = format!("{IDS}{}/register_service/", "f".repeat(32));
    assert_eq!(
        c.post(&unknown, Some(json!({"name": "x"}))).await.status,
        404
    );
}

#[tokio::test]
async fn registration_without_a_broker_and_the_old_mastermind_switch() {
    let (fake, c) = start(demo_seed()).await;
    let anon = Client::new(fake.addr, None);
    let uuid = c.post(IDS, Some(identity_body("agent-x"))).await.json()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let register = format!("{IDS}{uuid}/register_queue/");

    let unknown = format!("{IDS}{}/register_queue/", "f".repeat(32));
    let r = c.post(&unknown, Some(json!({"object_types": []}))).await;
    assert_eq!((r.status, r.json()), (404, json!({"detail": "Not found."})));

    let r = c
        .post(&register, Some(json!({"object_types": ["order", "bogus"]})))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"object_types": {"1": ["\"bogus\" is not a valid choice."]}})
        )
    );

    // A Mastermind whose broker is unavailable: 503, nothing stored.
    let r = c
        .post(&register, Some(json!({"object_types": ["order"]})))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (503, json!({"detail": "The event broker is not available."}))
    );
    assert!(fake.state.read(|w| w.data.event_consumers.is_empty()));

    // An older Mastermind has no register_queue at all.
    let r = anon
        .send(
            "PATCH",
            "/__fake__/settings",
            Some(&json!({"register_queue_missing": true})),
        )
        .await;
    assert_eq!(r.json()["register_queue_missing"], true);
    let r = c
        .post(&register, Some(json!({"object_types": ["order"]})))
        .await;
    assert_eq!((r.status, r.json()), (404, json!({"detail": "Not found."})));
    fake.state.set_register_queue_missing(false);
    assert_eq!(c.post(&register, None).await.status, 503);

    // The per-type scheme, likewise.
    let e1 = format!("{IDS}{uuid}/register_event_subscription/");
    let r = c
        .post(&e1, Some(json!({"observable_object_type": "order"})))
        .await;
    assert_eq!(r.status, 503);
    let r = c
        .post(&e1, Some(json!({"observable_object_type": "orders"})))
        .await;
    assert_eq!(
        r.json(),
        json!({"observable_object_type": ["\"orders\" is not a valid choice."]})
    );
    let e2 = format!("/api/event-subscriptions/{}/create_queue/", "f".repeat(32));
    let r = c
        .post(
            &e2,
            Some(json!({"offering_uuid": demo::OFFERING, "object_type": "order"})),
        )
        .await;
    assert_eq!(r.status, 404);
}

/// The demo seed plus: an identity observing everything and one observing only orders
/// (both unified), a per-type `order` queue, and a non-SLURM offering with a consumer.
fn seed_with_queues() -> Seed {
    let mut seed = demo_seed();
    let identity = |uuid: &str, offering: &str, name: &str| AgentIdentity {
        uuid: uuid.into(),
        offering: offering.into(),
        name: name.into(),
        created_by: Some(demo::STAFF_USER.into()),
        ..Default::default()
    };
    let consumer = |uuid: &str, identity: &str, types: &[&str]| EventConsumer {
        uuid: uuid.into(),
        identity: identity.into(),
        user: demo::STAFF_USER.into(),
        object_types: types.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    };
    seed.offerings.push(Offering {
        uuid: BASIC_OFFERING.into(),
        name: "VMs".into(),
        customer: demo::CUSTOMER.into(),
        offering_type: "Marketplace.Basic".into(),
        ..Default::default()
    });
    seed.resources.push(Resource {
        uuid: "e5000000000000000000000000000001".into(),
        offering: BASIC_OFFERING.into(),
        project: demo::PROJECT.into(),
        ..Default::default()
    });
    seed.agent_identities = vec![
        identity(IDENTITY, demo::OFFERING, "agent-all"),
        identity(NARROW_IDENTITY, demo::OFFERING, "agent-orders"),
        identity(
            "e1000000000000000000000000000003",
            BASIC_OFFERING,
            "agent-vm",
        ),
    ];
    seed.event_consumers = vec![
        consumer(CONSUMER, IDENTITY, &[]),
        consumer(NARROW_CONSUMER, NARROW_IDENTITY, &["order"]),
        consumer(
            "e2000000000000000000000000000003",
            "e1000000000000000000000000000003",
            &[],
        ),
    ];
    seed.event_subscriptions = vec![EventSubscription {
        uuid: SUBSCRIPTION.into(),
        user: demo::STAFF_USER.into(),
        object_type: "order".into(),
        ..Default::default()
    }];
    seed.event_subscription_queues = vec![EventSubscriptionQueue {
        subscription: SUBSCRIPTION.into(),
        offering: demo::OFFERING.into(),
        object_type: "order".into(),
        ..Default::default()
    }];
    seed
}

fn per_type_queue(object_type: &str) -> String {
    format!(
        "subscription_{SUBSCRIPTION}_offering_{}_{object_type}",
        demo::OFFERING
    )
}

/// (queue, body) of each delivery, in order.
fn deliveries(log: &[PublishedEvent]) -> Vec<(String, Value)> {
    log.iter()
        .map(|e| (e.queue.clone(), e.json().expect("JSON body")))
        .collect()
}

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

#[tokio::test]
async fn arbitrary_events_and_the_control_api() {
    let (fake, _c) = start(seed_with_queues()).await;
    let anon = Client::new(fake.addr, None);
    let offering = demo::OFFERING;

    let limits = json!({"resource_uuid": demo::RESOURCE, "backend_id": "demo_alloc",
        "policy_uuid": "e7000000000000000000000000000001", "action": "apply_periodic_settings",
        "timestamp": "2026-12-01T10:00:00+00:00", "settings": {"fairshare": 333}});
    let r = anon
        .post(
            "/__fake__/events",
            Some(json!({"offering": offering,
              "object_type": "resource_periodic_limits", "body": limits})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let sent = r.json();
    assert_eq!(
        sent.as_array().unwrap().len(),
        1,
        "only the queue observing every type"
    );
    let body: Value = serde_json::from_str(sent[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["settings"]["fairshare"], 333);
    assert_eq!(
        (body["object_type"].clone(), body["offering_uuid"].clone()),
        (json!("resource_periodic_limits"), json!(offering))
    );
    assert_eq!(sent[0]["status"], "no_broker");

    // Malformed bodies go out as they are; `queue` picks one queue whatever it observes.
    let only = format!("consumer_{NARROW_CONSUMER}");
    let sent = fake
        .state
        .publish(NewEvent {
            queue: Some(only.clone()),
            ..NewEvent::raw(offering, "offering_resources_sync", "not json {")
        })
        .unwrap();
    assert_eq!(
        (sent.len(), sent[0].queue.as_str(), sent[0].body.as_str()),
        (1, only.as_str(), "not json {")
    );
    let sent = fake
        .state
        .publish(NewEvent::json(offering, "order", json!([1, 2])))
        .unwrap();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].body, "[1,2]");
    // A body that names its own object type and offering keeps them.
    let own = json!({"object_type": "user_role", "offering_uuid": "elsewhere"});
    let sent = fake
        .state
        .publish(NewEvent::json(offering, "order", own.clone()))
        .unwrap();
    assert_eq!(sent[0].json().unwrap(), own);

    for (bad, field) in [
        (
            json!({"offering": "nope", "object_type": "order"}),
            "offering",
        ),
        (
            json!({"offering": offering, "object_type": "order", "queue": "q"}),
            "queue",
        ),
        (
            json!({"offering": offering, "object_type": ""}),
            "object_type",
        ),
        (
            json!({"offering": offering, "object_type": "order", "body": {}, "raw": "x"}),
            "non_field_errors",
        ),
    ] {
        let r = anon.post("/__fake__/events", Some(bad)).await;
        assert_eq!(r.status, 400, "{field}");
        assert!(r.json().get(field).is_some(), "{}", r.text());
    }

    let log = anon.get("/__fake__/events").await.json();
    assert_eq!(log.as_array().unwrap().len(), 1 + 1 + 3 + 3);
    assert_eq!(anon.delete("/__fake__/events").await.status, 204);
    assert_eq!(anon.get("/__fake__/events").await.json(), json!([]));

    // The broker setting: never shows the password.
    assert_eq!(
        anon.get("/__fake__/broker").await.json(),
        json!({"configured": false})
    );
    let b = json!({"mgmt_url": "http://127.0.0.1:1/", "user": "u", "password": "secret-pw"});
    let r = anon.send("PUT", "/__fake__/broker", Some(&b)).await;
    assert_eq!(
        r.json(),
        json!({"configured": true, "mgmt_url": "http://127.0.0.1:1", "user": "u"})
    );
    assert_eq!(
        fake.state.broker(),
        Some(Broker::new("http://127.0.0.1:1", "u", "secret-pw"))
    );
    assert_eq!(anon.delete("/__fake__/broker").await.status, 204);
    assert_eq!(fake.state.broker(), None);
}
