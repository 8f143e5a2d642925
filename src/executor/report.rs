//! The body of a result report (`report-command-result`): the planned body with
//! `success`, `error_message` and `commands_executed` replaced by what the changes it
//! reports on did — the commands that ran (all of an applied change; of a failed one, up
//! to the one that failed), whether all applied, and the first failure.

use agent_reconcile::plan::{Change, Command, Plan};
use agent_reconcile::render;
use serde_json::{json, Value};

use super::ledger::{Ledger, Status};

pub(super) fn outcome_body(plan: &Plan, report: &Change, ledger: &Ledger, expose: bool) -> Value {
    let mut commands = Vec::new();
    let mut error: Option<String> = None;
    for dep in &report.depends_on {
        let Some(change) = plan.changes.iter().find(|c| &c.address == dep) else {
            continue;
        };
        let run: Vec<&Command> = change
            .commands
            .iter()
            .filter(|c| !matches!(c, Command::Waldur { .. }))
            .collect();
        let (ran, failure) = match ledger.status(dep) {
            Some(Status::Applied) => (run.len(), None),
            Some(Status::Failed { class, message }) => {
                let shown = if expose {
                    format!("{dep}: {message}")
                } else {
                    format!("{dep} failed ({class}); the site's agent log has the details")
                };
                (ledger.ran(dep).unwrap_or(run.len()), Some(shown))
            }
            Some(Status::Skipped { because }) => {
                let cause = ledger
                    .cause(dep)
                    .filter(|_| expose)
                    .map(|c| format!(": {}", c.message))
                    .unwrap_or_default();
                (0, Some(format!("{dep} was not applied: {because}{cause}")))
            }
            None => (0, Some(format!("{dep} was not run"))),
        };
        commands.extend(run.iter().take(ran).map(|c| render::executed_line(c)));
        if error.is_none() {
            error = failure;
        }
    }
    let mut body = report
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Waldur { body, .. } => body.clone(),
            _ => None,
        })
        .unwrap_or_else(|| json!({}));
    body["success"] = json!(error.is_none());
    body["error_message"] = json!(error.unwrap_or_default());
    body["commands_executed"] = json!(commands);
    body
}
