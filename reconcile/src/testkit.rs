//! Builders of small desired and observed worlds, shared by the planner's tests, the
//! agent's tests and the benchmark, so each states only what its case is about.

use std::collections::{BTreeMap, BTreeSet};

use crate::commands::SlurmTarget;
use crate::diff::PlanContext;
use crate::explain::Reason;
use crate::periodic::{PeriodicSpec, ResultReport, Wanted};
use crate::state::{
    AccountField, AccountSpec, AccountValues, AssocKey, AssocSpec, Observed, ObservedAssoc, Shares,
    Tier, Value,
};
use crate::tres::TresMap;

/// `sacctmgr` in `/usr/bin`, the given cluster, jobs cancelled before removals, `root` as
/// the fallback default account.
pub fn context(cluster: &str) -> PlanContext {
    PlanContext {
        target: SlurmTarget::new("/usr/bin", Some(cluster)),
        cancel_jobs: true,
        cancel_jobs_on_partition_change: false,
        fallback_default_account: Some("root".into()),
        scope: None,
    }
}

/// A reason for builders that need one and tests that do not look at it.
pub fn reason() -> Reason {
    Reason::new("test", "test")
}

/// The three fields every managed account has.
pub fn text_fields(
    parent: &str,
    description: &str,
    organization: &str,
) -> BTreeMap<AccountField, Value> {
    BTreeMap::from([
        (AccountField::Parent, Value::Text(parent.to_string())),
        (
            AccountField::Description,
            Value::Text(description.to_string()),
        ),
        (
            AccountField::Organization,
            Value::Text(organization.to_string()),
        ),
    ])
}

/// A desired account with its text fields (organisation = parent) and no other field.
pub fn account(name: &str, tier: Tier, parent: &str, description: &str) -> AccountSpec {
    AccountSpec {
        name: name.to_string(),
        tier,
        fields: text_fields(parent, description, parent),
        fresh: false,
        reason: reason(),
    }
}

/// A desired association without default account, QoS grant or per-user limits.
pub fn member(account: &str, user: &str) -> AssocSpec {
    let key = AssocKey::new(account, user, "");
    AssocSpec {
        key,
        default_account: None,
        qos_grant: None,
        max_tres_mins: None,
        reason: reason(),
    }
}

/// An association as sacctmgr shows one the agent added: `Share=parent`, nothing else.
pub fn plain_association() -> ObservedAssoc {
    ObservedAssoc {
        fairshare: Shares::Parent,
        qos: BTreeSet::new(),
        default_qos: None,
        max_tres_mins: TresMap::new(),
    }
}

/// A cluster holding only its `root` account, with these TRES and QoS.
pub fn cluster(name: &str, tres: &[&str], qos: &[&str]) -> Observed {
    let mut root = AccountValues::new_default("root", "");
    root.parent = None;
    Observed {
        cluster: name.to_string(),
        accounts: BTreeMap::from([("root".to_string(), root)]),
        tres: tres.iter().map(|s| s.to_string()).collect(),
        qos: qos.iter().map(|s| s.to_string()).collect(),
        ..Observed::default()
    }
}

/// SLURM's record of an account after the agent wrote `spec`: its defaults, then every
/// managed field.
pub fn written(spec: &AccountSpec) -> AccountValues {
    let mut v = AccountValues::new_default(&spec.name, spec.parent().unwrap_or("root"));
    for (field, value) in &spec.fields {
        v.set(*field, value);
    }
    v
}

/// A home under `base` for `user`, serving `accounts`, umask 0077, no quota.
pub fn home(user: &str, accounts: &[&str], base: Option<&str>) -> crate::storage::HomeSpec {
    crate::storage::HomeSpec {
        user: user.to_string(),
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        base: base.map(str::to_string),
        umask: 0o077,
        quota: None,
    }
}

/// A directory as `lstat` shows it.
pub fn dir(uid: u32, gid: u32, mode: u32) -> crate::storage::Lookup<crate::storage::PathState> {
    crate::storage::Lookup::Found(crate::storage::PathState {
        kind: crate::storage::FileKind::Directory,
        uid,
        gid,
        mode,
    })
}

/// A passwd entry.
pub fn passwd(uid: u32, home: &str) -> crate::storage::Lookup<crate::storage::PasswdEntry> {
    crate::storage::Lookup::Found(crate::storage::PasswdEntry {
        uid,
        gid: uid,
        home: home.to_string(),
    })
}
/// Periodic settings for `account`: this fairshare and these entries of `limit_field`,
/// no reset, a result report for policy `p1` and resource `r1` (hex UUIDs).
pub fn periodic(
    account: &str,
    limit_field: AccountField,
    fairshare: Option<u32>,
    limits: &[(&str, u64)],
) -> PeriodicSpec {
    fn wanted<T>(value: T) -> Wanted<T> {
        Wanted {
            value,
            why: "test".into(),
        }
    }
    PeriodicSpec {
        account: account.to_string(),
        limit_field,
        fairshare: fairshare.map(wanted),
        limits: limits
            .iter()
            .map(|(k, v)| (k.to_string(), wanted(*v)))
            .collect(),
        reset: None,
        report: Some(ResultReport {
            offering: "o1".into(),
            policy: "91ab0000000000000000000000000001".into(),
            resource: "6f1c0000000000000000000000000001".into(),
            mode: "production".into(),
        }),
        source: Reason::new("periodic_published", "test"),
        emulator: None,
        policy: Vec::new(),
    }
}
