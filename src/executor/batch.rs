//! The big-plan paths: one `sacctmgr -i` stdin session (`batch`), or the creations as
//! one `sacctmgr load` flat file and the rest as a session (`load`). Neither says which
//! line failed, so both end with the verify re-plan: what is still planned is run one by
//! one for SLURM's own message, everything else applied.

use std::collections::BTreeSet;
use std::future::Future;

use agent_observed::answers::FailureClass;
use agent_reconcile::plan::{Address, Change, Kind, Plan};

use super::ledger::{Ledger, Status};
use super::Executor;
use crate::sides::LongRun;

impl Executor<'_> {
    /// Every SLURM change in one session (with `load`: the creations a flat file can
    /// carry in a `sacctmgr load` first, the rest in the session), but RawUsage resets:
    /// what a session did is only known by re-planning, and a reset cannot be seen that
    /// way (it would run twice), so resets run on their own after it.
    pub(super) async fn apply_batch<F, Fut>(
        &self,
        cluster: &str,
        all: &[&Change],
        ledger: &mut Ledger,
        replan: F,
        load: bool,
    ) where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Plan>>,
    {
        let (resets, changes): (Vec<&Change>, Vec<&Change>) = all
            .iter()
            .partition(|c| matches!(c.address, Address::RawUsage(..)));
        self.apply_session_and_leftovers(cluster, &changes, ledger, replan, load)
            .await;
        for change in resets {
            self.apply_slurm(cluster, change, ledger).await;
        }
    }

    /// The load and the session, then the re-plan: sacctmgr does not say which line
    /// failed, so the re-plan tells what is left, and the leftovers run one by one to get
    /// each one's message.
    async fn apply_session_and_leftovers<F, Fut>(
        &self,
        cluster: &str,
        changes: &[&Change],
        ledger: &mut Ledger,
        replan: F,
        load: bool,
    ) where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Plan>>,
    {
        if changes.is_empty() {
            return;
        }
        let file = if load {
            agent_reconcile::load::render(cluster, changes)
        } else {
            None
        };
        let ended = match &file {
            Some(file) => {
                let carried: BTreeSet<&Address> = file.carried.iter().collect();
                let (loaded, rest): (Vec<&Change>, Vec<&Change>) =
                    changes.iter().partition(|c| carried.contains(&c.address));
                tracing::info!(
                    loaded = loaded.len(),
                    session = rest.len(),
                    lines = file.lines.len(),
                    "sacctmgr load of the plan's creations, then a session for the rest"
                );
                match self.slurm.apply_load(file, &loaded).await {
                    LongRun::Ended if !rest.is_empty() => self.slurm.apply_session(&rest).await,
                    ended => ended,
                }
            }
            None => self.slurm.apply_session(changes).await,
        };
        if let LongRun::TimedOut(why) = ended {
            // slurmdbd goes on with what it was sent, holding its locks: more commands
            // behind it only wait (at N=10,000 they ended in slurmdbd's lock-wait exit).
            // Nothing is confirmed either, so every change is retryable.
            let message = format!(
                "{why}; slurmdbd may still be applying it, so nothing more is sent this cycle: the next one reads again and continues"
            );
            all_retryable(changes, &message, ledger);
            return;
        }
        let leftovers = match replan().await {
            Ok(p) => p,
            Err(e) => {
                // Without a fresh view nothing can be confirmed: report every change as
                // unknown (retryable) so no order is marked done or erred on a guess.
                all_retryable(
                    changes,
                    &format!("could not verify the batch: {e:#}"),
                    ledger,
                );
                return;
            }
        };
        // Only what was in the plan that was shown and checked (mass-delete guard
        // included): a Terminate that arrived during the session waits for the next pass.
        let shown: BTreeSet<&Address> = changes.iter().map(|c| &c.address).collect();
        let left: Vec<&Change> = leftovers
            .changes
            .iter()
            .filter(|c| c.kind != Kind::Waldur && shown.contains(&c.address))
            .collect();
        if !left.is_empty() && left.len() >= changes.len() {
            tracing::warn!(
                changes = left.len(),
                "the sacctmgr session changed nothing; running the changes one by one (if this sacctmgr cannot read commands from stdin or files, set agent.apply_mode: per-change)"
            );
        }
        let mut retry_ledger = Ledger::default();
        for change in left {
            self.apply_slurm(cluster, change, &mut retry_ledger).await;
        }
        for change in changes {
            if !retry_ledger.move_to(&change.address, ledger) {
                ledger.record(&change.address, Status::Applied, None);
            }
        }
    }
}

/// Every change unconfirmed: failed, retryable, with `message`.
fn all_retryable(changes: &[&Change], message: &str, ledger: &mut Ledger) {
    for c in changes {
        ledger.record(
            &c.address,
            Status::Failed {
                class: FailureClass::Retryable,
                message: message.to_string(),
            },
            None,
        );
    }
}
