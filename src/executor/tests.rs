//! The executor's rules on the in-memory systems: phases, dependencies, failure classes,
//! orders erred only on fatal SLURM failures, and batch leftovers run one by one.

use std::sync::{Arc, Mutex};

use agent_config::ApplyMode;
use agent_observed::answers::FailureClass;
use agent_reconcile::state::{Desired, Stage, Tier, WaldurCall};
use agent_reconcile::testkit::{self, account, member, reason};
use agent_reconcile::{plan, Observed, Plan};

use super::{Executor, Outcome, Status};
use crate::sides::memory::{Journal, MemorySlurm, MemoryWaldur};

fn call(id: &str, path: &str, stage: Stage, accounts: &[&str], erred: Option<&str>) -> WaldurCall {
    WaldurCall {
        id: id.into(),
        method: "POST".into(),
        path: path.into(),
        body: None,
        stage,
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        after_calls: vec![],
        reason: reason(),
        offering: "o1".into(),
        on_failure: erred.map(str::to_string),
    }
}

/// A new allocation `a_x` under root with member ann, its order to approve and finish.
fn world() -> (Desired, Observed) {
    let mut d = Desired::default();
    d.anchors.insert("root".into());
    d.add_account(account("a_x", Tier::Allocation, "root", "x"));
    let m = member("a_x", "ann");
    d.associations.insert(m.key.clone(), m);
    d.waldur_calls.push(call(
        "order/o1/approve_by_provider",
        "/api/marketplace-orders/o1/approve_by_provider/",
        Stage::Before,
        &[],
        None,
    ));
    d.waldur_calls.push(call(
        "order/o1/set_state_done",
        "/api/marketplace-orders/o1/set_state_done/",
        Stage::After,
        &["a_x"],
        Some("/api/marketplace-orders/o1/set_state_erred/"),
    ));
    (d, testkit::cluster("c1", &["cpu"], &[]))
}

pub(super) struct Setup {
    pub(super) desired: Desired,
    pub(super) slurm: MemorySlurm,
    pub(super) waldur: MemoryWaldur,
    journal: Journal,
}

pub(super) fn setup() -> Setup {
    let (desired, observed) = world();
    let journal: Journal = Arc::new(Mutex::new(Vec::new()));
    Setup {
        desired,
        slurm: MemorySlurm::new(observed).with_journal(journal.clone()),
        waldur: MemoryWaldur::default().with_journal(journal.clone()),
        journal,
    }
}

impl Setup {
    pub(super) fn plan(&self) -> Plan {
        plan(&self.desired, &self.slurm.state(), &testkit::context("c1"))
    }

    pub(super) async fn apply(&self, mode: ApplyMode, waldur: bool) -> Outcome {
        let plan = self.plan();
        let executor = Executor {
            slurm: &self.slurm,
            waldur: waldur.then_some(&self.waldur as _),
            storage: None,
            progress: None,
            expose_error_details: true,
            resets: None,
        };
        executor
            .apply(&plan, mode, || async { Ok(self.plan()) })
            .await
    }

    pub(super) fn journal(&self) -> Vec<String> {
        self.journal.lock().unwrap().clone()
    }
}

pub(super) fn status<'a>(o: &'a Outcome, address: &str) -> &'a Status {
    &o.statuses
        .iter()
        .find(|(a, _)| a.to_string() == address)
        .unwrap_or_else(|| panic!("{address} not in the outcome"))
        .1
}

#[tokio::test]
async fn waldur_before_then_slurm_in_dependency_order_then_waldur_after() {
    let s = setup();
    let outcome = s.apply(ApplyMode::PerChange, true).await;
    assert_eq!(outcome.failed(), 0, "{outcome:?}");
    assert_eq!(
        s.journal(),
        [
            "waldur POST /api/marketplace-orders/o1/approve_by_provider/",
            "slurm account/a_x",
            "slurm association/a_x/ann",
            "waldur POST /api/marketplace-orders/o1/set_state_done/",
        ]
    );
    let again = s.plan();
    assert!(
        again.changes.iter().all(|c| c.address.is_waldur()),
        "SLURM changes left after apply: {}",
        again.to_json()
    );
}

#[tokio::test]
async fn a_fatal_slurm_failure_skips_dependents_and_errs_the_order() {
    let s = setup();
    s.slurm
        .fail("account/a_x", FailureClass::Fatal, "Unknown option: x", 1);
    let outcome = s.apply(ApplyMode::PerChange, true).await;
    assert!(matches!(
        status(&outcome, "account/a_x"),
        Status::Failed { class: FailureClass::Fatal, message } if message == "Unknown option: x"
    ));
    assert!(matches!(
        status(&outcome, "association/a_x/ann"),
        Status::Skipped { because } if because == "account/a_x did not apply"
    ));
    let Status::Skipped { because } = status(&outcome, "waldur/order/o1/set_state_done") else {
        panic!("the order call ran");
    };
    assert!(because.contains("the order is marked erred"), "{because}");
    let erred = s
        .waldur
        .calls()
        .into_iter()
        .find(|c| c.path.ends_with("set_state_erred/"))
        .expect("set_state_erred sent");
    let message = erred.body.unwrap()["error_message"].to_string();
    assert!(
        message.contains("account/a_x") && message.contains("Unknown option: x"),
        "{message}"
    );
    assert!(!s.journal().iter().any(|l| l.contains("set_state_done")));
}

