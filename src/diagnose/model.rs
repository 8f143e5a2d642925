//! What `diagnose` finds out about one account, as data: the text and JSON renderings
//! both read it (the JSON form is documented in docs/diagnose-format.md). Every string
//! from Waldur or SLURM is kept raw here; the renderings escape it.

use std::collections::BTreeMap;

use agent_config::{AccountingType, LimitType, Offering};
use agent_desired::waldur::{number, Resource};
use agent_desired::WaldurDocs;
use agent_reconcile::state::{AccountField, Desired, Observed, Value};
use serde::Serialize;

/// The verdict, and the exit code that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// SLURM holds what Waldur expects.
    Ok,
    /// The account exists and differs (fields, users, or it is to be removed).
    Mismatch,
    /// Waldur expects the account and SLURM lacks it.
    Missing,
    /// SLURM has it, no Waldur resource maps to it: the agent never touches it.
    NotManaged,
    /// Neither side knows the account.
    Unknown,
    /// A Waldur offering could not be read: the answer may be wrong.
    Error,
}

impl Verdict {
    /// 0 in order (or not ours), 2 differs, 1 cannot tell.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Ok | Verdict::NotManaged => 0,
            Verdict::Mismatch | Verdict::Missing => 2,
            Verdict::Unknown | Verdict::Error => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Mismatch => "MISMATCH",
            Verdict::Missing => "MISSING",
            Verdict::NotManaged => "NOT MANAGED",
            Verdict::Unknown => "UNKNOWN",
            Verdict::Error => "ERROR",
        }
    }
}

/// The account as SLURM holds it.
#[derive(Debug, Clone, Serialize)]
pub struct SlurmSide {
    pub exists: bool,
    /// Field name (`parent`, `GrpTRESMins`, ...) to value; `null` when unset.
    pub fields: BTreeMap<String, Option<String>>,
    pub users: Vec<UserRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct UserRow {
    pub user: String,
    /// Empty for a cluster-wide association.
    pub partition: String,
    pub max_tres_mins: Option<String>,
}

/// The Waldur resource behind the account, when there is one.
#[derive(Debug, Clone, Serialize)]
pub struct WaldurSide {
    pub found: bool,
    pub resource: Option<ResourceInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourceInfo {
    pub uuid: String,
    pub name: String,
    pub state: String,
    pub backend_id: Option<String>,
    pub offering_uuid: String,
    pub offering_name: String,
    pub project_uuid: String,
    pub project_name: String,
    pub customer_name: String,
    pub limits: BTreeMap<String, serde_json::Value>,
    pub paused: bool,
    pub downscaled: bool,
}

/// Who owns the account's limits: its orders, or Waldur's periodic policy (whose values
/// and their reasoning are the `periodic` section of the diagnosis).
#[derive(Debug, Clone, Serialize)]
pub struct PolicySide {
    pub periodic_limits: bool,
    pub limit_type: String,
    pub note: String,
}

/// One managed field: what SLURM has against what Waldur expects.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub field: String,
    pub actual: Option<String>,
    pub expected: Option<String>,
    pub ok: bool,
    /// Why the expected value is what it is.
    pub reason: String,
}

/// One component's limit from Waldur's units into SLURM's.
#[derive(Debug, Clone, Serialize)]
pub struct UnitRow {
    /// The component as configured (`backend_components` key).
    pub component: String,
    /// The TRES it sets (the component itself, or a `target_components` entry).
    pub tres: String,
    pub waldur_value: Option<f64>,
    pub waldur_unit: String,
    pub unit_factor: f64,
    /// `GrpTRESMins` is in TRES-minutes.
    pub slurm_unit: String,
    pub expected_slurm_value: Option<u64>,
    pub actual_slurm_value: Option<u64>,
    pub note: String,
}

/// One change of the plan for this account: what `agent reconcile` would run.
#[derive(Debug, Clone, Serialize)]
pub struct Fix {
    pub address: String,
    pub reasons: Vec<String>,
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub severity: String,
    pub code: String,
    pub text: String,
}

/// Everything known about one account.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub format_version: &'static str,
    pub account: String,
    pub cluster: String,
    pub verdict: Verdict,
    /// `managed`, `to_be_removed`, `anchor`, `not_managed` or `unknown`, and why.
    pub ownership: String,
    pub ownership_text: String,
    pub slurm: SlurmSide,
    pub waldur: WaldurSide,
    pub policy: PolicySide,
    pub comparisons: Vec<Comparison>,
    pub unit_conversions: Vec<UnitRow>,
    /// The account's project directory and its users' homes (absent when none is
    /// managed; `{"Err": why}` when storage could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: super::storage::StorageSide,
    /// For an account a periodic policy manages: the policy, each value it expects with
    /// its source and unit, and the RawUsage reset of this period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub periodic: Option<super::periodic::PeriodicSide>,
    pub fixes: Vec<Fix>,
    /// Every command of `fixes`, in order, as `agent reconcile` runs them.
    pub fix_commands: Vec<String>,
    pub notes: Vec<Note>,
    pub read_failures: Vec<String>,
    /// The account as a text block: SLURM's and the expected one (the diff's two sides).
    #[serde(skip)]
    pub actual_text: String,
    #[serde(skip)]
    pub expected_text: String,
}

