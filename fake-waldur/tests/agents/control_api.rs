//! Arbitrary events (`/__fake__/events`, `FakeWaldur::publish`) and the broker setting.

use crate::queues::{seed_with_queues, NARROW_CONSUMER};
use crate::support::{start, Client};
use fake_waldur::{demo, Broker, NewEvent};
use serde_json::{json, Value};

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
