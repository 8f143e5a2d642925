//! Waldur's periodic usage policy as desired state, for one allocation account: the
//! fairshare and the limit entries the policy owns, the RawUsage reset it asks for, and
//! the result report Waldur gets once they are applied.
//!
//! Values are a pure function of Waldur's inputs (the settings it published, or the policy
//! and the resource's usage), never of what SLURM holds. A limit map is a partial update:
//! only the TRES named are written, the others are left alone.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::explain::Reason;
use crate::state::AccountField;

/// A wanted value and how it was reached (shown in plans and diagnose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wanted<T> {
    pub value: T,
    pub why: String,
}

/// `RawUsage=0`: an action, not a state. Planned once per (account, period): the agent
/// records each reset that succeeded, and a period it already reset is never reset again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResetRequest {
    /// The policy period the reset opens (`2026-Q2`).
    pub period: String,
    /// Only when the agent's record shows a reset of this account in an earlier period:
    /// a locally computed reset is made at a period change the agent has seen, never on a
    /// first sight of an account in the middle of a period.
    pub needs_earlier_reset: bool,
    pub why: String,
}

/// `POST /api/marketplace-slurm-periodic-usage-policies/{policy}/report-command-result/`
/// after the account's periodic changes ran (with their outcome), never for a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultReport {
    /// The offering whose Waldur receives it.
    pub offering: String,
    /// Policy UUID (hex).
    pub policy: String,
    /// Resource UUID (hex).
    pub resource: String,
    /// `production`, or `emulator` when settings go through slurm-emulator's API.
    pub mode: String,
}

/// The periodic settings of one allocation account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodicSpec {
    pub account: String,
    /// The field whose named TRES entries the policy owns: `GrpTresMins`, `MaxTresMins`
    /// or `GrpTres`.
    pub limit_field: AccountField,
    pub fairshare: Option<Wanted<u32>>,
    /// TRES -> wanted value; TRES not named are left as they are.
    pub limits: BTreeMap<String, Wanted<u64>>,
    pub reset: Option<ResetRequest>,
    pub report: Option<ResultReport>,
    /// Where the values come from and that the policy owns the fields.
    pub source: Reason,
    /// Emulator mode: written through slurm-emulator's API at this base URL.
    pub emulator: Option<String>,
    /// The policy's parameters as (label, value) lines, for diagnose.
    pub policy: Vec<(String, String)>,
}
