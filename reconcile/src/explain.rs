//! Why something is in the plan ([`Reason`]) and what the operator should know that is not
//! a change ([`Diagnostic`]). Both the snapshots and the plan carry them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why something is in the plan: a stable code and a sentence naming its source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Reason {
    pub code: String,
    pub text: String,
}

impl Reason {
    pub fn new(code: &str, text: impl Into<String>) -> Self {
        Reason {
            code: code.to_string(),
            text: text.into(),
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Something the operator should know that is not a change: a skipped resource, an
/// unmanaged account under a managed parent, a component with no cluster TRES.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: String,
    pub text: String,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: &str, text: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code: code.to_string(),
            text: text.into(),
        }
    }
    pub fn info(code: &str, text: impl Into<String>) -> Self {
        Self::new(Severity::Info, code, text)
    }
    pub fn warning(code: &str, text: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, text)
    }
    pub fn error(code: &str, text: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, text)
    }
}
