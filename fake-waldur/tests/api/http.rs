//! Pagination, paths and methods, token authentication, field projection, dashed and hex UUIDs.

use crate::support::{dashed, keys, set, start, Client};
use crate::RES;
use fake_waldur::{demo, demo_seed, Resource};
use serde_json::{json, Value};

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
