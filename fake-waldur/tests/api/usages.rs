//! Usage submission: validation and upsert of component and per-user usages.

use crate::support::{dashed, keys, set, start, Client};
use fake_waldur::{demo, demo_seed, BACKFILL_MESSAGE};
use serde_json::{json, Value};

#[tokio::test]
async fn set_usage_validation_and_upsert() {
    let mut seed = demo_seed();
    seed.settings.now = Some("2025-06-15T12:00:00Z".into());
    let (fake, staff) = start(seed).await;
    let provider = Client::new(fake.addr, Some(demo::PROVIDER_TOKEN));
    const SET: &str = "/api/marketplace-component-usages/set_usage/";
    let body = |date: &str, usages: Value| json!({"usages": usages, "resource": demo::RESOURCE, "date": date});
    let cpu = |amount: &str| json!([{"type": "cpu", "amount": amount, "recurring": false}]);

    let r = provider
        .post(
            SET,
            Some(body(
                "2025-06-01T00:00:00+00:00",
                json!([
            {"type": "cpu", "amount": "10.50", "recurring": false},
            {"type": "mem", "amount": "0.00", "recurring": false}]),
            )),
        )
        .await;
    assert_eq!((r.status, r.body.len()), (201, 0), "{}", r.text());
    let list = format!(
        "/api/marketplace-component-usages/?resource_uuid={}&billing_period=2025-06-01&field=uuid&field=type&field=usage",
        demo::RESOURCE
    );
    let first = provider.get(&list).await.json();
    assert_eq!(first.as_array().unwrap().len(), 2);
    assert_eq!(keys(&first[0]), set(&["uuid", "type", "usage"]));
    assert_eq!(first[0]["usage"], "10.50");

    // Same month again: upsert, same record.
    provider
        .post(SET, Some(body("2025-06-10T08:00:00Z", cpu("12"))))
        .await;
    let second = provider.get(&list).await.json();
    assert_eq!(second.as_array().unwrap().len(), 2);
    assert_eq!(
        (second[0]["uuid"].clone(), second[0]["usage"].clone()),
        (first[0]["uuid"].clone(), json!("12.00"))
    );

    let cases = [
        (
            body(
                "2025-06-01T00:00:00Z",
                json!([{"type": "gpu", "amount": "1"}]),
            ),
            json!({"non_field_errors": ["These components are invalid: gpu."]}),
        ),
        (
            body("2025-06-01T00:00:00Z", cpu("1.234")),
            json!({"usages": [{"amount": ["Ensure that there are no more than 2 decimal places."]}]}),
        ),
        (
            body("2025-07-01T00:00:00Z", cpu("1")),
            json!({"date": ["Cannot submit usage for future dates"]}),
        ),
        (
            body("2025-05-01T00:00:00+00:00", cpu("1")),
            json!({"date": [BACKFILL_MESSAGE]}),
        ),
        (
            // Midnight June 1st at +03:00 is still May in the (UTC) server zone.
            body("2025-06-01T00:00:00+03:00", cpu("1")),
            json!({"date": [BACKFILL_MESSAGE]}),
        ),
        (
            json!({"usages": cpu("1"), "date": "2025-06-01"}),
            json!({"resource": ["This field is required."]}),
        ),
    ];
    for (req, expected) in cases {
        let r = provider.post(SET, Some(req.clone())).await;
        assert_eq!((r.status, r.json()), (400, expected), "{req}");
    }
    assert!(BACKFILL_MESSAGE.contains("backfilling past billing periods"));

    // Staff may backfill.
    let r = staff
        .post(SET, Some(body("2025-05-01T00:00:00+00:00", cpu("7"))))
        .await;
    assert_eq!(r.status, 201);
    let may = staff
        .get(&format!(
            "/api/marketplace-component-usages/?resource_uuid={}&billing_period=2025-05-01",
            demo::RESOURCE
        ))
        .await
        .json();
    assert_eq!(
        (may[0]["usage"].clone(), may[0]["type"].clone()),
        (json!("7.00"), json!("cpu"))
    );

    // Only OK/Updating/Terminating resources accept usage.
    fake.state
        .patch_resource(
            demo::RESOURCE,
            fake_waldur::ResourcePatch {
                state: Some("Terminated".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let r = provider
        .post(SET, Some(body("2025-06-01T00:00:00Z", cpu("1"))))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"resource": ["Resource is not in valid state."]})
        )
    );
    fake.state
        .patch_resource(
            demo::RESOURCE,
            fake_waldur::ResourcePatch {
                state: Some("OK".into()),
                ..Default::default()
            },
        )
        .unwrap();

    // Per-user usages, posted to the dashed UUID as the agent does.
    let cu = first[0]["uuid"].as_str().unwrap().to_string();
    let ou_url = format!(
        "{}marketplace-offering-users/{}/",
        fake.base_url,
        demo::OFFERING_USER_ALICE
    );
    let set_users = format!(
        "/api/marketplace-component-usages/{}/set_user_usages/",
        dashed(&cu)
    );
    let r = provider
        .post(&set_users, Some(json!({"usages": [
            {"username": "alice", "usage": "3.00", "date": "2025-06-01T00:00:00+00:00", "user": ou_url},
            {"username": "bob", "usage": "1.5"}]})))
        .await;
    assert_eq!((r.status, r.body.len()), (201, 0), "{}", r.text());
    provider
        .post(
            &set_users,
            Some(json!({"usages": [{"username": "alice", "usage": "4.00"}]})),
        )
        .await;
    let uu = provider
        .get(&format!(
            "/api/marketplace-component-user-usages/?resource_uuid={}&component_usage__billing_period=2025-06-01&field=component_usage&field=username&field=usage",
            demo::RESOURCE
        ))
        .await
        .json();
    let parent = format!("{}marketplace-component-usages/{cu}/", fake.base_url);
    assert_eq!(
        uu,
        json!([{"username": "alice", "usage": "4.00", "component_usage": parent},
               {"username": "bob", "usage": "1.50", "component_usage": parent}])
    );
    let r = provider
        .post(&set_users, Some(json!({"usages": [{"username": "x", "usage": "1", "user": "http://h/api/marketplace-offering-users/ffffffffffffffffffffffffffffffff/"}]})))
        .await;
    assert_eq!(
        r.json(),
        json!({"usages": [{"user": ["Invalid hyperlink - Object does not exist."]}]})
    );
    let r = provider
        .post(
            "/api/marketplace-component-usages/ffffffffffffffffffffffffffffffff/set_user_usages/",
            Some(json!({"usages": []})),
        )
        .await;
    assert_eq!(r.status, 404);
}
