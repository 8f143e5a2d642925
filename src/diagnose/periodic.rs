//! The periodic-policy part of `agent diagnose`: the policy's parameters, each value the
//! policy expects with its unit and how it was reached (published by Waldur, or computed
//! and how), next to what SLURM holds, and where the RawUsage reset of this period stands.
//! [`side`] builds it (serialised as the report's `periodic` object); [`render`] writes
//! it as text.

use std::fmt::Write;

use agent_reconcile::escape::Esc;
use agent_reconcile::plan::{Address, Plan};
use agent_reconcile::state::{Desired, Observed, Shares, Value};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct PeriodicSide {
    /// The limit field the policy owns (`GrpTRESMins`, `MaxTRESMins`, `GrpTRES`).
    pub limit_field: String,
    /// The policy's parameters as (label, value), in the order the report shows them.
    pub policy: Vec<(String, String)>,
    /// Where the values come from (published by Waldur, or computed, and for which period).
    pub source: String,
    pub values: Vec<PeriodicValue>,
    pub raw_usage_reset: Option<ResetState>,
}

/// One value the policy expects, next to SLURM's.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodicValue {
    /// `fairshare` or `FIELD[tres]`.
    pub field: String,
    pub actual: Option<String>,
    pub expected: String,
    pub ok: bool,
    /// How the expected value was reached.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResetState {
    pub period: String,
    /// `done`, `planned`, `held_back` or `not_due`.
    pub state: &'static str,
    pub text: String,
    pub reason: String,
}

/// `None` when no periodic policy manages the account.
pub fn side(
    account: &str,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
) -> Option<PeriodicSide> {
    let spec = desired.periodic.get(account)?;
    let field = spec.limit_field.name();
    let current = observed.accounts.get(account);
    let mut values = Vec::new();
    let mut push = |field: String, actual: Option<String>, expected: String, reason: &str| {
        values.push(PeriodicValue {
            ok: actual.as_deref() == Some(expected.as_str()),
            field,
            actual,
            expected,
            reason: reason.to_string(),
        })
    };
    if let Some(w) = &spec.fairshare {
        let actual = current.map(|c| Shares::render(&c.fairshare));
        push("fairshare".into(), actual, w.value.to_string(), &w.why);
    }
    let have = match current.map(|c| c.get(spec.limit_field)) {
        Some(Value::Tres(m)) => m,
        _ => Default::default(),
    };
    for (tres, w) in &spec.limits {
        let actual = have.get(tres).map(u64::to_string);
        push(
            format!("{field}[{tres}]"),
            actual,
            w.value.to_string(),
            &w.why,
        );
    }
    let raw_usage_reset = spec.reset.as_ref().map(|reset| {
        let done = observed
            .raw_usage_resets
            .as_ref()
            .and_then(|r| r.get(account));
        let planned = plan
            .changes
            .iter()
            .any(|c| c.address == Address::RawUsage(account.into(), reset.period.clone()));
        let (state, text) = match (done, planned) {
            (Some(p), _) if *p == reset.period => ("done", "done (recorded)".to_string()),
            (_, true) => ("planned", "planned".to_string()),
            (None, false) if observed.raw_usage_resets.is_none() => (
                "held_back",
                "held back: the record of resets cannot be read".to_string(),
            ),
            (last, false) => (
                "not_due",
                format!(
                    "not due yet (last recorded: {})",
                    last.map(String::as_str).unwrap_or("none")
                ),
            ),
        };
        ResetState {
            period: reset.period.clone(),
            state,
            text,
            reason: reset.why.clone(),
        }
    });
    Some(PeriodicSide {
        limit_field: field.to_string(),
        policy: spec.policy.clone(),
        source: spec.source.text.clone(),
        values,
        raw_usage_reset,
    })
}

/// The section as text; every value from Waldur or SLURM passes [`Esc`].
pub fn render(p: &PeriodicSide) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nPeriodic policy (Waldur owns fairshare and the {} entries it names; compared here, not above):",
        Esc(&p.limit_field)
    );
    for (label, value) in &p.policy {
        let label = Esc(label).to_string();
        let _ = writeln!(out, "  {label:<18} {}", Esc(value));
    }
    let _ = writeln!(out, "Values: {}", Esc(&p.source));
    if p.values.is_empty() {
        let _ = writeln!(out, "  (no fairshare or limit: nothing to apply)");
    }
    let width = p.values.iter().map(|v| v.field.len()).max().unwrap_or(0);
    for v in &p.values {
        let tag = if v.ok { "[OK]" } else { "[MISMATCH]" };
        let name = Esc(&v.field).to_string();
        let have = v.actual.as_deref().unwrap_or("(unset)");
        let _ = writeln!(
            out,
            "  {tag:<10} {name:<width$}  {} {} {}\n  {:<10} {}",
            Esc(have),
            if v.ok { "==" } else { "!=" },
            Esc(&v.expected),
            "",
            Esc(&v.reason)
        );
    }
    if let Some(r) = &p.raw_usage_reset {
        let _ = writeln!(
            out,
            "  RawUsage reset for {}: {}; {}",
            Esc(&r.period),
            Esc(&r.text),
            Esc(&r.reason)
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
        let text = render(&side("a_x", &desired, &observed, &plan).unwrap());
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
        assert!(side("a_y", &desired, &observed, &plan).is_none());
    }
}
