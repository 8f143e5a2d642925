use super::*;
use agent_config::AccountingType;

fn comp(factor: f64) -> Component {
    Component {
        measured_unit: "u".into(),
        label: "l".into(),
        unit_factor: factor,
        accounting_type: AccountingType::Usage,
        limit: None,
        target_components: None,
    }
}

fn mapped(targets: &[(&str, f64)]) -> Component {
    Component {
        target_components: Some(targets.iter().map(|(t, f)| (t.to_string(), *f)).collect()),
        ..comp(1.0)
    }
}

fn raw(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn amounts(map: &BTreeMap<String, Amount>) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

fn a(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

#[test]
fn amounts_parse_and_print_like_waldur() {
    assert_eq!(a("12.50").hundredths(), 1250);
    assert_eq!(a("12.5").to_string(), "12.50");
    assert_eq!(a("3").to_string(), "3.00");
    assert_eq!(a("0.1").to_string(), "0.10");
    assert_eq!(a(".5").to_string(), "0.50");
    assert_eq!(a(" 7.00 ").to_string(), "7.00");
    assert_eq!(a("-0.05").to_string(), "-0.05");
    assert_eq!(a("+1").to_string(), "1.00");
    assert_eq!(a("1.500").to_string(), "1.50");
    assert_eq!(a("0").to_string(), "0.00");
    for (bad, why) in [
        ("1.234", "more than 2 decimal places"),
        ("", "expected a decimal number like 12.50"),
        (".", "expected a decimal number like 12.50"),
        ("1e5", "expected a decimal number like 12.50"),
        ("1,5", "expected a decimal number like 12.50"),
        ("abc", "expected a decimal number like 12.50"),
        ("99999999999999999999", "too large"),
    ] {
        let e = Amount::parse(bad).unwrap_err();
        assert_eq!(e.why, why, "{bad}");
    }
    assert_eq!(
        Amount::parse("1.234").unwrap_err().to_string(),
        "\"1.234\" is not a Waldur amount: more than 2 decimal places"
    );
}

#[test]
fn amounts_from_json() {
    let j = |s: &str| Amount::from_json(&serde_json::from_str(s).unwrap());
    assert_eq!(j("\"12.50\"").unwrap().hundredths(), 1250);
    assert_eq!(j("3").unwrap().hundredths(), 300);
    assert_eq!(j("0.1").unwrap().hundredths(), 10);
    assert_eq!(j("3.25").unwrap().hundredths(), 325);
    assert!(j("3.255").is_err());
    assert!(j("null").is_err());
    let parsed: BTreeMap<String, Amount> =
        serde_json::from_str(r#"{"cpu": "1.50", "mem": 2}"#).unwrap();
    assert_eq!(parsed["mem"], a("2"));
    assert_eq!(serde_json::to_string(&a("1.5")).unwrap(), "\"1.50\"");
    assert!(serde_json::from_str::<Amount>("\"x\"").is_err());
}

#[test]
fn rounding_matches_python() {
    // Python: round(2.675, 2) == 2.67 (binary 2.67499...), round(0.125, 2) == 0.12 (tie to
    // even), round(0.375, 2) == 0.38, round(1.005, 2) == 1.0, round(2.5) == 2.
    assert_eq!(Amount::round(2.675).to_string(), "2.67");
    assert_eq!(Amount::round(0.125).to_string(), "0.12");
    assert_eq!(Amount::round(0.375).to_string(), "0.38");
    assert_eq!(Amount::round(1.005).to_string(), "1.00");
    assert_eq!(Amount::round(0.004).to_string(), "0.00");
    assert_eq!(Amount::round_whole(2.5).to_string(), "2.00");
    assert_eq!(Amount::round_whole(3.5).to_string(), "4.00");
    assert_eq!(Amount::round(f64::NAN), Amount::ZERO);
    assert_eq!(Amount::round(f64::INFINITY).hundredths(), i64::MAX);
    assert_eq!(Amount::round(1e300).hundredths(), i64::MAX);
}

#[test]
fn spec_example() {
    // a1|billing=4,cpu=4,mem=4000M,node=1|01:00:00|alice -> 240 cpu-minutes and 240000
    // MB-minutes; billing and node are not components.
    let mut comps = IndexMap::new();
    comps.insert("cpu".to_string(), comp(60000.0));
    comps.insert("mem".to_string(), comp(61440.0));
    let usage = raw(&[
        ("billing", 240.0),
        ("cpu", 240.0),
        ("mem", 240_000.0),
        ("node", 60.0),
    ]);
    assert_eq!(
        amounts(&to_waldur(&comps, &usage)),
        vec![
            ("cpu".to_string(), "0.00".to_string()),
            ("mem".to_string(), "3.91".to_string())
        ]
    );
}

#[test]
fn absent_tres_is_zero_and_gpu_names_match() {
    let mut comps = IndexMap::new();
    comps.insert("cpu".to_string(), comp(60.0));
    comps.insert("gres/gpu".to_string(), comp(60.0));
    comps.insert("gpu".to_string(), comp(60.0));
    comps.insert("billing".to_string(), comp(1.0));
    let usage = raw(&[("cpu", 90.0), ("gres/gpu", 30.0)]);
    let out = to_waldur(&comps, &usage);
    assert_eq!(out["cpu"], a("1.50"));
    assert_eq!(out["gres/gpu"], a("0.50"));
    assert_eq!(out["gpu"], a("0.50"), "gpu reads gres/gpu");
    assert_eq!(out["billing"], Amount::ZERO);
    assert_eq!(to_waldur(&comps, &BTreeMap::new())["cpu"], Amount::ZERO);
}

#[test]
fn mapping_mode_reverses_the_limit_mapping() {
    // node_hours -> {cpu: 64, gres/gpu: 8}; mem has no targets and passes through with
    // factor 1 (unit_factor ignored in mapping mode, as for limits).
    let mut comps = IndexMap::new();
    comps.insert(
        "node_hours".to_string(),
        mapped(&[("cpu", 64.0), ("gpu", 8.0)]),
    );
    comps.insert("mem".to_string(), comp(61440.0));
    comps.insert("storage".to_string(), mapped(&[("fs/disk", 2.0)]));
    let usage = raw(&[
        ("cpu", 640.0),
        ("gres/gpu", 84.0),
        ("mem", 1000.4),
        ("billing", 5.0),
    ]);
    let out = to_waldur(&comps, &usage);
    // 640/64 + 84/8 = 20.5 -> 20 (ties to even, like Python's round()).
    assert_eq!(out["node_hours"], a("20"));
    assert_eq!(out["mem"], a("1000"));
    assert_eq!(out["storage"], Amount::ZERO);
    assert_eq!(out.len(), 3);
}
