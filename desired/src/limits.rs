//! Waldur limits -> SLURM TRES-minutes.

use std::collections::BTreeMap;

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

/// SLURM `GrpTRESMins` for a resource (spec: creation limits). Returns the map and notes
/// for the operator (e.g. a prepaid component without dates).
pub fn grp_tres_mins(input: &LimitInputs) -> (TresMap, Vec<String>) {
    let mut notes = Vec::new();
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
            AccountingType::Limit | AccountingType::One => {
                match input.waldur_limits.get(name).and_then(number) {
                    Some(v) => v,
                    None => continue,
                }
            }
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
    let map = out
        .into_iter()
        .filter(|(_, v)| v.is_finite() && *v >= 0.0)
        .map(|(k, v)| (k, v.trunc() as u64))
        .collect();
    (map, notes)
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
        let (map, _) = grp_tres_mins(&LimitInputs {
            components: &comps,
            waldur_limits: &limits,
            period: None,
        });
        assert_eq!(map["cpu"], 600_000);
        assert_eq!(map["mem"], 614_400);
        let reported = reported_limits(&comps, &limits);
        assert_eq!(reported["cpu"], 10);
        assert_eq!(reported["mem"], 10);
    }

    #[test]
    fn prepaid_and_mapping() {
        let mut comps = IndexMap::new();
        comps.insert("cpu".to_string(), comp(AccountingType::One, 1.0, None));
        let limits: BTreeMap<String, Value> = serde_json::from_str(r#"{"cpu": 6}"#).unwrap();
        let (map, _) = grp_tres_mins(&LimitInputs {
            components: &comps,
            waldur_limits: &limits,
            period: Some(("2026-01-15", "2026-06-15")),
        });
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
        let (map, _) = grp_tres_mins(&LimitInputs {
            components: &comps,
            waldur_limits: &limits,
            period: None,
        });
        assert_eq!(map["cpu"], 640);
        assert_eq!(map["gpu"], 80);
    }
}
