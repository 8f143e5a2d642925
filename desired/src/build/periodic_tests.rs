//! The builder with a periodic policy: who owns the limits, which source the values come
//! from (stored message of this period, else computed), and resets.

use std::collections::BTreeMap;

use serde_json::json;

use super::tests::{config_with, docs, resource};
use super::*;
use crate::periodic::{Policy, StoredSettings, YearMonth};
use agent_reconcile::state::AccountField;

const POLICY: &str = "91ab0000000000000000000000000001";
const RES: &str = "aa000000000000000000000000000002";
const LIVE: &str = r#"{"uuid": "aa000000000000000000000000000002", "name": "alloc", "slug": "alloc", "state": "OK",
  "backend_id": "hpc_alloc", "project_uuid": "bb000000000000000000000000000001", "project_slug": "project-1", "project_name": "Project 1",
  "customer_slug": "customer-1", "customer_name": "Customer 1", "limits": {"cpu": 1000, "mem": 2000},
  "paused": false, "downscaled": false, "restrict_member_access": false}"#;

fn enabled(limit_type: &str) -> agent_config::Offering {
    config_with(&format!(
        "      periodic_limits: {{enabled: true, limit_type: {limit_type}}}\n"
    ))
}

fn policy_docs(policy: serde_json::Value) -> WaldurDocs {
    let mut d = docs(vec![resource(LIVE)], vec![]);
    let mut doc = json!({"uuid": POLICY, "scope_uuid": "00000000000000000000000000000001"});
    for (k, v) in policy.as_object().unwrap() {
        doc[k] = v.clone();
    }
    d.policies = vec![serde_json::from_value::<Policy>(doc).unwrap()];
    let ym = |m| YearMonth::new(2026, m).unwrap();
    d.usages.insert(
        RES.into(),
        BTreeMap::from([
            (ym(1), vec![("cpu".into(), 100.0), ("mem".into(), 2500.0)]),
            (ym(3), vec![("cpu".into(), 300.0)]),
            // Not in the previous quarter: ignored.
            (ym(4), vec![("cpu".into(), 900.0)]),
        ]),
    );
    d
}

/// April 2026 (2026-Q2), with these stored settings.
fn ctx(stored: Option<(serde_json::Value, u32)>) -> BuildContext {
    let mut c = BuildContext {
        month: YearMonth::new(2026, 4),
        stored: BTreeMap::new(),
    };
    if let Some((settings, month)) = stored {
        let message = json!({"resource_uuid": RES, "backend_id": "hpc_alloc", "policy_uuid": POLICY,
                             "action": "apply_periodic_settings", "timestamp": "2026-04-01T00:10:02",
                             "settings": settings});
        let stored = StoredSettings::from_message(&message, "2026-04-01T00:10:03Z").unwrap();
        c.stored.insert(
            RES.into(),
            Ok(Received {
                stored,
                month: YearMonth::new(2026, month).unwrap(),
            }),
        );
    }
    c
}

fn has(d: &Desired, code: &str) -> bool {
    d.diagnostics.iter().any(|x| x.code == code)
}

/// Whether the order path writes GrpTRESMins of the allocation.
fn order_limits(d: &Desired) -> bool {
    d.accounts["hpc_alloc"]
        .fields
        .contains_key(&AccountField::GrpTresMins)
}

fn values(d: &Desired) -> (Option<u32>, BTreeMap<String, u64>) {
    let spec = &d.periodic["hpc_alloc"];
    (
        spec.fairshare.as_ref().map(|w| w.value),
        spec.limits
            .iter()
            .map(|(k, w)| (k.clone(), w.value))
            .collect(),
    )
}

#[test]
fn without_stored_settings_the_policy_is_computed_and_owns_grp_tres_mins() {
    let d = build_with(&enabled("GrpTRESMins"), &policy_docs(json!({})), &ctx(None));
    let (fairshare, limits) = values(&d);
    assert_eq!(fairshare, Some(1166));
    assert_eq!(
        limits,
        BTreeMap::from([
            ("billing".into(), 1968),
            ("cpu".into(), 108000),
            ("mem".into(), 144000)
        ])
    );
    let spec = &d.periodic["hpc_alloc"];
    assert_eq!(spec.source.code, "periodic_computed");
    assert!(
        spec.source.text.contains("usage in 2026-Q1"),
        "{}",
        spec.source.text
    );
    let reset = spec.reset.as_ref().unwrap();
    assert_eq!(
        (reset.period.as_str(), reset.needs_earlier_reset),
        ("2026-Q2", true)
    );
    assert!(!order_limits(&d));
    assert!(has(&d, "periodic_policy"));
    assert_eq!(spec.report.as_ref().unwrap().policy, POLICY);
    assert!(spec
        .policy
        .iter()
        .any(|(k, v)| k == "carry-over" && v.contains("50%")));
}