pub fn show(v: &Value) -> Option<String> {
    v.display()
}

pub fn slurm_side(account: &str, observed: &Observed) -> SlurmSide {
    let a = observed.accounts.get(account);
    let fields = AccountField::ALL
        .iter()
        .filter_map(|f| a.map(|a| (f.name().to_string(), show(&a.get(*f)))))
        .collect();
    let mut users: Vec<UserRow> = observed
        .associations_of(account)
        .map(|(k, o)| UserRow {
            user: k.user.clone(),
            partition: k.partition.clone(),
            max_tres_mins: show(&Value::Tres(o.max_tres_mins.clone())),
        })
        .collect();
    users.sort();
    SlurmSide {
        exists: a.is_some(),
        fields,
        users,
    }
}

/// The resource an allocation account belongs to: by `backend_id`, else by the name the
/// agent would give it (`allocation_prefix` + slug), as the Python tool looks it up.
pub fn find_resource<'a>(
    account: &str,
    read: &'a [(&'a Offering, WaldurDocs)],
) -> Option<(&'a Offering, &'a WaldurDocs, &'a Resource)> {
    let by = |pick: &dyn Fn(&Offering, &Resource) -> bool| {
        read.iter().find_map(|(o, docs)| {
            docs.resources
                .iter()
                .find(|r| pick(o, r))
                .map(|r| (*o, docs, r))
        })
    };
    by(&|_, r| {
        r.backend_id
            .as_deref()
            .is_some_and(|b| b.eq_ignore_ascii_case(account))
    })
    .or_else(|| {
        by(&|o, r| {
            format!("{}{}", o.slurm.allocation_prefix, r.slug).to_ascii_lowercase() == account
        })
    })
}

pub fn waldur_side(found: Option<(&Offering, &WaldurDocs, &Resource)>) -> WaldurSide {
    WaldurSide {
        found: found.is_some(),
        resource: found.map(|(o, docs, r)| ResourceInfo {
            uuid: r.uuid.clone(),
            name: r.name.clone(),
            state: r.state.clone(),
            backend_id: r.backend_id.clone().filter(|b| !b.is_empty()),
            offering_uuid: o.uuid.clone(),
            offering_name: if docs.offering.name.is_empty() {
                o.name.clone()
            } else {
                docs.offering.name.clone()
            },
            project_uuid: r.project_uuid.clone(),
            project_name: r.project_name.clone(),
            customer_name: r.customer_name.clone(),
            limits: r.limits.clone(),
            paused: r.paused,
            downscaled: r.downscaled,
        }),
    }
}

pub fn policy_side(offering: Option<&Offering>, managed_by_policy: bool) -> PolicySide {
    let p = offering.map(|o| &o.slurm.periodic_limits);
    let enabled = p.is_some_and(|p| p.enabled);
    PolicySide {
        periodic_limits: enabled,
        limit_type: match p.map(|p| p.limit_type) {
            Some(LimitType::MaxTresMins) => "MaxTRESMins",
            Some(LimitType::GrpTres) => "GrpTRES",
            _ => "GrpTRESMins",
        }
        .to_string(),
        note: if managed_by_policy {
            "Waldur's periodic policy owns fairshare and its limit field (below); orders do not write them".into()
        } else if enabled {
            "periodic_limits.enabled, but no periodic policy in Waldur manages this account: the limits come from the resource (its orders)".into()
        } else {
            "no periodic policy: the limits come from the resource (its orders) and the component settings".into()
        },
    }
}

