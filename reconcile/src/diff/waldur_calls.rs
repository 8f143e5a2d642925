//! The Waldur calls that report the SLURM outcome. Each depends on every SLURM change of
//! the accounts it reports on, so it runs only once they succeeded; a call whose accounts
//! could not be planned is held back, and an order whose allocation found no free name
//! is marked erred instead.

use serde_json::json;

use super::{Planner, SortKey};
use crate::plan::{Action, Address, Change, Command, Diagnostic, Effect, Phase, Reason};
use crate::state::{Stage, WaldurCall};

impl Planner<'_> {
    pub(super) fn plan_waldur_calls(&mut self) {
        for (seq, call) in self.desired.waldur_calls.iter().enumerate() {
            if let (Some(b), Some(erred)) = (
                call.accounts.iter().find(|a| self.collided.contains(*a)),
                &call.on_failure,
            ) {
                let change = Self::collision_erred(call, b, erred);
                self.push_waldur(seq, change);
                continue;
            }
            if let Some(why) = self.held(call) {
                self.diagnostics.push(Diagnostic::warning(
                    "waldur_call_held",
                    format!("{} {} is held back: {why}", call.method, call.path),
                ));
                continue;
            }
            let mut depends_on: Vec<Address> = call
                .accounts
                .iter()
                .flat_map(|a| self.account_addresses.get(a).cloned().unwrap_or_default())
                .collect();
            depends_on.extend(
                call.after_calls
                    .iter()
                    .map(|id| Address::Waldur(id.clone())),
            );
            let phase = match call.stage {
                Stage::Before => Phase::WaldurBefore,
                Stage::After => Phase::WaldurAfter,
            };
            let change = Change::new(
                Address::Waldur(call.id.clone()),
                Action::Call,
                phase,
                Effect::None,
            )
            .reason(call.reason.clone())
            .after(depends_on)
            .command(Command::Waldur {
                offering: call.offering.clone(),
                method: call.method.clone(),
                path: call.path.clone(),
                body: call.body.clone(),
            })
            .on_failure(call.on_failure.as_ref().map(|path| Command::Waldur {
                offering: call.offering.clone(),
                method: "POST".into(),
                path: path.clone(),
                body: Some(json!({
                    "error_message": "<the failed SLURM change and its message>",
                    "error_traceback": ""
                })),
            }));
            self.push_waldur(seq, change);
        }
    }

    /// Why `call` cannot be made this cycle, if it cannot.
    fn held(&self, call: &WaldurCall) -> Option<String> {
        if let Some(b) = call.accounts.iter().find(|a| self.blocked.contains(*a)) {
            return Some(format!("the SLURM changes for {b} cannot be planned"));
        }
        // A call reporting on a terminated account reports its removal (the Terminate
        // order's done): while the account stays in SLURM (wanted by another resource,
        // an anchor), nothing may say it is gone.
        let kept = call.accounts.iter().find(|a| {
            self.desired.tombstones.contains_key(*a)
                && self.observed.accounts.contains_key(*a)
                && !self.deleted_accounts.contains(*a)
        })?;
        Some(format!(
            "{kept} is terminated in Waldur but is not removed from SLURM"
        ))
    }

    /// The order of an allocation for which every name is taken is marked erred.
    fn collision_erred(call: &WaldurCall, account: &str, erred_path: &str) -> Change {
        let max = crate::fresh::MAX_SUFFIX;
        Change::new(
            Address::Waldur(format!("{}/erred", call.id)),
            Action::Call,
            Phase::WaldurAfter,
            Effect::None,
        )
        .reason(Reason::new(
            "name_collision",
            format!("no free SLURM account name for {account}; the order cannot be carried out"),
        ))
        .command(Command::Waldur {
            offering: call.offering.clone(),
            method: "POST".into(),
            path: erred_path.to_string(),
            body: Some(json!({
                "error_message": format!("SLURM account {account} and {account}-1 .. {account}-{max} already exist; rename the resource or remove the stale accounts, then order again"),
                "error_traceback": ""
            })),
        })
    }

    /// Waldur calls keep the order the builder gave them (seq), not address order.
    pub(super) fn push_waldur(&mut self, seq: usize, change: Change) {
        let key = SortKey {
            phase: change.phase,
            rank: 0,
            seq,
            address: String::new(),
        };
        self.changes.push((key, change));
    }
}
