//! Periodic changes in the executor: a reset that succeeded is recorded at once and never
//! goes into a batch session; the result report is sent whether the changes applied or
//! not, with the commands that ran (spec §4.6, "second sacctmgr call fails").

use agent_config::ApplyMode;
use agent_observed::answers::FailureClass;
use agent_reconcile::periodic::ResetRequest;
use agent_reconcile::state::{AccountField, Desired, Observed, Tier};
use agent_reconcile::testkit::{self, account, periodic};
use agent_reconcile::{plan, Plan};
use serde_json::Value;

use super::{Executor, Outcome};
use crate::periodic::{FileResets, ResetLedger};
use crate::sides::memory::{Journal, MemorySlurm, MemoryWaldur};

struct World {
    desired: Desired,
    slurm: MemorySlurm,
    waldur: MemoryWaldur,
    resets: FileResets,
    journal: Journal,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let mut desired = Desired::default();
    desired.anchors.insert("root".into());
    let a = account("a_x", Tier::Allocation, "root", "x");
    let mut observed = testkit::cluster("c1", &["billing"], &[]);
    observed.accounts.insert("a_x".into(), testkit::written(&a));
    desired.add_account(a);
    let mut spec = periodic(
        "a_x",
        AccountField::GrpTresMins,
        Some(666),
        &[("billing", 100)],
    );
    spec.reset = Some(ResetRequest {
        period: "2026-Q2".into(),
        needs_earlier_reset: false,
        why: "test".into(),
    });
    desired.periodic.insert("a_x".into(), spec);
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::default();
    World {
        desired,
        slurm: MemorySlurm::new(observed).with_journal(journal.clone()),
        waldur: MemoryWaldur::default().with_journal(journal.clone()),
        resets: FileResets::new(dir.path()),
        journal,
        _dir: dir,
    }
}

impl World {
    /// SLURM as a cycle sees it: the cluster plus the agent's record of its resets.
    fn observed(&self) -> Observed {
        let mut o = self.slurm.state();
        o.raw_usage_resets = Some(self.resets.done("c1").unwrap());
        o
    }

    fn plan(&self) -> Plan {
        plan(&self.desired, &self.observed(), &testkit::context("c1"))
    }

    async fn apply(&self, mode: ApplyMode) -> Outcome {
        let executor = Executor {
            slurm: &self.slurm,
            waldur: Some(&self.waldur),
            storage: None,
            progress: None,
            expose_error_details: true,
            resets: Some(&self.resets),
        };
        executor
            .apply(&self.plan(), mode, || async { Ok(self.plan()) })
            .await
    }

    fn report(&self) -> Value {
        let calls = self.waldur.calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert!(
            calls[0].path.ends_with("/report-command-result/"),
            "{calls:?}"
        );
        calls[0].body.clone().unwrap()
    }
}

#[tokio::test]
async fn a_failed_reset_is_reported_with_what_ran_and_retried_next_cycle() {
    let w = world();
    w.slurm.fail(
        "raw_usage/a_x/2026-Q2",
        FailureClass::Fatal,
        "sacctmgr: error: Unknown option: RawUsage=0",
        1,
    );
    let outcome = w.apply(ApplyMode::PerChange).await;
    assert_eq!(outcome.failed(), 1, "{outcome:?}");
    let body = w.report();
    assert_eq!(body["success"], false);
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .starts_with("raw_usage/a_x/2026-Q2: sacctmgr: error"),
        "{body}"
    );
    let ran: Vec<&str> = body["commands_executed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(ran.len(), 3, "{ran:?}");
    assert!(ran[0].ends_with("set fairshare=666") && ran[2].ends_with("set RawUsage=0"));
    assert!(
        w.resets.done("c1").unwrap().is_empty(),
        "a failed reset is not recorded"
    );
    // Next cycle: only the reset is left, and it is tried again.
    let again = w.plan();
    let addresses: Vec<String> = again
        .changes
        .iter()
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(addresses[0], "raw_usage/a_x/2026-Q2");
}

#[tokio::test]
async fn a_reset_that_succeeded_is_recorded_and_never_planned_again() {
    let w = world();
    let outcome = w.apply(ApplyMode::PerChange).await;
    assert_eq!(outcome.failed(), 0, "{outcome:?}");
    let body = w.report();
    assert_eq!(
        (body["success"].clone(), body["error_message"].clone()),
        (true.into(), "".into())
    );
    assert_eq!(body["commands_executed"].as_array().unwrap().len(), 3);
    assert_eq!(w.resets.done("c1").unwrap()["a_x"], "2026-Q2");
    assert!(w.plan().is_empty(), "{}", w.plan().to_json());
}

#[tokio::test]
async fn a_reset_never_goes_into_a_batch_session() {
    let w = world();
    let outcome = w.apply(ApplyMode::Batch).await;
    assert_eq!(outcome.failed(), 0, "{outcome:?}");
    let journal = w.journal.lock().unwrap().clone();
    assert_eq!(
        journal,
        [
            "slurm periodic/a_x",
            "slurm raw_usage/a_x/2026-Q2",
            "waldur POST /api/marketplace-slurm-periodic-usage-policies/91ab0000-0000-0000-0000-000000000001/report-command-result/",
        ]
    );
    assert_eq!(w.resets.done("c1").unwrap()["a_x"], "2026-Q2");
    assert_eq!(w.report()["success"], true);
}
