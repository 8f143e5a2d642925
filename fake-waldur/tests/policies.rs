//! Periodic usage policies (P2) with the keys the SDK requires, the usage list by
//! offering, and `report-command-result` (P1) recorded and validated.

mod support;

use fake_waldur::{demo, demo_seed};
use serde_json::json;
use support::*;

const POLICY: &str = "91ab0000000000000000000000000001";

fn seed() -> fake_waldur::Seed {
    let mut s = demo_seed();
    s.periodic_policies = serde_json::from_value(json!([{
        "uuid": POLICY, "offering": demo::OFFERING, "actions": "request_slurm_resource_downscaling",
        "component_limits": [{"type": "cpu", "limit": 1000}]
    }]))
    .unwrap();
    s.component_usages = serde_json::from_value(json!([
        {"resource": demo::RESOURCE, "type": "cpu", "billing_period": "2026-01-01", "usage": "400.00"},
        {"resource": demo::RESOURCE, "type": "mem", "billing_period": "2026-02-01", "usage": "2500.50"}
    ]))
    .unwrap();
    s
}

#[tokio::test]
async fn the_policy_has_every_required_key_and_mastermind_defaults() {
    let (_fake, c) = start(seed()).await;
    let r = c
        .get(&format!(
            "/api/marketplace-slurm-periodic-usage-policies/?scope_uuid={}",
            dashed(demo::OFFERING)
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let p = &list[0];
    for key in [
        "uuid",
        "url",
        "scope",
        "scope_name",
        "scope_uuid",
        "actions",
        "created",
        "created_by_full_name",
        "created_by_username",
        "has_fired",
        "fired_datetime",
        "affected_resources_count",
        "component_limits_set",
        "period_name",
        "warnings",
    ] {
        assert!(p.get(key).is_some(), "{key} missing: {p}");
    }
    assert_eq!(p["scope_uuid"], demo::OFFERING);
    assert_eq!(
        (p["period"].clone(), p["period_name"].clone()),
        (json!(3), json!("3 months"))
    );
    assert_eq!(p["limit_type"], "GrpTRESMins");
    assert_eq!(p["carryover_factor"], 50);
    assert_eq!(p["grace_ratio"], 0.2);
    assert_eq!(
        p["component_limits_set"],
        json!([{"type": "cpu", "limit": 1000}])
    );
    assert_eq!(p["affected_resources_count"], 1);
    let other = c
        .get("/api/marketplace-slurm-periodic-usage-policies/?scope_uuid=d0000000000000000000000000000099")
        .await;
    assert_eq!(other.json(), json!([]));
    let one = c
        .get(&format!(
            "/api/marketplace-slurm-periodic-usage-policies/{}/",
            dashed(POLICY)
        ))
        .await;
    assert_eq!(one.json()["uuid"], POLICY);
}

#[tokio::test]
async fn usages_of_an_offering_for_one_month() {
    let (_fake, c) = start(seed()).await;
    let r = c
        .get(&format!(
            "/api/marketplace-component-usages/?offering_uuid={}&billing_period=2026-02-01&field=resource_uuid&field=type&field=usage&field=billing_period",
            demo::OFFERING
        ))
        .await;
    assert_eq!(
        r.json(),
        json!([{"resource_uuid": demo::RESOURCE, "type": "mem", "usage": "2500.50", "billing_period": "2026-02-01"}])
    );
    let none = c
        .get("/api/marketplace-component-usages/?offering_uuid=d0000000000000000000000000000099")
        .await;
    assert_eq!(none.json(), json!([]));
}

#[tokio::test]
async fn command_results_are_recorded_and_checked() {
    let (fake, c) = start(seed()).await;
    let path = format!(
        "/api/marketplace-slurm-periodic-usage-policies/{}/report-command-result/",
        dashed(POLICY)
    );
    let r = c
        .post(
            &path,
            Some(json!({"resource_uuid": dashed(demo::RESOURCE), "success": true, "error_message": "",
                        "mode": "production", "commands_executed": ["sacctmgr -i modify account where name=a set fairshare=1"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let recorded = fake.state.command_results();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].resource_uuid, demo::RESOURCE);
    assert_eq!(recorded[0].policy, POLICY);
    assert!(recorded[0].success);
    assert_eq!(recorded[0].commands_executed.len(), 1);
    for (body, field) in [
        (json!({"success": true}), "resource_uuid"),
        (json!({"resource_uuid": demo::RESOURCE}), "success"),
        (
            json!({"resource_uuid": demo::RESOURCE, "success": true, "mode": "dry-run"}),
            "mode",
        ),
        (
            json!({"resource_uuid": demo::RESOURCE, "success": true, "commands_executed": [1]}),
            "commands_executed",
        ),
    ] {
        let r = c.post(&path, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.json().get(field).is_some(), "{body}: {}", r.text());
    }
    let unknown = c
        .post(
            "/api/marketplace-slurm-periodic-usage-policies/d0000000000000000000000000000099/report-command-result/",
            Some(json!({"resource_uuid": demo::RESOURCE, "success": true})),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let shown = c.get("/__fake__/command-results").await;
    assert_eq!(shown.json().as_array().unwrap().len(), 1);
    assert_eq!(fake.state.command_results().len(), 1);
}

#[tokio::test]
async fn bad_policies_are_rejected_at_seed_time() {
    for bad in [
        json!([{"offering": demo::OFFERING, "limit_type": "GrpJobs"}]),
        json!([{"offering": demo::OFFERING, "period": 7}]),
        json!([{"offering": demo::OFFERING}, {"offering": demo::OFFERING}]),
        json!([{"offering": "d0000000000000000000000000000099"}]),
    ] {
        let mut s = demo_seed();
        s.periodic_policies = serde_json::from_value(bad.clone()).unwrap();
        assert!(fake_waldur::seed::load(s).is_err(), "{bad}");
    }
}
