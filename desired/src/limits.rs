//! Waldur limits -> SLURM TRES-minutes.

use std::collections::{BTreeMap, BTreeSet};

use agent_config::{AccountingType, Component};
use agent_reconcile::tres::TresMap;
use indexmap::IndexMap;
use serde_json::Value;

use crate::waldur::number;

/// `(year, month, day)` from `YYYY-MM-DD...`.
fn ymd(date: &str) -> Option<(i32, i32, i32)> {
    let d = date.get(..10)?;
    let mut parts = d.split('-');
    let y = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    Some((y, m, day))
}

/// Whole months a prepaid subscription runs, counting a started month; at least 1.
pub fn prepaid_months(created: &str, end: &str) -> Option<u32> {
    let (cy, cm, cd) = ymd(created)?;
    let (ey, em, ed) = ymd(end)?;
    let months = (ey - cy) * 12 + (em - cm) + i32::from(ed > cd);
    Some(months.max(1) as u32)
}

/// Inputs for one resource's limits.
pub struct LimitInputs<'a> {
    pub components: &'a IndexMap<String, Component>,
    pub waldur_limits: &'a BTreeMap<String, Value>,
    /// `(created, end_date)` for prepaid components.
    pub period: Option<(&'a str, &'a str)>,
}

/// The largest TRES-minute limit written: 2^53, exact as a float and far above any real
/// allocation (150 billion CPU-years). SLURM reads values near 2^64 as "unlimited" (and
/// -1 as "clear"), so a bad Waldur value must never be turned into one of those.
pub const MAX_TRES_MINUTES: f64 = 9_007_199_254_740_992.0;

/// A Waldur limit that cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit {component}={value}: {why}")]
pub struct LimitError {
    pub component: String,
    pub value: String,
    pub why: &'static str,
}

/// A Waldur amount as a limit: a number or numeric string, finite and not negative.
pub fn limit_value(component: &str, v: &Value) -> Result<f64, LimitError> {
    let err = |why| LimitError {
        component: component.to_string(),
        value: agent_reconcile::escape::text(&v.to_string()).into_owned(),
        why,
    };
    let n = number(v).ok_or_else(|| err("not a number"))?;
    if !n.is_finite() {
        return Err(err("not a finite number"));
    }
    if n < 0.0 {
        return Err(err("negative"));
    }
    Ok(n)
}

/// `amount` in whole TRES-minutes, or an error when it is past [`MAX_TRES_MINUTES`].
pub fn tres_minutes(component: &str, amount: f64) -> Result<u64, LimitError> {
    if !(0.0..=MAX_TRES_MINUTES).contains(&amount) {
        return Err(LimitError {
            component: component.to_string(),
            value: format!("{amount}"),
            why: "more TRES-minutes than any real allocation (a unit_factor or limit error)",
        });
    }
    Ok(amount.trunc() as u64)
}

/// A resource's `GrpTRESMins` as Waldur's limits give it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpLimits {
    pub tres: TresMap,
    /// For the operator, e.g. a prepaid component without dates.
    pub notes: Vec<String>,
    /// TRES of limit-type components that Waldur's limits do not name (a partial Update
    /// order, a resource ordered before the component existed): neither set nor cleared,
    /// since clearing one would lift its cap.
    pub unnamed: BTreeSet<String>,
}

