//! The plan: an ordered list of changes, each with its reasons and the exact commands it runs.
//!
//! The JSON form (`agent plan --json`) is a public format, documented in
//! `docs/plan-format.md`: within a major `format_version` only fields are added.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::address::{Address, StorageKey};
pub use crate::explain::{Diagnostic, Reason, Severity};
use crate::state::{AccountField, AccountValues, AssocKey, ObservedAssoc, Value};

/// Version of the JSON plan format.
pub const FORMAT_VERSION: &str = "1.1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Account,
    Association,
    User,
    Waldur,
    // Format 1.1: a home or project directory, and its quota. (Plain comments: a doc
    // comment per variant would turn the schema's enum into a oneOf.)
    Directory,
    Quota,
}

impl Kind {
    /// Changes applied by the storage writer, not sacctmgr.
    pub fn is_storage(self) -> bool {
        matches!(self, Kind::Directory | Kind::Quota)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// A Waldur API call.
    Call,
}

/// Execution phases, in order. Within a phase changes are sorted by address (account
/// creations parents first, deletions children first).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    WaldurBefore,
    AccountCreate,
    AssociationCreate,
    AccountUpdate,
    AssociationUpdate,
    DefaultAccountMove,
    AssociationDelete,
    AccountDelete,
    // Format 1.1: homes and project directories created, project directories' owner,
    // mode or ACL set, quotas written.
    DirectoryCreate,
    DirectoryUpdate,
    QuotaSet,
    WaldurAfter,
}

/// One field's value before and after (`null` = not set / does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "sink", rename_all = "snake_case")]
pub enum Command {
    /// A SLURM program run with this argv, never through a shell.
    Slurm {
        argv: Vec<String>,
        /// A failure is reported but does not fail the change (job cancellation).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        best_effort: bool,
    },
    /// A storage program (mkhomedir_helper, chown, setfacl, xfs_quota, lfs, ...) run with
    /// this argv, never through a shell (format 1.1).
    Storage { argv: Vec<String> },
    /// A Waldur API call; `path` is relative to the API root's host.
    Waldur {
        /// The offering whose Waldur (URL, token) receives the call.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        offering: String,
        method: String,
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<serde_json::Value>,
    },
    /// A JSON POST to slurm-emulator's API (periodic settings in emulator mode).
    Emulator {
        url: String,
        body: serde_json::Value,
    },
}

impl Command {
    pub fn slurm(argv: Vec<String>) -> Self {
        Command::Slurm {
            argv,
            best_effort: false,
        }
    }
}

/// What a change does to the observed model; used by [`crate::simulate`]. Not serialised:
/// the JSON form carries the same information as `fields`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Effect {
    #[default]
    None,
    AccountCreate(String, Box<AccountValues>),
    AccountUpdate(String, Vec<(AccountField, Value)>),
    AccountDelete(String),
    AssocCreate(AssocKey, ObservedAssoc, Option<String>),
    AssocUpdate(AssocKey, crate::tres::TresMap),
    AssocDelete(AssocKey),
    DefaultAccount(String, String),
    Storage(Vec<crate::storage::StorageEffect>),
    /// RawUsage reset of (account, period): recorded, since SLURM cannot show it.
    RawUsageReset(String, String),
}

/// One planned change of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// `account/NAME`, `association/ACCOUNT/USER[/PARTITION]`, `user/NAME`, `waldur/ID`,
    /// `directory/home/USER`, `directory/project/ACCOUNT`, `quota/home/USER`,
    /// `quota/project/ACCOUNT`.
    pub address: Address,
    pub kind: Kind,
    pub action: Action,
    pub phase: Phase,
    pub fields: Vec<FieldChange>,
    pub reasons: Vec<Reason>,
    /// Addresses of changes that must succeed first; if one fails this one is skipped.
    pub depends_on: Vec<Address>,
    pub commands: Vec<Command>,
    /// Sent instead when a change this one depends on fails for good (not for retryable
    /// failures): marks the Waldur order erred with SLURM's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Command>,
    /// A Waldur call reporting what its dependencies did (`report-command-result`): sent
    /// whether they applied or not, with `success`, `error_message` and
    /// `commands_executed` of its body replaced by the outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reports_outcome: bool,
    #[serde(skip)]
    #[schemars(skip)]
    pub effect: Effect,
}

impl Change {
    /// The one constructor of a change; the kind follows from the address. Fields,
    /// reasons, commands and dependencies are added with the setters below.
    pub fn new(address: Address, action: Action, phase: Phase, effect: Effect) -> Self {
        Change {
            kind: address.kind(),
            address,
            action,
            phase,
            fields: Vec::new(),
            reasons: Vec::new(),
            depends_on: Vec::new(),
            commands: Vec::new(),
            on_failure: None,
            reports_outcome: false,
            effect,
        }
    }

    pub fn reason(mut self, reason: Reason) -> Self {
        self.reasons.push(reason);
        self
    }

    pub fn field(mut self, field: &str, before: Option<String>, after: Option<String>) -> Self {
        self.fields.push(FieldChange {
            field: field.to_string(),
            before,
            after,
        });
        self
    }

    pub fn command(mut self, command: Command) -> Self {
        self.commands.push(command);
        self
    }

    pub fn after(mut self, dependencies: impl IntoIterator<Item = Address>) -> Self {
        self.depends_on.extend(dependencies);
        self
    }

    pub fn on_failure(mut self, command: Option<Command>) -> Self {
        self.on_failure = command;
        self
    }

    pub fn reports_outcome(mut self) -> Self {
        self.reports_outcome = true;
        self
    }
}

/// Counts per action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub waldur_calls: usize,
}

/// The whole plan for one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    pub format_version: String,
    pub cluster: String,
    pub summary: Summary,
    pub changes: Vec<Change>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Plan {
    pub fn new(cluster: &str, changes: Vec<Change>, diagnostics: Vec<Diagnostic>) -> Self {
        let mut summary = Summary::default();
        for c in &changes {
            match c.action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Delete => summary.delete += 1,
                Action::Call => summary.waldur_calls += 1,
            }
        }
        Plan {
            format_version: FORMAT_VERSION.to_string(),
            cluster: cluster.to_string(),
            summary,
            changes,
            diagnostics,
        }
    }

    /// True when the plan changes nothing in SLURM and calls nothing in Waldur.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Number of SLURM deletions (accounts and associations).
    pub fn deletions(&self) -> usize {
        self.summary.delete
    }

    /// The plan as `plan --json` prints it (docs/plan-format.md), unsafe characters
    /// escaped.
    pub fn to_json(&self) -> String {
        crate::escape::json(&serde_json::to_string_pretty(self).expect("plan serialises"))
            .into_owned()
    }
}

/// The JSON Schema of the plan format.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Plan);
    serde_json::to_string_pretty(&schema).expect("schema serialises")
}
