//! The formulas with exact integers: the worked examples of the spec (§4.3), weights,
//! grace, carry-over caps, the legacy decay variant, periods, policy defaults and the
//! published settings.

use std::collections::BTreeMap;

use serde_json::json;

use super::math::compute;
use super::period::{Period, PeriodKind, YearMonth};
use super::policy::{Carryover, Policy, PolicyParams};
use super::published::{self, StoredSettings};
use agent_config::LimitType;

const POLICY: &str = "91ab0000000000000000000000000001";
const OFFERING: &str = "d6290000000000000000000000000001";

fn policy(extra: serde_json::Value) -> PolicyParams {
    let mut doc = json!({"uuid": POLICY, "scope_uuid": OFFERING});
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    let p: Policy = serde_json::from_value(doc).unwrap();
    p.params(LimitType::GrpTresMins).unwrap()
}

fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn limits(c: &super::math::Computed) -> BTreeMap<&str, u64> {
    c.limits
        .iter()
        .map(|(k, (v, _))| (k.as_str(), *v))
        .collect()
}

#[test]
fn the_worked_example_of_the_spec() {
    // Defaults: grace 0.2, carry-over 50 %, Mastermind's weights.
    let p = policy(json!({}));
    let base = map(&[("cpu", 1000.0), ("mem", 2000.0)]);
    let previous = map(&[("cpu", 400.0), ("mem", 2500.0)]);
    let c = compute(&p, &base, Some(&previous)).unwrap();
    let totals: Vec<f64> = c.components.iter().map(|t| t.total).collect();
    assert_eq!(totals, [1500.0, 2000.0]);
    assert_eq!(c.fairshare, 1166);
    assert_eq!(
        limits(&c),
        BTreeMap::from([("billing", 1968), ("cpu", 108000), ("mem", 144000)])
    );
    assert_eq!(c.qos_threshold, ("billing".into(), 1640));
    assert_eq!(c.grace_limit, ("billing".into(), 1968));
    assert_eq!(
        c.limits["cpu"].1,
        "1000 + 500 carried over (600 unused of 1000 in the previous period, 400 used; at most 50%) = 1500 h × 60 = 90000 × 1.2 grace = 108000"
    );
    assert_eq!(c.fairshare_why, "max(1, floor((1500 + 2000) / 3)) = 1166");

    // The same before grace: the minutes Mastermind computes first.
    let c = compute(&policy(json!({"grace_ratio": 0})), &base, Some(&previous)).unwrap();
    assert_eq!(
        limits(&c),
        BTreeMap::from([("billing", 1640), ("cpu", 90000), ("mem", 120000)])
    );
}

#[test]
fn carry_over_is_capped_and_needs_a_previous_period() {
    let base = map(&[("cpu", 1000.0)]);
    let idle = map(&[]);
    for (factor, total) in [(50, 1500.0), (20, 1200.0), (0, 1000.0), (100, 2000.0)] {
        let p = policy(json!({"carryover_factor": factor, "grace_ratio": 0}));
        let c = compute(&p, &base, Some(&idle)).unwrap();
        assert_eq!(c.components[0].total, total, "factor {factor}");
    }
    // Used more than the allocation: nothing carries over.
    let p = policy(json!({}));
    let c = compute(&p, &base, Some(&map(&[("cpu", 5000.0)]))).unwrap();
    assert_eq!(c.components[0].total, 1000.0);
    // No previous period (total) or carry-over off: the base.
    let c = compute(&p, &base, None).unwrap();
    assert_eq!(c.components[0].total, 1000.0);
    assert_eq!(
        policy(json!({"carryover_enabled": false})).carryover,
        Carryover::Off
    );
}

#[test]
fn billing_weights_match_exactly_then_ignoring_case() {
    let base = map(&[("cpu", 100.0), ("gres/gpu", 10.0), ("storage", 50.0)]);
    let none = Some(&BTreeMap::new());
    let p = policy(json!({"grace_ratio": 0, "carryover_enabled": false,
                          "tres_billing_weights": {"CPU": 1.0, "cpu": 0.5, "GRES/GPU": 2}}));
    // cpu: the exact key (0.5); gres/gpu: case-insensitive (2); storage: no weight.
    let c = compute(&p, &base, none).unwrap();
    assert_eq!(limits(&c)["billing"], 60 * (50 + 20));
    // An exact weight of 0 looks further; the first key equal ignoring case wins.
    let p =
        policy(json!({"carryover_enabled": false, "tres_billing_weights": {"cpu": 0, "CPU": 2}}));
    assert_eq!(p.weight("cpu"), Some(("cpu", 0.0)));
    let p =
        policy(json!({"carryover_enabled": false, "tres_billing_weights": {"CPU": 2, "cpu": 0}}));
    assert_eq!(p.weight("cpu"), Some(("CPU", 2.0)));
    // Components without a weight give a billing entry of 0.
    let c = compute(&policy(json!({})), &map(&[("storage", 50.0)]), none).unwrap();
    assert_eq!(limits(&c)["billing"], 0);
    // Empty weights are Mastermind's defaults.
    let p = policy(json!({"tres_billing_weights": {}}));
    assert!(p.weights_are_default);
    assert_eq!(p.weight("mem"), Some(("Mem", 0.001953125)));
}

