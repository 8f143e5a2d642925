//! The order state machine: approve, set_backend_id, done, erred, as Mastermind's.

use crate::support::{dashed, start};
use crate::RES;
use fake_waldur::{demo, demo_seed};
use serde_json::{json, Value};

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
