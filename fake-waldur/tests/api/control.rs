//! Fault injection, the request log and the control API (seed, state, members, resource flags).

use crate::support::{dashed, start, Client};
use crate::RES;
use fake_waldur::{demo, demo_seed};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn fault_injection_and_request_log() {
    let (fake, c) = start(demo_seed()).await;
    let anon = Client::new(fake.addr, None);
    let fault = |spec: Value| {
        let anon = anon.clone();
        async move {
            let r = anon.post("/__fake__/faults", Some(spec)).await;
            assert_eq!(r.status, 201, "{}", r.text());
        }
    };
    const ME: &str = "/api/users/me/";

    fault(json!({"path_prefix": ME, "method": "GET", "times": 2, "kind": "status", "status": 503, "body": {"detail": "down"}})).await;
    assert_eq!(
        c.post(ME, None).await.status,
        405,
        "method filter: POST is not faulted"
    );
    for _ in 0..2 {
        let r = c.get(ME).await;
        assert_eq!((r.status, r.json()), (503, json!({"detail": "down"})));
    }
    assert_eq!(c.get(ME).await.status, 200, "fault used up");

    fault(json!({"path_prefix": ME, "kind": "html_502"})).await;
    let r = c.get(ME).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert!(r.text().contains("502 Bad Gateway"));

    fault(json!({"path_prefix": ME, "kind": "throttle", "retry_after": 7})).await;
    let r = c.get(ME).await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    assert_eq!(
        r.json(),
        json!({"detail": "Request was throttled. Expected available in 7 seconds."})
    );

    fault(json!({"path_prefix": ME, "kind": "delay", "ms": 300})).await;
    let t = Instant::now();
    assert_eq!(c.get(ME).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    fault(json!({"path_prefix": ME, "kind": "invalid_json"})).await;
    let r = c.get(ME).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    // Truncate: the action happens, the answer is mangled.
    let order = c
        .post(
            "/__fake__/orders",
            Some(json!({"type": "Terminate", "resource": demo::RESOURCE})),
        )
        .await
        .json();
    let approve = format!(
        "/api/marketplace-orders/{}/approve_by_provider/",
        order["uuid"].as_str().unwrap()
    );
    fault(json!({"path_prefix": "/api/marketplace-orders/", "method": "post", "kind": "truncate"}))
        .await;
    let r = c.post(&approve, Some(json!({}))).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    assert_eq!(
        fake.state
            .order(order["uuid"].as_str().unwrap())
            .unwrap()
            .state,
        "executing"
    );

    // drop_items: a short page, with or without its count.
    const LIST: &str = "/api/marketplace-provider-resources/";
    let list = format!("{LIST}?offering_uuid={}", demo::OFFERING);
    let full = c.get(&list).await;
    let total = full.json().as_array().unwrap().len();
    assert!(total >= 1);
    fault(json!({"path_prefix": LIST, "kind": "drop_items"})).await;
    let r = c.get(&list).await;
    assert_eq!(r.json().as_array().unwrap().len(), total - 1);
    assert_eq!(r.header("x-result-count"), full.header("x-result-count"));
    fault(json!({"path_prefix": LIST, "kind": "drop_items", "strip_count": true})).await;
    assert_eq!(c.get(&list).await.header("x-result-count"), None);

    fault(json!({"path_prefix": ME, "kind": "disconnect"})).await;
    let r = c.get(ME).await;
    assert!(!r.complete, "the response must be cut off: {r:?}");

    // skip: let one through, fail the next; then the rule is spent.
    fault(json!({"path_prefix": ME, "skip": 1, "kind": "status", "status": 500})).await;
    let statuses = [
        c.get(ME).await.status,
        c.get(ME).await.status,
        c.get(ME).await.status,
    ];
    assert_eq!(statuses, [200, 500, 200]);

    // times: 0 = until cleared.
    fault(json!({"path_prefix": "/api/marketplace-orders/", "times": 0, "kind": "status", "status": 504})).await;
    for _ in 0..3 {
        assert_eq!(c.get("/api/marketplace-orders/").await.status, 504);
    }
    let rules = anon.get("/__fake__/faults").await.json();
    assert_eq!(rules.as_array().unwrap().last().unwrap()["fired"], 3);
    assert_eq!(anon.delete("/__fake__/faults").await.status, 204);
    assert_eq!(c.get("/api/marketplace-orders/").await.status, 200);

    // The log: statuses, faults, auth presence, never the token.
    anon.get(ME).await;
    let log = anon.get("/__fake__/requests").await;
    assert!(!log.text().contains(demo::STAFF_TOKEN));
    let log = log.json();
    let entries = log.as_array().unwrap();
    assert!(entries
        .iter()
        .all(|e| !e["path"].as_str().unwrap().starts_with("/__fake__")));
    let faults: Vec<&str> = entries.iter().filter_map(|e| e["fault"].as_str()).collect();
    for name in [
        "status",
        "html_502",
        "throttle",
        "delay",
        "invalid_json",
        "truncate",
        "disconnect",
    ] {
        assert!(faults.contains(&name), "{name} logged");
    }
    let last = entries.last().unwrap();
    assert_eq!(
        (
            last["path"].clone(),
            last["status"].clone(),
            last["authorization"].clone()
        ),
        (json!(ME), json!(401), json!(false))
    );
    let approve_entry = entries
        .iter()
        .find(|e| e["path"] == json!(approve))
        .unwrap();
    assert_eq!(
        (
            approve_entry["authorization"].clone(),
            approve_entry["body"].clone()
        ),
        (json!(true), json!({}))
    );
    assert_eq!(approve_entry["user_agent"], "fake-waldur-tests");
    assert_eq!(anon.delete("/__fake__/requests").await.status, 204);
    assert!(fake.state.requests().is_empty());
}

#[tokio::test]
async fn control_seed_state_members_and_resource_flags() {
    let (fake, c) = start(demo_seed()).await;
    let anon = Client::new(fake.addr, None);

    // Reseed with the documented minimal example.
    let minimal: Value = serde_json::from_str(include_str!("../../seeds/minimal.json")).unwrap();
    let r = anon.post("/__fake__/seed", Some(minimal)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        c.get("/api/users/me/").await.status,
        401,
        "old tokens are gone"
    );
    let agent = Client::new(fake.addr, Some("secret-token"));
    let team = agent
        .get(&format!("{RES}e0000000000000000000000000000001/team/"))
        .await
        .json();
    assert_eq!(team[0]["offering_user_username"], "alice");

    // The dump is a valid seed.
    let dump = anon.get("/__fake__/state").await.json();
    assert_eq!(dump["offerings"][0]["type"], "Marketplace.Slurm");
    assert_eq!(
        anon.post("/__fake__/seed", Some(dump.clone())).await.status,
        200
    );
    assert_eq!(anon.get("/__fake__/state").await.json(), dump);

    let mut bad = dump.clone();
    bad["resources"][0]["project"] = json!("ffffffffffffffffffffffffffffffff");
    let r = anon.post("/__fake__/seed", Some(bad)).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("unknown reference"));

    // Membership: new user with an offering user, then removal.
    let r = anon
        .post("/__fake__/members", Some(json!({"action": "add", "project": "b0000000000000000000000000000001",
              "user": "dave", "offering": "f0000000000000000000000000000001", "username": "dave01"})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let team_path = format!("{RES}e0000000000000000000000000000001/team/");
    let team = agent.get(&team_path).await.json();
    let dave = team
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == "dave")
        .unwrap();
    assert_eq!(
        (
            dave["offering_user_username"].clone(),
            dave["offering_user_state"].clone()
        ),
        (json!("dave01"), json!("OK"))
    );
    anon.post("/__fake__/members", Some(json!({"action": "remove", "project": "b0000000000000000000000000000001", "user": "dave"})))
        .await;
    assert_eq!(
        agent.get(&team_path).await.json().as_array().unwrap().len(),
        1
    );

    // Resource flags.
    let r = anon
        .patch(
            &format!(
                "/__fake__/resources/{}",
                dashed("e0000000000000000000000000000001")
            ),
            json!({"paused": true, "limits": {"cpu": 5}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let res = agent
        .get(&format!(
            "{RES}e0000000000000000000000000000001/?field=paused&field=limits&field=downscaled"
        ))
        .await
        .json();
    assert_eq!(
        res,
        json!({"limits": {"cpu": 5}, "paused": true, "downscaled": false})
    );
    let r = anon
        .patch(
            "/__fake__/resources/e0000000000000000000000000000001",
            json!({"state": "Broken"}),
        )
        .await;
    assert_eq!(r.status, 400);

    // Resource setters used by the membership cycle.
    let base = format!("{RES}e0000000000000000000000000000001/");
    assert_eq!(
        agent
            .post(
                &format!("{base}set_backend_metadata/"),
                Some(json!({"backend_metadata": {"qos": "paused"}}))
            )
            .await
            .status,
        200
    );
    assert_eq!(
        agent
            .post(&format!("{base}refresh_last_sync/"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        agent
            .post(
                &format!("{base}set_as_erred/"),
                Some(json!({"error_message": "e"}))
            )
            .await
            .status,
        200
    );
    let res = fake
        .state
        .resource("e0000000000000000000000000000001")
        .unwrap();
    assert_eq!(
        (res.state.as_str(), res.error_message.as_str()),
        ("Erred", "e")
    );
    assert!(res.last_sync.is_some());
    assert_eq!(res.backend_metadata.get("qos"), Some(&json!("paused")));
    assert_eq!(
        agent.post(&format!("{base}set_as_ok/"), None).await.status,
        200
    );
    let r = agent
        .post(&format!("{base}set_limits/"), Some(json!({"limits": [1]})))
        .await;
    assert_eq!(r.status, 400);
}