/// SLURM `GrpTRESMins` for a resource (spec: creation limits), or the first value that
/// cannot be written: then no limit of the resource is, and its current limits stay.
pub fn grp_tres_mins(input: &LimitInputs) -> Result<GrpLimits, LimitError> {
    let mut notes = Vec::new();
    let mut unnamed = BTreeSet::new();
    let mapping = input
        .components
        .values()
        .any(|c| c.target_components.is_some());
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (name, comp) in input.components {
        let amount = match comp.accounting_type {
            AccountingType::Usage => match comp.limit {
                Some(l) => l,
                None => continue,
            },
            AccountingType::Limit | AccountingType::One => match input.waldur_limits.get(name) {
                Some(v) => limit_value(name, v)?,
                None => {
                    match comp.target_components.as_ref().filter(|_| mapping) {
                        Some(targets) => unnamed.extend(targets.keys().cloned()),
                        None => {
                            unnamed.insert(name.clone());
                        }
                    }
                    continue;
                }
            },
        };
        let mut amount = amount;
        if comp.accounting_type == AccountingType::One {
            match input.period.and_then(|(c, e)| prepaid_months(c, e)) {
                Some(m) => amount *= f64::from(m),
                None => notes.push(format!(
                    "prepaid component {name} has no created/end_date: limit not multiplied by months"
                )),
            }
        }
        if mapping {
            match &comp.target_components {
                Some(targets) => {
                    for (t, f) in targets {
                        *out.entry(t.clone()).or_default() += amount * f;
                    }
                }
                None => *out.entry(name.clone()).or_default() += amount,
            }
        } else {
            *out.entry(name.clone()).or_default() += amount * comp.unit_factor;
        }
    }
    let tres = out
        .into_iter()
        .map(|(k, v)| tres_minutes(&k, v).map(|m| (k, m)))
        .collect::<Result<TresMap, _>>()?;
    // In mapping mode a TRES fed by a named component as well is written (from what is named).
    unnamed.retain(|t| !tres.contains_key(t));
    Ok(GrpLimits {
        tres,
        notes,
        unnamed,
    })
}