#[tokio::test]
async fn retryable_and_blocked_failures_leave_the_order_alone() {
    for class in [FailureClass::Retryable, FailureClass::Blocked] {
        let s = setup();
        s.slurm
            .fail("association/a_x/ann", class, "Database is busy", 1);
        let outcome = s.apply(ApplyMode::PerChange, true).await;
        assert_eq!(*status(&outcome, "account/a_x"), Status::Applied);
        assert!(matches!(
            status(&outcome, "waldur/order/o1/set_state_done"),
            Status::Skipped { .. }
        ));
        assert!(
            !s.waldur
                .calls()
                .iter()
                .any(|c| c.path.contains("set_state_erred")),
            "{class}: the order was erred"
        );
        // The next cycle converges.
        let again = s.apply(ApplyMode::PerChange, true).await;
        assert_eq!(again.failed(), 0, "{again:?}");
        assert!(s.journal().iter().any(|l| l.contains("set_state_done")));
    }
}

#[tokio::test]
async fn a_failed_waldur_call_is_retried_next_cycle_not_erred() {
    let s = setup();
    s.waldur
        .fail("approve_by_provider", FailureClass::Retryable, "HTTP 503");
    let outcome = s.apply(ApplyMode::PerChange, true).await;
    assert!(matches!(
        status(&outcome, "waldur/order/o1/approve_by_provider"),
        Status::Failed {
            class: FailureClass::Retryable,
            ..
        }
    ));
    // SLURM work does not wait for the approval; the order is not erred for a Waldur error.
    assert_eq!(*status(&outcome, "account/a_x"), Status::Applied);
    assert!(!s
        .waldur
        .calls()
        .iter()
        .any(|c| c.path.contains("set_state_erred")));
}

