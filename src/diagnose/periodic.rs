//! The periodic-policy part of `agent diagnose`: the policy's parameters, each value the
//! policy expects with its unit and how it was reached (published by Waldur, or computed
//! and how), next to what SLURM holds, and where the RawUsage reset of this period stands.

use std::fmt::Write;

use agent_reconcile::escape::Esc;
use agent_reconcile::plan::{Address, Plan};
use agent_reconcile::state::{Desired, Observed, Shares, Value};

/// Nothing when no periodic policy manages the account.
pub fn section(account: &str, desired: &Desired, observed: &Observed, plan: &Plan) -> String {
    let Some(spec) = desired.periodic.get(account) else {
        return String::new();
    };
    let mut out = String::new();
    let field = spec.limit_field.name();
    let _ = writeln!(
        out,
        "\nPeriodic policy (Waldur owns fairshare and the {field} entries it names; compared here, not above):"
    );
    for (label, value) in &spec.policy {
        let label = Esc(label).to_string();
        let _ = writeln!(out, "  {label:<18} {}", Esc(value));
    }
    let _ = writeln!(out, "Values: {}", Esc(&spec.source.text));
    let current = observed.accounts.get(account);
    let mut rows: Vec<(String, Option<String>, String, String)> = Vec::new();
    if let Some(w) = &spec.fairshare {
        let have = current.map(|c| c.fairshare.clone());
        let shown = have.as_ref().map(Shares::render);
        rows.push((
            "fairshare".into(),
            shown,
            w.value.to_string(),
            w.why.clone(),
        ));
    }
    let have = match current.map(|c| c.get(spec.limit_field)) {
        Some(Value::Tres(m)) => m,
        _ => Default::default(),
    };
    for (tres, w) in &spec.limits {
        rows.push((
            format!("{field}[{tres}]"),
            have.get(tres).map(u64::to_string),
            w.value.to_string(),
            w.why.clone(),
        ));
    }
    if rows.is_empty() {
        let _ = writeln!(out, "  (no fairshare or limit: nothing to apply)");
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (name, have, want, why) in rows {
        let ok = have.as_deref() == Some(want.as_str());
        let tag = if ok { "[OK]" } else { "[MISMATCH]" };
        let name = Esc(&name).to_string();
        let have = have.unwrap_or_else(|| "(unset)".into());
        let _ = writeln!(
            out,
            "  {tag:<10} {name:<width$}  {} {} {}\n  {:<10} {}",
            Esc(&have),
            if ok { "==" } else { "!=" },
            Esc(&want),
            "",
            Esc(&why)
        );
    }
    if let Some(reset) = &spec.reset {
        let done = observed
            .raw_usage_resets
            .as_ref()
            .and_then(|r| r.get(account));
        let planned = plan
            .changes
            .iter()
            .any(|c| c.address == Address::RawUsage(account.into(), reset.period.clone()));
        let state = match (done, planned) {
            (Some(p), _) if *p == reset.period => "done (recorded)".to_string(),
            (_, true) => "planned".to_string(),
            (None, false) if observed.raw_usage_resets.is_none() => {
                "held back: the record of resets cannot be read".to_string()
            }
            (last, false) => format!(
                "not due yet (last recorded: {})",
                last.map(String::as_str).unwrap_or("none")
            ),
        };
        let _ = writeln!(
            out,
            "  RawUsage reset for {}: {state}; {}",
            Esc(&reset.period),
            Esc(&reset.why)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_reconcile::periodic::ResetRequest;
    use agent_reconcile::state::{AccountField, Tier};
    use agent_reconcile::testkit::{self, account, periodic};
    use std::collections::BTreeMap;

    #[test]
    fn expected_values_with_their_reasons_and_the_reset() {
        let a = account("a_x", Tier::Allocation, "root", "x");
        let mut observed = testkit::cluster("c1", &["billing"], &[]);
        let mut values = testkit::written(&a);
        values.grp_tres_mins.insert("billing".into(), 10);
        observed.accounts.insert("a_x".into(), values);
        observed.raw_usage_resets = Some(BTreeMap::from([("a_x".into(), "2026-Q2".into())]));
        let mut desired = Desired::default();
        let mut spec = periodic(
            "a_x",
            AccountField::GrpTresMins,
            Some(666),
            &[("billing", 10)],
        );
        spec.policy = vec![("grace".into(), "0.2 (20% overconsumption allowed)".into())];
        spec.reset = Some(ResetRequest {
            period: "2026-Q2".into(),
            needs_earlier_reset: false,
            why: "asked".into(),
        });
        desired.periodic.insert("a_x".into(), spec);
        let plan = Plan::new("c1", vec![], vec![]);
        let text = section("a_x", &desired, &observed, &plan);
        assert!(text.contains("grace              0.2 (20%"), "{text}");
        assert!(
            text.contains("[MISMATCH] fairshare             1 != 666"),
            "{text}"
        );
        assert!(
            text.contains("[OK]       GrpTRESMins[billing]  10 == 10"),
            "{text}"
        );
        assert!(
            text.contains("RawUsage reset for 2026-Q2: done (recorded)"),
            "{text}"
        );
        assert_eq!(section("a_y", &desired, &observed, &plan), "");
    }
}
