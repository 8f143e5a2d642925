//! The two snapshots the planner compares.
//!
//! [`Observed`] is what SLURM holds (every field concrete). [`Desired`] is what Waldur says
//! it should hold; a desired field is either managed (present, compared and converged) or
//! absent (left alone). Desired state is built from Waldur inputs only: observed values
//! never flow into it, which is what keeps the agent out of echo loops.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::explain::{Diagnostic, Reason};
use crate::tres::{self, TresMap};

/// Where an account sits in the managed tree. Order matters: parents sort first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Customer,
    Project,
    Allocation,
}

/// An account (association-level) field the agent can manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountField {
    Parent,
    Description,
    Organization,
    Fairshare,
    Qos,
    DefaultQos,
    GrpTresMins,
    MaxTresMins,
    GrpTres,
    GrpSubmitJobs,
}

impl AccountField {
    pub const ALL: [AccountField; 10] = [
        AccountField::Parent,
        AccountField::Description,
        AccountField::Organization,
        AccountField::Fairshare,
        AccountField::Qos,
        AccountField::DefaultQos,
        AccountField::GrpTresMins,
        AccountField::MaxTresMins,
        AccountField::GrpTres,
        AccountField::GrpSubmitJobs,
    ];

    /// Field name used in plans.
    pub fn name(self) -> &'static str {
        match self {
            AccountField::Parent => "parent",
            AccountField::Description => "description",
            AccountField::Organization => "organization",
            AccountField::Fairshare => "fairshare",
            AccountField::Qos => "qos",
            AccountField::DefaultQos => "default_qos",
            AccountField::GrpTresMins => "GrpTRESMins",
            AccountField::MaxTresMins => "MaxTRESMins",
            AccountField::GrpTres => "GrpTRES",
            AccountField::GrpSubmitJobs => "GrpSubmitJobs",
        }
    }
}

/// Fairshare as sacctmgr shows it: a number, or `parent` for `Share=parent`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shares {
    Value(u32),
    Parent,
}

impl Shares {
    pub fn render(&self) -> String {
        match self {
            Shares::Value(n) => n.to_string(),
            Shares::Parent => "parent".to_string(),
        }
    }
}

/// A value of one [`AccountField`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Text(String),
    OptText(Option<String>),
    Shares(Shares),
    List(BTreeSet<String>),
    Tres(TresMap),
    Count(Option<u64>),
}

impl Value {
    /// Human form for plans and reports; `None` means "not set".
    pub fn display(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.clone()),
            Value::OptText(s) => s.clone(),
            Value::Shares(s) => Some(s.render()),
            Value::List(l) if l.is_empty() => None,
            Value::List(l) => Some(l.iter().cloned().collect::<Vec<_>>().join(",")),
            Value::Tres(m) if m.is_empty() => None,
            Value::Tres(m) => Some(tres::render(m)),
            Value::Count(c) => c.map(|n| n.to_string()),
        }
    }
}

/// Every association-level field of an account as SLURM holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountValues {
    pub parent: Option<String>,
    pub description: String,
    pub organization: String,
    pub fairshare: Shares,
    pub qos: BTreeSet<String>,
    pub default_qos: Option<String>,
    pub grp_tres_mins: TresMap,
    pub max_tres_mins: TresMap,
    pub grp_tres: TresMap,
    pub grp_submit_jobs: Option<u64>,
}

impl AccountValues {
    /// What sacctmgr gives a new account when only name and parent are set.
    pub fn new_default(name: &str, parent: &str) -> Self {
        AccountValues {
            parent: Some(parent.to_string()),
            description: name.to_string(),
            organization: parent.to_string(),
            fairshare: Shares::Value(1),
            qos: BTreeSet::new(),
            default_qos: None,
            grp_tres_mins: TresMap::new(),
            max_tres_mins: TresMap::new(),
            grp_tres: TresMap::new(),
            grp_submit_jobs: None,
        }
    }

    pub fn get(&self, field: AccountField) -> Value {
        match field {
            AccountField::Parent => Value::OptText(self.parent.clone()),
            AccountField::Description => Value::Text(self.description.clone()),
            AccountField::Organization => Value::Text(self.organization.clone()),
            AccountField::Fairshare => Value::Shares(self.fairshare.clone()),
            AccountField::Qos => Value::List(self.qos.clone()),
            AccountField::DefaultQos => Value::OptText(self.default_qos.clone()),
            AccountField::GrpTresMins => Value::Tres(self.grp_tres_mins.clone()),
            AccountField::MaxTresMins => Value::Tres(self.max_tres_mins.clone()),
            AccountField::GrpTres => Value::Tres(self.grp_tres.clone()),
            AccountField::GrpSubmitJobs => Value::Count(self.grp_submit_jobs),
        }
    }