#[tokio::test]
async fn batch_leftovers_run_one_by_one_with_their_own_message() {
    // Batch: fails in the session; load: not made by the load. Either way it fails once
    // more when run alone: failed with SLURM's message, the order erred.
    for mode in [ApplyMode::Batch, ApplyMode::Load] {
        let s = setup();
        s.slurm.fail(
            "association/a_x/ann",
            FailureClass::Fatal,
            "Invalid user",
            2,
        );
        let outcome = s.apply(mode, true).await;
        assert_eq!(
            *status(&outcome, "account/a_x"),
            Status::Applied,
            "{mode:?}"
        );
        assert!(
            matches!(
                status(&outcome, "association/a_x/ann"),
                Status::Failed { class: FailureClass::Fatal, message } if message == "Invalid user"
            ),
            "{mode:?}"
        );
        assert!(
            s.waldur
                .calls()
                .iter()
                .any(|c| c.path.contains("set_state_erred")),
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn a_batch_that_cannot_be_verified_is_unknown_not_done() {
    let s = setup();
    let plan = s.plan();
    let executor = Executor {
        slurm: &s.slurm,
        waldur: Some(&s.waldur),
        storage: None,
        progress: None,
        expose_error_details: true,
        resets: None,
    };
    let outcome = executor
        .apply(&plan, ApplyMode::Batch, || async {
            Err(anyhow::anyhow!("sacctmgr: connection refused"))
        })
        .await;
    for address in ["account/a_x", "association/a_x/ann"] {
        assert!(matches!(
            status(&outcome, address),
            Status::Failed {
                class: FailureClass::Retryable,
                ..
            }
        ));
    }
    assert!(!s
        .waldur
        .calls()
        .iter()
        .any(|c| c.path.contains("set_state_done") || c.path.contains("set_state_erred")));
}

#[tokio::test]
async fn without_a_waldur_writer_calls_are_skipped_and_slurm_still_applies() {
    let s = setup();
    let outcome = s.apply(ApplyMode::PerChange, false).await;
    assert_eq!(*status(&outcome, "account/a_x"), Status::Applied);
    assert!(matches!(
        status(&outcome, "waldur/order/o1/set_state_done"),
        Status::Skipped { .. }
    ));
    assert!(s.waldur.calls().is_empty());
}

#[tokio::test]
async fn batch_leftovers_are_limited_to_the_plan_that_was_shown() {
    let s = setup();
    let plan = s.plan();
    // While the session runs, Waldur terminates another allocation: the re-plan now
    // deletes it, but it was not in the reviewed plan.
    let project = account("p_t", Tier::Project, "root", "p_t");
    s.slurm.edit(|o| {
        o.accounts.insert("p_t".into(), testkit::written(&project));
        o.accounts.insert(
            "a_gone".into(),
            agent_reconcile::state::AccountValues::new_default("a_gone", "p_t"),
        );
    });
    let mut desired = s.desired.clone();
    desired.add_account(project);
    desired.tombstones.insert(
        "a_gone".into(),
        agent_reconcile::state::Tombstone {
            account: "a_gone".into(),
            tier: Tier::Allocation,
            cascade_parent: Some("p_t".into()),
            reason: reason(),
        },
    );
    let executor = Executor {
        slurm: &s.slurm,
        waldur: Some(&s.waldur),
        storage: None,
        progress: None,
        expose_error_details: true,
        resets: None,
    };
    executor
        .apply(&plan, ApplyMode::Batch, || async {
            let p = agent_reconcile::plan(&desired, &s.slurm.state(), &testkit::context("c1"));
            assert!(p
                .changes
                .iter()
                .any(|c| c.address.to_string() == "account/a_gone"));
            Ok(p)
        })
        .await;
    assert!(
        s.slurm.state().accounts.contains_key("a_gone"),
        "deleted outside the plan"
    );
}

/// `world()` with a home for ann under `/home`, in a filesystem that has not got it yet.
fn storage_setup() -> (Setup, crate::sides::memory::MemoryStorage) {
    use agent_reconcile::storage::{Lookup, StorageObserved};
    let mut s = setup();
    s.desired
        .storage
        .homes
        .insert("ann".into(), testkit::home("ann", &["a_x"], Some("/home")));
    let mut fs = StorageObserved::default();
    fs.paths.insert("/home".into(), testkit::dir(0, 0, 0o755));
    fs.paths.insert("/home/ann".into(), Lookup::Missing);
    fs.users
        .insert("ann".into(), testkit::passwd(1001, "/home/ann"));
    (s, crate::sides::memory::MemoryStorage::new(fs))
}

fn with_storage(s: &Setup, fs: &crate::sides::memory::MemoryStorage) -> Plan {
    let mut observed = s.slurm.state();
    observed.storage = fs.state();
    plan(&s.desired, &observed, &testkit::context("c1"))
}

#[tokio::test]
async fn homes_are_made_after_the_associations_they_serve_and_never_err_an_order() {
    let (s, fs) = storage_setup();
    let executor = Executor {
        slurm: &s.slurm,
        waldur: Some(&s.waldur),
        storage: Some(&fs),
        resets: None,
        progress: None,
        expose_error_details: true,
    };
    let p = with_storage(&s, &fs);
    let outcome = executor
        .apply(&p, ApplyMode::PerChange, || async {
            Ok(with_storage(&s, &fs))
        })
        .await;
    assert_eq!(outcome.failed(), 0, "{outcome:?}");
    assert_eq!(fs.applied(), ["directory/home/ann"]);
    assert!(with_storage(&s, &fs)
        .changes
        .iter()
        .all(|c| c.address.is_waldur()));

    // The association fails: its home is skipped. A failing home leaves the order alone.
    let (s, fs) = storage_setup();
    s.slurm
        .fail("association/a_x/ann", FailureClass::Fatal, "no", 1);
    let executor = Executor {
        slurm: &s.slurm,
        waldur: Some(&s.waldur),
        storage: Some(&fs),
        resets: None,
        progress: None,
        expose_error_details: true,
    };
    let p = with_storage(&s, &fs);
    let outcome = executor
        .apply(&p, ApplyMode::PerChange, || async {
            Ok(with_storage(&s, &fs))
        })
        .await;
    assert!(matches!(
        status(&outcome, "directory/home/ann"),
        Status::Skipped { because } if because.contains("association/a_x/ann")
    ));
    let (s, fs) = storage_setup();
    fs.fail(
        "directory/home/ann",
        FailureClass::Fatal,
        "mkhomedir_helper: exit 1",
    );
    let executor = Executor {
        slurm: &s.slurm,
        waldur: Some(&s.waldur),
        storage: Some(&fs),
        resets: None,
        progress: None,
        expose_error_details: true,
    };
    let p = with_storage(&s, &fs);
    let outcome = executor
        .apply(&p, ApplyMode::PerChange, || async {
            Ok(with_storage(&s, &fs))
        })
        .await;
    assert!(matches!(
        status(&outcome, "directory/home/ann"),
        Status::Failed { .. }
    ));
    assert_eq!(
        status(&outcome, "waldur/order/o1/set_state_done"),
        &Status::Applied
    );
}

#[tokio::test]
async fn without_a_storage_writer_storage_changes_are_skipped() {
    let (s, fs) = storage_setup();
    let executor = Executor {
        slurm: &s.slurm,
        waldur: Some(&s.waldur),
        storage: None,
        resets: None,
        progress: None,
        expose_error_details: true,
    };
    let p = with_storage(&s, &fs);
    let outcome = executor
        .apply(&p, ApplyMode::PerChange, || async {
            Ok(with_storage(&s, &fs))
        })
        .await;
    assert!(matches!(
        status(&outcome, "directory/home/ann"),
        Status::Skipped { because } if because.contains("live filesystem")
    ));
}