#[test]
fn billing_off_thresholds_count_nodes_and_fairshare_is_at_least_one() {
    let p = policy(
        json!({"tres_billing_enabled": false, "grace_ratio": 0.3, "carryover_enabled": false}),
    );
    let c = compute(&p, &map(&[("node", 18800.0)]), None).unwrap();
    assert_eq!(limits(&c), BTreeMap::from([("node", 1_466_400)]));
    assert_eq!(c.qos_threshold, ("node".into(), 1_128_000));
    assert_eq!(c.grace_limit, ("node".into(), 1_466_400));
    let c = compute(&p, &map(&[("node", 1.0)]), None).unwrap();
    assert_eq!(c.fairshare, 1);
    // Values no allocation can have are errors, never "unlimited".
    assert!(compute(&p, &map(&[("node", 1e300)]), None).is_err());
}

#[test]
fn the_legacy_decay_variant() {
    // Half-life 15 days over a quarter (90 days): decay 2^-6 = 0.015625.
    let p = policy(json!({"fairshare_decay_half_life": 15, "period": 3}));
    assert_eq!(
        p.carryover,
        Carryover::Decay {
            half_life_days: 15.0
        }
    );
    let c = compute(
        &p,
        &map(&[("node", 1000.0)]),
        Some(&map(&[("node", 600.0)])),
    )
    .unwrap();
    assert_eq!(c.components[0].total, 1990.625);
    assert_eq!(c.fairshare, 663);
    assert_eq!(limits(&c), BTreeMap::from([("billing", 119_437)]));
    // The tests' 30-day variant (monthly: decay 0.25).
    let p = policy(json!({"fairshare_decay_half_life": 15, "period": 2}));
    for (base, used, total) in [
        (1000.0, 300.0, 1925.0),
        (1500.0, 1050.0, 2737.5),
        (2000.0, 2400.0, 3400.0),
    ] {
        let c = compute(&p, &map(&[("node", base)]), Some(&map(&[("node", used)]))).unwrap();
        assert_eq!(c.components[0].total, total, "{base}/{used}");
    }
    // A carry-over factor means the current algorithm, whatever else is set.
    let p = policy(json!({"fairshare_decay_half_life": 15, "carryover_factor": 50}));
    assert_eq!(p.carryover, Carryover::Capped(50));
}

#[test]
fn periods_names_predecessors_and_months() {
    let ym = |y, m| YearMonth::new(y, m).unwrap();
    let q = Period::of(PeriodKind::Quarter, ym(2026, 4));
    assert_eq!(q.to_string(), "2026-Q2");
    assert_eq!(q.previous().unwrap().to_string(), "2026-Q1");
    let q1 = Period::of(PeriodKind::Quarter, ym(2026, 3));
    assert_eq!(q1.to_string(), "2026-Q1");
    assert_eq!(q1.previous().unwrap().to_string(), "2025-Q4");
    assert_eq!(q1.months(), [ym(2026, 1), ym(2026, 2), ym(2026, 3)]);
    let m = Period::of(PeriodKind::Month, ym(2026, 1));
    assert_eq!(
        (m.to_string(), m.previous().unwrap().to_string()),
        ("2026-01".into(), "2025-12".into())
    );
    let y = Period::of(PeriodKind::Year, ym(2026, 7));
    assert_eq!(y.previous().unwrap().to_string(), "2025");
    assert_eq!(y.months().len(), 12);
    let t = Period::of(PeriodKind::Total, ym(2026, 7));
    assert_eq!(t.to_string(), "total");
    assert!(t.previous().is_none() && t.months().is_empty());
    assert_eq!(YearMonth::of_date("2026-02-01").unwrap(), ym(2026, 2));
    assert!(YearMonth::of_date("2026-13-01").is_none());
}

#[test]
fn the_offerings_limit_period_overrides_the_policy_when_its_components_agree() {
    let c = |billing: &str, period: Option<&str>| crate::waldur::OfferingComponent {
        kind: "x".into(),
        billing_type: Some(billing.into()),
        limit_period: period.map(str::to_string),
    };
    let kind = super::effective_kind;
    assert_eq!(
        kind(PeriodKind::Quarter, &[c("limit", Some("annual"))]),
        PeriodKind::Year
    );
    assert_eq!(
        kind(
            PeriodKind::Quarter,
            &[c("limit", Some("month")), c("limit", Some("month"))]
        ),
        PeriodKind::Month
    );
    assert_eq!(
        kind(
            PeriodKind::Quarter,
            &[c("limit", Some("month")), c("limit", Some("total"))]
        ),
        PeriodKind::Quarter
    );
    assert_eq!(
        kind(PeriodKind::Month, &[c("usage", Some("annual"))]),
        PeriodKind::Month
    );
}