    /// Sets a field; a value of the wrong shape is ignored (it cannot be built by the planner).
    pub fn set(&mut self, field: AccountField, value: &Value) {
        match (field, value) {
            (AccountField::Parent, Value::OptText(p)) => self.parent = p.clone(),
            (AccountField::Parent, Value::Text(p)) => self.parent = Some(p.clone()),
            (AccountField::Description, Value::Text(s)) => self.description = s.clone(),
            (AccountField::Organization, Value::Text(s)) => self.organization = s.clone(),
            (AccountField::Fairshare, Value::Shares(s)) => self.fairshare = s.clone(),
            (AccountField::Qos, Value::List(l)) => self.qos = l.clone(),
            (AccountField::DefaultQos, Value::OptText(q)) => self.default_qos = q.clone(),
            (AccountField::GrpTresMins, Value::Tres(m)) => self.grp_tres_mins = m.clone(),
            (AccountField::MaxTresMins, Value::Tres(m)) => self.max_tres_mins = m.clone(),
            (AccountField::GrpTres, Value::Tres(m)) => self.grp_tres = m.clone(),
            (AccountField::GrpSubmitJobs, Value::Count(c)) => self.grp_submit_jobs = *c,
            _ => {}
        }
    }
}

/// A user association's identity. `partition` is empty for a cluster-wide association.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AssocKey {
    pub account: String,
    pub user: String,
    pub partition: String,
}

impl AssocKey {
    pub fn new(account: &str, user: &str, partition: &str) -> Self {
        AssocKey {
            account: account.to_string(),
            user: user.to_string(),
            partition: partition.to_string(),
        }
    }
}

/// A user association as SLURM holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedAssoc {
    pub fairshare: Shares,
    pub qos: BTreeSet<String>,
    pub default_qos: Option<String>,
    pub max_tres_mins: TresMap,
}

/// Observed SLURM accounting state for one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub cluster: String,
    /// Accounts that have an account-level association on the cluster.
    pub accounts: BTreeMap<String, AccountValues>,
    pub associations: BTreeMap<AssocKey, ObservedAssoc>,
    /// User name to default account.
    pub users: BTreeMap<String, String>,
    pub qos: BTreeSet<String>,
    /// TRES names the cluster knows (`cpu`, `mem`, `gres/gpu`, ...).
    pub tres: BTreeSet<String>,
    /// Home and project directories and their quotas, as far as the desired state
    /// needed them read.
    pub storage: crate::storage::StorageObserved,
    /// Not read from SLURM (RawUsage cannot be compared with a wanted value): the agent's
    /// own durable record of the RawUsage resets it made, account -> period of the last
    /// one. `None` when that record could not be read: then no reset is planned.
    pub raw_usage_resets: Option<BTreeMap<String, String>>,
}

impl Observed {
    /// Associations of one account, in key order.
    pub fn associations_of<'a>(
        &'a self,
        account: &'a str,
    ) -> impl Iterator<Item = (&'a AssocKey, &'a ObservedAssoc)> + 'a {
        self.associations
            .iter()
            .filter(move |(k, _)| k.account == account)
    }

    /// Direct child accounts of `parent`.
    pub fn children_of<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.accounts
            .iter()
            .filter(move |(_, v)| v.parent.as_deref() == Some(parent))
            .map(|(k, _)| k.as_str())
    }
}

/// An account the agent owns, with the fields it manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSpec {
    pub name: String,
    pub tier: Tier,
    /// Managed fields. Parent, description and organization are always present.
    pub fields: BTreeMap<AccountField, Value>,
    /// A name just generated for a new resource: an existing SLURM account of that name
    /// belongs to someone else, so it is a collision, not something to adopt.
    pub fresh: bool,
    pub reason: Reason,
}

impl AccountSpec {
    pub fn parent(&self) -> Option<&str> {
        match self.fields.get(&AccountField::Parent) {
            Some(Value::Text(p)) | Some(Value::OptText(Some(p))) => Some(p),
            _ => None,
        }
    }
}

/// QoS granted on a new association (QoS enforcement mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QosGrant {
    pub levels: BTreeSet<String>,
    pub default: Option<String>,
}

/// A user association the agent owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssocSpec {
    pub key: AssocKey,
    /// `DefaultAccount=` written when the association is created; never reconciled later,
    /// because the user may have chosen another default since.
    pub default_account: Option<String>,
    /// QoS written at creation (QoS enforcement mode only).
    pub qos_grant: Option<QosGrant>,
    /// Per-user `MaxTRESMins`: managed when present.
    pub max_tres_mins: Option<TresMap>,
    pub reason: Reason,
}

/// An account that must not exist any more (a terminated allocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tombstone {
    pub account: String,
    pub tier: Tier,
    /// The project account to remove as well once nothing else lives under it.
    pub cascade_parent: Option<String>,
    pub reason: Reason,
}

