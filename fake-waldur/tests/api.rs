//! End-to-end tests over real sockets against an in-process fake.

mod support;

use fake_waldur::{demo, demo_seed, Resource, BACKFILL_MESSAGE};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{dashed, keys, set, start, Client};

const RES: &str = "/api/marketplace-provider-resources/";

#[tokio::test]
async fn pagination_headers_links_and_invalid_page() {
    let mut seed = demo_seed();
    for i in 0..22 {
        seed.resources.push(Resource {
            name: format!("extra {i}"),
            offering: demo::OFFERING.into(),
            project: demo::PROJECT.into(),
            ..Default::default()
        });
    }
    let (fake, c) = start(seed).await;
    let url = |q: &str| format!("{}{RES}?{q}", fake.origin);

    let r = c.get(&format!("{RES}?state=OK&field=uuid")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-result-count"), Some("23"));
    assert_eq!(
        r.json().as_array().unwrap().len(),
        10,
        "default page size is 10"
    );
    assert_eq!(
        r.header("link").unwrap(),
        format!(
            "<{}>; rel=\"first\", <{}>; rel=\"next\", <{}>; rel=\"last\"",
            url("field=uuid&state=OK"),
            url("field=uuid&page=2&state=OK"),
            url("field=uuid&page=3&state=OK")
        )
    );

    let r = c.get(&format!("{RES}?state=OK&field=uuid&page=2")).await;
    assert_eq!(
        r.header("link").unwrap(),
        format!(
            "<{}>; rel=\"first\", <{}>; rel=\"prev\", <{}>; rel=\"next\", <{}>; rel=\"last\"",
            url("field=uuid&state=OK"),
            url("field=uuid&state=OK"),
            url("field=uuid&page=3&state=OK"),
            url("field=uuid&page=3&state=OK")
        ),
        "prev to page 1 drops `page`"
    );

    let r = c.get(&format!("{RES}?state=OK&field=uuid&page=3")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 3);
    assert!(!r.header("link").unwrap().contains("rel=\"next\""));

    for bad in ["page=4", "page=0", "page=abc"] {
        let r = c.get(&format!("{RES}?state=OK&{bad}")).await;
        assert_eq!(r.status, 404, "{bad}");
        assert_eq!(r.json(), json!({"detail": "Invalid page."}));
    }

    let r = c.get(&format!("{RES}?page_size=1000")).await;
    assert_eq!(
        r.json().as_array().unwrap().len(),
        23,
        "page_size is clamped, not refused"
    );
    let r = c.get(&format!("{RES}?page_size=5&page=5")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 3);
    let r = c.get(&format!("{RES}?page_size=100&page=last")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 23);

    // Empty results: page 1 exists (empty), page 2 does not; one-page links.
    let r = c.get(&format!("{RES}?state=Terminated")).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert_eq!(r.header("x-result-count"), Some("0"));
    let only = url("state=Terminated");
    assert_eq!(
        r.header("link").unwrap(),
        format!("<{only}>; rel=\"first\", <{only}>; rel=\"last\"")
    );
    assert_eq!(
        c.get(&format!("{RES}?state=Terminated&page=2"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn trailing_slash_unknown_paths_and_methods() {
    let (_fake, c) = start(demo_seed()).await;
    for path in [
        "/api/users/me",
        "/api/marketplace-orders",
        "/api/marketplace-provider-resources",
        "/api/nonexistent/",
    ] {
        let r = c.get(path).await;
        assert_eq!(
            (r.status, r.json()),
            (404, json!({"detail": "Not found."})),
            "{path}"
        );
    }
    let r = c
        .post(
            "/api/marketplace-component-usages/set_usage",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 404);
    // Unknown paths are 404 even without a token (URL resolution comes first).
    let anon = Client::new(c.addr, None);
    assert_eq!(anon.get("/api/users/me").await.status, 404);
    let r = c.delete("/api/users/me/").await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.json(),
        json!({"detail": "Method \"DELETE\" not allowed."})
    );
}

#[tokio::test]
async fn token_authentication() {
    let (fake, c) = start(demo_seed()).await;
    let anon = Client::new(fake.addr, None);
    let r = anon.get("/api/users/me/").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Token"));
    assert_eq!(
        r.json(),
        json!({"detail": "Authentication credentials were not provided."})
    );

    let r = Client::new(fake.addr, Some("nope"))
        .get("/api/users/me/")
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Token"));
    assert_eq!(r.json(), json!({"detail": "Invalid token."}));

    let r = anon.send("GET", "/api/marketplace-orders/", None).await;
    assert_eq!(r.status, 401);

    let r = c.get("/api/users/me/?field=username&field=is_staff").await;
    assert_eq!(r.json(), json!({"username": "staff", "is_staff": true}));

    let provider = Client::new(fake.addr, Some(demo::PROVIDER_TOKEN));
    let me = provider.get("/api/users/me/").await.json();
    assert_eq!(me["is_staff"], json!(false));
    assert_eq!(me["permissions"][0]["role_name"], json!("CUSTOMER.OWNER"));
    assert_eq!(me["permissions"][0]["scope_uuid"], json!(demo::CUSTOMER));

    // The control API needs no token.
    assert_eq!(anon.get("/__fake__/state").await.status, 200);
}

#[tokio::test]
async fn order_state_machine() {
    let (fake, c) = start(demo_seed()).await;
    let order_path = |uuid: &Value, action: &str| {
        format!(
            "/api/marketplace-orders/{}/{action}",
            uuid.as_str().unwrap()
        )
    };

    // Create: resource appears in Creating without backend_id.
    let r = c
        .post(
            "/__fake__/orders",
            Some(json!({"type": "Create", "offering": dashed(demo::OFFERING), "project": demo::PROJECT,
                        "name": "alloc 2", "limits": {"cpu": 10}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let order = r.json();
    let (uuid, resource) = (
        order["uuid"].clone(),
        order["marketplace_resource_uuid"].clone(),
    );
    assert_eq!(order["state"], "pending-provider");
    assert_eq!(order["project_slug"], "demo-project");
    assert_eq!(order["customer_slug"], "demo-hpc");
    assert_eq!(order["offering_type"], "Marketplace.Slurm");
    assert_eq!(order["attributes"], json!({"name": "alloc 2"}));
    let res = c
        .get(&format!("{RES}{}/", resource.as_str().unwrap()))
        .await
        .json();
    assert_eq!(
        (res["state"].clone(), res["backend_id"].clone()),
        (json!("Creating"), json!(""))
    );
    assert_eq!(res["slug"], "alloc-2");

    let listed = c
        .get(&format!(
            "/api/marketplace-orders/?offering_uuid={}&state=pending-provider&state=executing",
            demo::OFFERING
        ))
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let r = c.post(&order_path(&uuid, "set_state_done/"), None).await;
    assert_eq!(
        (r.status, r.json()),
        (
            409,
            json!({"detail": "Valid states for operation: executing."})
        )
    );

    let r = c
        .post(&order_path(&uuid, "approve_by_provider/"), Some(json!({})))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.json()["detail"].is_string(),
        "approve answers with a detail string"
    );
    let r = c
        .post(&order_path(&uuid, "approve_by_provider/"), Some(json!({})))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            409,
            json!({"detail": "Valid states for operation: pending-provider."})
        )
    );
    let r = c.get(&order_path(&uuid, "?field=uuid&field=state")).await;
    assert_eq!(r.json(), json!({"uuid": uuid, "state": "executing"}));

    let rpath = format!("{RES}{}/", dashed(resource.as_str().unwrap()));
    let r = c
        .post(
            &format!("{rpath}set_backend_id/"),
            Some(json!({"backend_id": "hpc_alloc2"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["status"].is_string());
    assert_eq!(
        c.post(&order_path(&uuid, "set_state_done/"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        fake.state.order(uuid.as_str().unwrap()).unwrap().state,
        "done"
    );
    let res = fake.state.resource(resource.as_str().unwrap()).unwrap();
    assert_eq!(
        (res.state.as_str(), res.backend_id.as_str()),
        ("OK", "hpc_alloc2")
    );
    assert_eq!(
        c.post(&order_path(&uuid, "set_state_done/"), None)
            .await
            .status,
        409
    );

    // Update: limits copied from the order on done.
    let new_order = |ty: &str, extra: Value| {
        let mut body = json!({"type": ty, "resource": resource});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let c = c.clone();
        async move { c.post("/__fake__/orders", Some(body)).await.json()["uuid"].clone() }
    };
    let upd = new_order("Update", json!({"limits": {"cpu": 20}})).await;
    assert_eq!(
        fake.state
            .resource(resource.as_str().unwrap())
            .unwrap()
            .state,
        "Updating"
    );
    c.post(&order_path(&upd, "approve_by_provider/"), Some(json!({})))
        .await;
    c.post(&order_path(&upd, "set_state_done/"), None).await;
    let res = c
        .get(&format!("{rpath}?field=limits&field=state"))
        .await
        .json();
    assert_eq!(res, json!({"state": "OK", "limits": {"cpu": 20}}));

    // Terminate erred: resource back to OK, order keeps the message.
    let term = new_order("Terminate", json!({})).await;
    assert_eq!(
        fake.state
            .resource(resource.as_str().unwrap())
            .unwrap()
            .state,
        "Terminating"
    );
    c.post(&order_path(&term, "approve_by_provider/"), Some(json!({})))
        .await;
    let erred = format!(
        "/api/marketplace-orders/{}/set_state_erred/",
        dashed(term.as_str().unwrap())
    );
    let r = c
        .post(
            &erred,
            Some(json!({"error_message": "boom", "error_traceback": "tb"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let o = c.get(&order_path(&term, "")).await.json();
    assert_eq!(
        (o["state"].clone(), o["error_message"].clone()),
        (json!("erred"), json!("boom"))
    );
    assert_eq!(
        fake.state
            .resource(resource.as_str().unwrap())
            .unwrap()
            .state,
        "OK"
    );

    // Terminate done.
    let term = new_order("Terminate", json!({})).await;
    c.post(&order_path(&term, "approve_by_provider/"), Some(json!({})))
        .await;
    c.post(&order_path(&term, "set_state_done/"), None).await;
    assert_eq!(
        fake.state
            .resource(resource.as_str().unwrap())
            .unwrap()
            .state,
        "Terminated"
    );

    // A Create that errs before provisioning takes its resource with it.
    let order = c
        .post(
            "/__fake__/orders",
            Some(json!({"type": "Create", "offering": demo::OFFERING, "project": demo::PROJECT})),
        )
        .await
        .json();
    c.post(
        &order_path(&order["uuid"], "approve_by_provider/"),
        Some(json!({})),
    )
    .await;
    c.post(
        &order_path(&order["uuid"], "set_state_erred/"),
        Some(json!({"error_message": "x"})),
    )
    .await;
    let r = fake
        .state
        .resource(order["marketplace_resource_uuid"].as_str().unwrap())
        .unwrap();
    assert_eq!(r.state, "Terminated");

    // Rejecting a Create terminates its resource too.
    let order = c
        .post(
            "/__fake__/orders",
            Some(json!({"type": "Create", "offering": demo::OFFERING, "project": demo::PROJECT})),
        )
        .await
        .json();
    assert_eq!(
        c.post(
            &order_path(&order["uuid"], "reject_by_provider/"),
            Some(json!({}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        fake.state
            .order(order["uuid"].as_str().unwrap())
            .unwrap()
            .state,
        "rejected"
    );

    let missing = "/api/marketplace-orders/ffffffffffffffffffffffffffffffff/approve_by_provider/";
    assert_eq!(c.post(missing, Some(json!({}))).await.status, 404);
    let r = c
        .post("/__fake__/orders", Some(json!({"type": "Update"})))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"resource": ["This field is required."]}))
    );
}

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

#[tokio::test]
async fn field_projection() {
    let (_fake, c) = start(demo_seed()).await;
    let off = format!(
        "/api/marketplace-provider-offerings/{}/?field=components&field=customer_uuid&field=partitions&field=plugin_options",
        demo::OFFERING
    );
    let o = c.get(&off).await.json();
    assert_eq!(
        keys(&o),
        set(&[
            "components",
            "customer_uuid",
            "partitions",
            "plugin_options"
        ])
    );
    assert_eq!(o["customer_uuid"], demo::CUSTOMER);
    assert_eq!(o["partitions"], json!([{"partition_name": "batch"}]));
    for k in [
        "type",
        "name",
        "measured_unit",
        "billing_type",
        "limit_amount",
        "unit_factor",
    ] {
        assert!(o["components"][0].get(k).is_some(), "component key {k}");
    }
    // Unknown names only: the whole object.
    let full = c
        .get(&format!(
            "/api/marketplace-provider-offerings/{}/?field=bogus",
            demo::OFFERING
        ))
        .await
        .json();
    assert!(full.get("uuid").is_some() && full.get("name").is_some());

    let membership_fields = [
        "uuid",
        "backend_id",
        "name",
        "slug",
        "state",
        "project_uuid",
        "project_slug",
        "customer_slug",
        "restrict_member_access",
        "backend_metadata",
        "limits",
        "paused",
        "downscaled",
        "attributes",
        "offering_plugin_options",
        "offering_backend_id",
        "project_name",
        "project_description",
        "customer_uuid",
        "customer_name",
        "end_date",
        "end_date_updated_at",
        "project_end_date",
    ];
    let q: String = membership_fields
        .iter()
        .map(|f| format!("&field={f}"))
        .collect();
    let list = c
        .get(&format!(
            "{RES}?offering_uuid={}&state=OK&state=Erred{q}",
            demo::OFFERING
        ))
        .await
        .json();
    assert_eq!(
        keys(&list[0]),
        set(&membership_fields),
        "every requested key is present"
    );
    assert_eq!(list[0]["end_date"], Value::Null);
    assert_eq!(list[0]["backend_metadata"], json!({}));

    let ou = c
        .get(&format!(
            "/api/marketplace-offering-users/?offering_uuid={}&is_restricted=false&field=user_uuid&field=username&field=url&field=state&field=uuid&field=user_email",
            demo::OFFERING
        ))
        .await
        .json();
    assert_eq!(ou.as_array().unwrap().len(), 2);
    assert_eq!(
        keys(&ou[0]),
        set(&[
            "user_uuid",
            "username",
            "url",
            "state",
            "uuid",
            "user_email"
        ])
    );
}

#[tokio::test]
async fn dashed_and_hex_uuids_route_to_the_same_object() {
    let (fake, c) = start(demo_seed()).await;
    let hex = c.get(&format!("{RES}{}/", demo::RESOURCE)).await.json();
    let dash = c
        .get(&format!("{RES}{}/", dashed(demo::RESOURCE)))
        .await
        .json();
    let upper = c
        .get(&format!("{RES}{}/", dashed(demo::RESOURCE).to_uppercase()))
        .await
        .json();
    assert_eq!(hex, dash);
    assert_eq!(hex, upper);
    assert_eq!(hex["uuid"], demo::RESOURCE, "bodies use hex");
    assert_eq!(
        hex["url"],
        format!(
            "{}marketplace-provider-resources/{}/",
            fake.base_url,
            demo::RESOURCE
        )
    );

    let team = c
        .get(&format!("{RES}{}/team/", dashed(demo::RESOURCE)))
        .await
        .json();
    let carol = team
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == "carol")
        .unwrap();
    assert_eq!(
        keys(carol),
        set(&[
            "url",
            "uuid",
            "username",
            "full_name",
            "email",
            "role",
            "expiration_time",
            "offering_user_username",
            "offering_user_state"
        ])
    );
    assert_eq!(
        (
            carol["offering_user_username"].clone(),
            carol["role"].clone()
        ),
        (Value::Null, json!("member"))
    );

    let r = c
        .get(&format!("{RES}?offering_uuid={}", dashed(demo::OFFERING)))
        .await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = c.get(&format!("{RES}?offering_uuid=not-a-uuid")).await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"offering_uuid": ["Enter a valid UUID."]}))
    );
    let r = c.get(&format!("{RES}?state=ok")).await;
    assert_eq!(r.status, 400, "enum filters are case-sensitive");
    assert_eq!(c.get(&format!("{RES}not-a-uuid/")).await.status, 404);
    assert_eq!(
        c.get(&format!("{RES}ffffffffffffffffffffffffffffffff/"))
            .await
            .status,
        404
    );
}

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
    let minimal: Value = serde_json::from_str(include_str!("../seeds/minimal.json")).unwrap();
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