#[test]
fn policy_defaults_and_invalid_values() {
    let p = policy(json!({}));
    assert_eq!(p.period, PeriodKind::Quarter);
    assert_eq!(p.limit_type, LimitType::GrpTresMins);
    assert!(p.billing && p.raw_usage_reset);
    assert_eq!((p.carryover, p.grace_ratio), (Carryover::Capped(50), 0.2));
    assert_eq!(policy(json!({"period": 1})).period, PeriodKind::Total);
    assert_eq!(
        policy(json!({"limit_type": "GrpTRES"})).limit_type,
        LimitType::GrpTres
    );
    let bad = |extra: serde_json::Value| {
        let mut doc = json!({"uuid": POLICY, "scope_uuid": OFFERING});
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        serde_json::from_value::<Policy>(doc)
            .unwrap()
            .params(LimitType::GrpTresMins)
            .unwrap_err()
    };
    assert!(bad(json!({"limit_type": "GrpJobs"})).contains("limit_type"));
    assert!(bad(json!({"carryover_factor": 150})).contains("carryover_factor"));
    assert!(bad(json!({"grace_ratio": -1})).contains("grace_ratio"));
    assert!(bad(json!({"grace_ratio": 1e300})).contains("grace_ratio 1e300 is above 10"));
    assert_eq!(policy(json!({"grace_ratio": 10})).grace_ratio, 10.0);
    // A period that is not one of Mastermind's choices is refused, not taken as quarterly.
    assert!(bad(json!({"period": 0})).contains("period 0 is not one of"));
    assert!(bad(json!({"period": 5})).contains("period 5 is not one of"));
    assert_eq!(policy(json!({"period": 3})).period, PeriodKind::Quarter);
    assert!(bad(json!({"tres_billing_weights": {"CPU": "heavy"}})).contains("CPU"));
    assert!(
        serde_json::from_value::<Policy>(json!({"uuid": "nope", "scope_uuid": OFFERING})).is_err()
    );
}

#[test]
fn published_settings_read_what_the_agent_applies() {
    // The message of the spec (§4.4).
    let s = json!({"fairshare": 1166, "limit_type": "GrpTRESMins",
                   "grp_tres_mins": {"cpu": 108000, "mem": 144000, "billing": 1968},
                   "reset_raw_usage": true, "qos_threshold": {"billing": 1640},
                   "grace_limit": {"billing": 1968}, "carryover_details": {"carryover_applied": true}});
    let p = published::parse(&s).unwrap();
    assert_eq!(p.fairshare, Some(1166));
    assert_eq!(p.limit_type, Some(LimitType::GrpTresMins));
    assert_eq!(p.limits.len(), 3);
    assert!(p.reset_raw_usage);
    // MaxTRESMins; GrpTRES (which the Python agent ignores) is read too.
    let p = published::parse(
        &json!({"limit_type": "MaxTRESMins", "max_tres_mins": {"billing": 60000}}),
    )
    .unwrap();
    assert_eq!(
        (p.limit_type, p.limits["billing"]),
        (Some(LimitType::MaxTresMins), 60000)
    );
    let p = published::parse(&json!({"grp_tres": {"node": 5}})).unwrap();
    assert_eq!(p.limit_type, Some(LimitType::GrpTres));
    // grp_tres_mins wins over max_tres_mins; an empty map names nothing.
    let p =
        published::parse(&json!({"grp_tres_mins": {"a": 1}, "max_tres_mins": {"b": 2}})).unwrap();
    assert_eq!(p.limits.keys().collect::<Vec<_>>(), ["a"]);
    assert!(published::parse(&json!({})).unwrap().limits.is_empty());
    // Fairshare 0 is never applied.
    let p = published::parse(&json!({"fairshare": 0})).unwrap();
    assert_eq!((p.fairshare, p.fairshare_zero), (None, true));
    for bad in [
        json!({"fairshare": -3}),
        json!({"grp_tres_mins": {"cpu": 1.5}}),
        json!({"grp_tres_mins": {"cpu x": 1}}),
        json!({"limit_type": "Bogus"}),
        json!({"reset_raw_usage": "yes"}),
    ] {
        assert!(published::parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn messages_are_checked_and_an_older_one_is_never_newer() {
    let msg = |ts: &str| {
        json!({"resource_uuid": "6f1c0000-0000-0000-0000-000000000001", "backend_id": "a_x",
               "offering_uuid": OFFERING, "policy_uuid": POLICY, "action": "apply_periodic_settings",
               "settings": {"fairshare": 5}, "timestamp": ts})
    };
    let a =
        StoredSettings::from_message(&msg("2026-04-01T00:10:02.123456"), "2026-04-01T00:10:03Z")
            .unwrap();
    assert_eq!(a.resource_uuid, "6f1c0000000000000000000000000001");
    let b =
        StoredSettings::from_message(&msg("2026-04-01T00:20:02"), "2026-04-01T00:20:03Z").unwrap();
    assert!(b.is_newer_than(&a) && !a.is_newer_than(&b) && !a.is_newer_than(&a));
    let mut bad = msg("x");
    bad["action"] = json!("something_else");
    assert!(StoredSettings::from_message(&bad, "t").is_err());
    let mut bad = msg("x");
    bad.as_object_mut().unwrap().remove("backend_id");
    assert!(StoredSettings::from_message(&bad, "t").is_err());
}