/// When a Waldur call runs relative to the SLURM work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Before any SLURM change (approving an order).
    Before,
    /// After the SLURM changes of the accounts it reports on.
    After,
}

/// A Waldur API call that reports an outcome (approve, set_backend_id, order done, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaldurCall {
    /// Stable identifier, e.g. `order/<uuid>/set_state_done`.
    pub id: String,
    pub method: String,
    /// Path below the API root, e.g. `/api/marketplace-orders/<uuid>/set_state_done/`.
    pub path: String,
    pub body: Option<serde_json::Value>,
    pub stage: Stage,
    /// Accounts whose SLURM changes this call reports; it depends on all of them.
    pub accounts: Vec<String>,
    /// Waldur call ids this call must follow.
    pub after_calls: Vec<String>,
    pub reason: Reason,
    /// UUID of the offering whose Waldur (URL and token) receives the call.
    pub offering: String,
    /// Path to POST `{"error_message", "error_traceback"}` to when a SLURM change this
    /// call depends on fails for good (an order's `set_state_erred`).
    pub on_failure: Option<String>,
}

/// What SLURM should look like according to Waldur, for the accounts the agent owns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub accounts: BTreeMap<String, AccountSpec>,
    pub associations: BTreeMap<AssocKey, AssocSpec>,
    pub tombstones: BTreeMap<String, Tombstone>,
    /// Accounts the tree hangs from (root account, flat-mode parent, default account):
    /// they must exist but are never changed.
    pub anchors: BTreeSet<String>,
    /// Owned accounts whose users are kept this cycle even if not listed (Waldur answered
    /// with an empty team, which is more often a glitch than a project with no members).
    pub keep_users: BTreeSet<String>,
    /// Allocation account -> `GrpTRESMins` entries Waldur's limits do not name (a limit
    /// component missing from them): neither set nor cleared, as SLURM has them.
    pub unnamed_limits: BTreeMap<String, BTreeSet<String>>,
    /// Waldur calls that report the outcome of the SLURM work.
    pub waldur_calls: Vec<WaldurCall>,
    /// Names claimed twice in ways that cannot both hold (two resources on one account, an
    /// allocation named like a customer or project account): nothing is done to them.
    pub conflicts: BTreeSet<String>,
    /// Waldur's periodic policy per allocation account: fairshare, the limit entries it
    /// owns, the RawUsage reset it asks for and the result report.
    pub periodic: BTreeMap<String, crate::periodic::PeriodicSpec>,
    /// Problems found while building the desired state (skipped resources, bad names).
    pub diagnostics: Vec<Diagnostic>,
    /// Home and project directories and their quotas.
    pub storage: crate::storage::StorageDesired,
}

impl Desired {
    /// Adds an account. Two resources claiming one allocation account, or an account
    /// wanted at two tiers, is a conflict: reported as an error, and the account is left
    /// alone. When two sources want the same customer or project account (two offerings
    /// sharing a customer), the first definition wins and a differing second one is
    /// reported.
    pub fn add_account(&mut self, spec: AccountSpec) {
        match self.accounts.get(&spec.name) {
            None => {
                self.accounts.insert(spec.name.clone(), spec);
            }
            Some(existing) if existing.tier != spec.tier || spec.tier == Tier::Allocation => {
                self.diagnostics.push(Diagnostic::error(
                    "conflicting_account",
                    format!(
                        "account {} is claimed twice ({} / {}); it is left alone until Waldur names one owner",
                        spec.name, existing.reason.text, spec.reason.text
                    ),
                ));
                self.conflicts.insert(spec.name.clone());
            }
            Some(existing) if existing.fields == spec.fields => {}
            Some(existing) => {
                self.diagnostics.push(Diagnostic::warning(
                    "conflicting_account_definition",
                    format!(
                        "account {} is defined twice with different settings ({} / {}); the first is used",
                        spec.name, existing.reason.text, spec.reason.text
                    ),
                ));
            }
        }
    }

    /// Merges another offering's desired state into this one (same cluster).
    pub fn merge(&mut self, other: Desired) {
        for (_, spec) in other.accounts {
            self.add_account(spec);
        }
        for (key, spec) in other.associations {
            self.associations.entry(key).or_insert(spec);
        }
        for (name, stone) in other.tombstones {
            self.tombstones.entry(name).or_insert(stone);
        }
        self.anchors.extend(other.anchors);
        self.keep_users.extend(other.keep_users);
        for (account, tres) in other.unnamed_limits {
            self.unnamed_limits.entry(account).or_default().extend(tres);
        }
        self.conflicts.extend(other.conflicts);
        self.waldur_calls.extend(other.waldur_calls);
        for (account, spec) in other.periodic {
            self.periodic.entry(account).or_insert(spec);
        }
        self.diagnostics.extend(other.diagnostics);
        self.storage.merge(other.storage);
    }
}