/// The limits reported back to Waldur (`set_limits`): the resource's own limits with every
/// usage-type component replaced by its configured limit, as integers.
pub fn reported_limits(
    components: &IndexMap<String, Component>,
    waldur_limits: &BTreeMap<String, Value>,
) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = waldur_limits
        .iter()
        .filter_map(|(k, v)| number(v).map(|n| (k.clone(), n.trunc() as i64)))
        .collect();
    for (name, comp) in components {
        if comp.accounting_type == AccountingType::Usage {
            if let Some(l) = comp.limit {
                out.insert(name.clone(), l.trunc() as i64);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(kind: AccountingType, factor: f64, limit: Option<f64>) -> Component {
        Component {
            measured_unit: "u".into(),
            label: "l".into(),
            unit_factor: factor,
            accounting_type: kind,
            limit,
            target_components: None,
        }
    }

    #[test]
    fn prepaid_month_arithmetic() {
        assert_eq!(prepaid_months("2026-01-15", "2026-06-15"), Some(5));
        assert_eq!(prepaid_months("2026-01-10", "2026-04-20"), Some(4));
        assert_eq!(prepaid_months("2026-01-10", "2026-01-20"), Some(1));
        assert_eq!(prepaid_months("2026-05-10", "2026-01-20"), Some(1));
        assert_eq!(prepaid_months("2026-01-01", "2027-01-01"), Some(12));
    }

    #[test]
    fn creation_limits_follow_the_spec_example() {
        let mut comps = IndexMap::new();
        comps.insert(
            "cpu".to_string(),
            comp(AccountingType::Limit, 60000.0, None),
        );
        comps.insert(
            "mem".to_string(),
            comp(AccountingType::Usage, 61440.0, Some(10.0)),
        );
        let limits: BTreeMap<String, Value> =
            serde_json::from_str(r#"{"cpu": 10, "mem": 20}"#).unwrap();
        let map = grp_tres_mins(&LimitInputs {
            components: &comps,
            waldur_limits: &limits,
            period: None,
        })
        .unwrap()
        .tres;
        assert_eq!(map["cpu"], 600_000);
        assert_eq!(map["mem"], 614_400);
        let reported = reported_limits(&comps, &limits);
        assert_eq!(reported["cpu"], 10);
        assert_eq!(reported["mem"], 10);
    }

    #[test]
    fn values_that_would_lift_a_cap_are_errors() {
        let mut comps = IndexMap::new();
        comps.insert(
            "cpu".to_string(),
            comp(AccountingType::Limit, 60000.0, None),
        );
        for bad in [
            r#"{"cpu": -5}"#,
            r#"{"cpu": "lots"}"#,
            r#"{"cpu": 1e300}"#,
            r#"{"cpu": null}"#,
        ] {
            let limits: BTreeMap<String, Value> = serde_json::from_str(bad).unwrap();
            let e = grp_tres_mins(&LimitInputs {
                components: &comps,
                waldur_limits: &limits,
                period: None,
            })
            .unwrap_err();
            assert_eq!(e.component, "cpu", "{bad}");
        }
        let mut huge = comp(AccountingType::Limit, 1e15, None);
        huge.limit = None;
        comps.insert("cpu".into(), huge);
        let limits: BTreeMap<String, Value> = serde_json::from_str(r#"{"cpu": 100}"#).unwrap();
        assert!(grp_tres_mins(&LimitInputs {
            components: &comps,
            waldur_limits: &limits,
            period: None,
        })
        .is_err());
    }

    #[test]
    fn prepaid_and_mapping() {
        let mut comps = IndexMap::new();
        comps.insert("cpu".to_string(), comp(AccountingType::One, 1.0, None));
        let limits: BTreeMap<String, Value> = serde_json::from_str(r#"{"cpu": 6}"#).unwrap();
        let map = grp_tres_mins(&LimitInputs {
            components: &comps,
            waldur_limits: &limits,
            period: Some(("2026-01-15", "2026-06-15")),
        })
        .unwrap()
        .tres;
        assert_eq!(map["cpu"], 30);

        let mut node = comp(AccountingType::Limit, 1.0, None);
        node.target_components = Some(
            [("cpu".to_string(), 64.0), ("gpu".to_string(), 8.0)]
                .into_iter()
                .collect(),
        );
        let mut comps = IndexMap::new();
        comps.insert("node_hours".to_string(), node);
        let limits: BTreeMap<String, Value> =
            serde_json::from_str(r#"{"node_hours": 10}"#).unwrap();
        let map = grp_tres_mins(&LimitInputs {
            components: &comps,
            waldur_limits: &limits,
            period: None,
        })
        .unwrap()
        .tres;
        assert_eq!(map["cpu"], 640);
        assert_eq!(map["gpu"], 80);
    }

    fn limits_for(comps: &IndexMap<String, Component>, json: &str) -> GrpLimits {
        let limits: BTreeMap<String, Value> = serde_json::from_str(json).unwrap();
        grp_tres_mins(&LimitInputs {
            components: comps,
            waldur_limits: &limits,
            period: None,
        })
        .unwrap()
    }

    #[test]
    fn a_limit_component_waldur_does_not_name_is_left_alone_not_cleared() {
        let mut comps = IndexMap::new();
        comps.insert("cpu".into(), comp(AccountingType::Limit, 60000.0, None));
        comps.insert("gres/gpu".into(), comp(AccountingType::Limit, 60.0, None));
        comps.insert(
            "mem".into(),
            comp(AccountingType::Usage, 61440.0, Some(10.0)),
        );
        let got = limits_for(&comps, r#"{"cpu": 10}"#);
        assert_eq!(
            got.tres,
            TresMap::from([("cpu".into(), 600_000), ("mem".into(), 614_400)])
        );
        assert_eq!(got.unnamed, BTreeSet::from(["gres/gpu".to_string()]));

        // Mapping mode: an unnamed component's targets stay alone unless a named one
        // feeds them too.
        let mut node = comp(AccountingType::Limit, 1.0, None);
        node.target_components = Some(
            [("cpu".to_string(), 64.0), ("gpu".to_string(), 8.0)]
                .into_iter()
                .collect(),
        );
        let mut cores = comp(AccountingType::Limit, 1.0, None);
        cores.target_components = Some([("cpu".to_string(), 1.0)].into_iter().collect());
        let comps = IndexMap::from([
            ("node_hours".to_string(), node),
            ("cores".to_string(), cores),
        ]);
        let got = limits_for(&comps, r#"{"cores": 5}"#);
        assert_eq!(got.tres, TresMap::from([("cpu".into(), 5)]));
        assert_eq!(got.unnamed, BTreeSet::from(["gpu".to_string()]));
    }
}