/// What the agent wants `field` of `account` to hold, as SLURM would show it: the
/// `GrpTRESMins` entries Waldur's limits do not name keep SLURM's values.
pub fn expected_value(
    account: &str,
    field: AccountField,
    want: &Value,
    desired: &Desired,
    observed: &Observed,
) -> Value {
    let (AccountField::GrpTresMins, Value::Tres(m)) = (field, want) else {
        return want.clone();
    };
    let (Some(unnamed), Some(actual)) = (
        desired.unnamed_limits.get(account),
        observed.accounts.get(account),
    ) else {
        return want.clone();
    };
    let mut m = m.clone();
    for (tres, v) in &actual.grp_tres_mins {
        if unnamed.contains(tres) {
            m.insert(tres.clone(), *v);
        }
    }
    Value::Tres(m)
}

/// Every managed field of the account, compared.
pub fn comparisons(
    account: &str,
    desired: &Desired,
    observed: &Observed,
    reason: &str,
) -> Vec<Comparison> {
    let Some(spec) = desired.accounts.get(account) else {
        return Vec::new();
    };
    let actual = observed.accounts.get(account);
    spec.fields
        .iter()
        .map(|(field, want)| {
            let expected = show(&expected_value(account, *field, want, desired, observed));
            let actual = actual.and_then(|a| show(&a.get(*field)));
            Comparison {
                field: field.name().to_string(),
                ok: actual == expected,
                actual,
                expected,
                reason: reason.to_string(),
            }
        })
        .collect()
}

/// Each configured component of the resource's offering, from Waldur's value and unit to
/// the TRES-minutes the agent writes (and what SLURM has).
pub fn unit_rows(
    account: &str,
    found: Option<(&Offering, &WaldurDocs, &Resource)>,
    desired: &Desired,
    observed: &Observed,
) -> Vec<UnitRow> {
    let Some((o, _, r)) = found else {
        return Vec::new();
    };
    let tres_of = |field: Option<&Value>| match field {
        Some(Value::Tres(m)) => Some(m.clone()),
        _ => None,
    };
    let expected = tres_of(
        desired
            .accounts
            .get(account)
            .and_then(|s| s.fields.get(&AccountField::GrpTresMins)),
    );
    let actual = observed.accounts.get(account).map(|a| &a.grp_tres_mins);
    let mut rows = Vec::new();
    for (name, comp) in &o.components {
        let (value, source) = match comp.accounting_type {
            AccountingType::Usage => (comp.limit, "the configured limit (usage component)"),
            AccountingType::Limit => (r.limits.get(name).and_then(number), "the resource's limit"),
            AccountingType::One => (
                r.limits.get(name).and_then(number),
                "the resource's limit, times the prepaid months",
            ),
        };
        let targets: Vec<(String, f64)> = match &comp.target_components {
            Some(t) => t.iter().map(|(k, f)| (k.clone(), *f)).collect(),
            None => vec![(name.clone(), comp.unit_factor)],
        };
        for (tres, factor) in targets {
            let want = expected.as_ref().and_then(|m| m.get(&tres).copied());
            let have = actual.and_then(|m| m.get(&tres).copied());
            let note = match (value, want) {
                (Some(v), Some(w)) => format!(
                    "{source}: {v} {} x {factor} = {w} TRES-minutes",
                    comp.measured_unit
                ),
                (None, _) if comp.accounting_type == AccountingType::Usage => {
                    format!("{source}: none configured, so no cap")
                }
                (None, _) => format!("{source}: not set in Waldur, so SLURM's value stays"),
                (Some(_), None) if o.slurm.periodic_limits.enabled => {
                    "Waldur's periodic policy owns this limit: not written from the order".into()
                }
                (Some(_), None) => "not written: the cluster has no such TRES".into(),
            };
            rows.push(UnitRow {
                component: name.clone(),
                tres,
                waldur_value: value,
                waldur_unit: comp.measured_unit.clone(),
                unit_factor: factor,
                slurm_unit: "TRES-minutes".into(),
                expected_slurm_value: want,
                actual_slurm_value: have,
                note,
            });
        }
    }
    rows
}