#[test]
fn settings_stored_this_period_override_the_computation() {
    let published = json!({"fairshare": 333, "limit_type": "GrpTRESMins",
                           "grp_tres_mins": {"billing": 119640}, "reset_raw_usage": true,
                           "qos_threshold": {"billing": 1}});
    let d = build_with(
        &enabled("GrpTRESMins"),
        &policy_docs(json!({})),
        &ctx(Some((published, 4))),
    );
    assert_eq!(
        values(&d),
        (Some(333), BTreeMap::from([("billing".into(), 119640)]))
    );
    let spec = &d.periodic["hpc_alloc"];
    assert_eq!(spec.source.code, "periodic_published");
    assert!(!spec.reset.as_ref().unwrap().needs_earlier_reset);
    // From an earlier period: computed, and the reset is due (the period changed).
    let d = build_with(
        &enabled("GrpTRESMins"),
        &policy_docs(json!({})),
        &ctx(Some((json!({"fairshare": 333}), 3))),
    );
    assert_eq!(values(&d).0, Some(1166));
    let spec = &d.periodic["hpc_alloc"];
    assert!(
        spec.source.text.contains("from period 2026-Q1"),
        "{}",
        spec.source.text
    );
    assert!(!spec.reset.as_ref().unwrap().needs_earlier_reset);
}

#[test]
fn a_max_tres_mins_policy_leaves_grp_tres_mins_to_the_orders() {
    let d = build_with(
        &enabled("GrpTRESMins"),
        &policy_docs(json!({"limit_type": "MaxTRESMins", "raw_usage_reset": false})),
        &ctx(None),
    );
    assert_eq!(
        d.periodic["hpc_alloc"].limit_field,
        AccountField::MaxTresMins
    );
    assert!(d.periodic["hpc_alloc"].reset.is_none());
    assert!(order_limits(&d));
}

#[test]
fn no_policy_means_order_limits_an_unusable_one_means_none() {
    let mut plain = policy_docs(json!({}));
    plain.policies.clear();
    let d = build_with(&enabled("GrpTRESMins"), &plain, &ctx(None));
    assert!(d.periodic.is_empty());
    assert!(order_limits(&d));
    assert!(has(&d, "no_periodic_policy"));
    let d = build_with(
        &enabled("GrpTRESMins"),
        &policy_docs(json!({"limit_type": "Bogus"})),
        &ctx(None),
    );
    assert!(d.periodic.is_empty());
    assert!(!order_limits(&d));
    assert!(has(&d, "invalid_periodic_policy"));
    // Not enabled: the policy is not Waldur's to apply here.
    let d = build_with(&config_with(""), &policy_docs(json!({})), &ctx(None));
    assert!(d.periodic.is_empty());
}

#[test]
fn stored_settings_for_another_account_or_unreadable_are_not_used() {
    let mut c = ctx(Some((json!({"fairshare": 5}), 4)));
    if let Some(Ok(r)) = c.stored.get_mut(RES) {
        r.stored.backend_id = Some("hpc_other".into());
    }
    let d = build_with(&enabled("GrpTRESMins"), &policy_docs(json!({})), &c);
    assert_eq!(values(&d).0, Some(1166));
    assert!(has(&d, "stored_settings_other_account"));
    // Received in a later period than the clock says: not used, not evidence of a change.
    let later = ctx(Some((json!({"fairshare": 5}), 7)));
    let d = build_with(&enabled("GrpTRESMins"), &policy_docs(json!({})), &later);
    assert_eq!(values(&d).0, Some(1166));
    assert!(
        d.periodic["hpc_alloc"]
            .reset
            .as_ref()
            .unwrap()
            .needs_earlier_reset
    );
    assert!(has(&d, "stored_settings_from_a_later_period"));
    c.stored.insert(RES.into(), Err("parsing: bad".into()));
    let d = build_with(&enabled("GrpTRESMins"), &policy_docs(json!({})), &c);
    assert!(d.periodic.is_empty());
    assert!(!order_limits(&d));
    assert!(has(&d, "unreadable_stored_settings"));
}

#[test]
fn a_limit_key_that_is_no_tres_name_never_reaches_a_command() {
    let mut d = policy_docs(json!({}));
    d.resources[0].limits = serde_json::from_value(json!({"cpu=1,mem": 5})).unwrap();
    let d = build_with(&enabled("GrpTRESMins"), &d, &ctx(None));
    assert!(d.periodic.is_empty());
    assert!(has(&d, "invalid_limit"));
}
