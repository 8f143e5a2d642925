//! Identities, services and processors (B6–B10), and queue registration without a broker.

use crate::support::{keys, set, start, Client};
use fake_waldur::{demo, demo_seed};
use serde_json::{json, Value};

const IDS: &str = "/api/marketplace-site-agent-identities/";

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
