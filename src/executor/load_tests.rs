//! The `load` mode on the in-memory systems: creations go through the load, the rest
//! through the session, the re-plan decides, and leftovers run one by one.

use agent_config::ApplyMode;
use agent_observed::answers::FailureClass;
use agent_reconcile::state::Tier;
use agent_reconcile::testkit::{account, member};

use super::tests::{setup, status, Setup};
use super::{effective_mode, Status, AUTO_BATCH_THRESHOLD};

#[tokio::test]
async fn creations_go_through_the_load_and_the_plan_converges() {
    let s = setup();
    let outcome = s.apply(ApplyMode::Load, true).await;
    assert_eq!(outcome.failed(), 0, "{outcome:?}");
    assert_eq!(
        s.journal(),
        [
            "waldur POST /api/marketplace-orders/o1/approve_by_provider/",
            "slurm load of 5 lines",
            "slurm account/a_x",
            "slurm association/a_x/ann",
            "waldur POST /api/marketplace-orders/o1/set_state_done/",
        ]
    );
    converged(&s);
}

#[tokio::test]
async fn what_the_file_cannot_carry_goes_through_the_session() {
    let s = setup();
    let mut s = s;
    s.desired
        .add_account(account("a_y", Tier::Allocation, "root", "why: not"));
    let m = member("a_y", "ann");
    s.desired.associations.insert(m.key.clone(), m);
    let outcome = s.apply(ApplyMode::Load, true).await;
    assert_eq!(outcome.failed(), 0, "{outcome:?}");
    // a_y (and ann's association in it) come after the load: the session's.
    let journal = s.journal();
    let at = |line: &str| journal.iter().position(|l| l == line).unwrap();
    assert!(
        at("slurm load of 5 lines") < at("slurm account/a_y"),
        "{journal:?}"
    );
    assert!(at("slurm association/a_x/ann") < at("slurm association/a_y/ann"));
    converged(&s);
}

#[tokio::test]
async fn a_load_cut_short_converges_when_retried() {
    let s = setup();
    // The load loses the association (killed half-way); alone it works.
    s.slurm
        .fail("association/a_x/ann", FailureClass::Retryable, "killed", 1);
    let outcome = s.apply(ApplyMode::Load, true).await;
    assert_eq!(outcome.failed(), 0, "{outcome:?}");
    assert_eq!(*status(&outcome, "association/a_x/ann"), Status::Applied);
    converged(&s);
}

#[test]
fn auto_loads_big_creations_and_batches_big_updates_and_grouped_users() {
    let mut s = setup();
    assert_eq!(
        effective_mode(ApplyMode::Auto, &s.plan()),
        ApplyMode::PerChange
    );
    // Three users added to one account with the same options: one session line.
    for u in ["bob", "cat"] {
        let m = member("a_x", u);
        s.desired.associations.insert(m.key.clone(), m);
    }
    assert_eq!(effective_mode(ApplyMode::Auto, &s.plan()), ApplyMode::Batch);
    assert_eq!(
        effective_mode(ApplyMode::PerChange, &s.plan()),
        ApplyMode::PerChange
    );
    for i in 0..=AUTO_BATCH_THRESHOLD {
        let m = member("a_x", &format!("u{i:03}"));
        s.desired.associations.insert(m.key.clone(), m);
    }
    assert_eq!(effective_mode(ApplyMode::Auto, &s.plan()), ApplyMode::Load);
    assert_eq!(
        effective_mode(ApplyMode::Batch, &s.plan()),
        ApplyMode::Batch
    );
}

/// Only the Waldur calls are left (the in-memory Waldur's documents stay as they were).
fn converged(s: &Setup) {
    let again = s.plan();
    assert!(
        again.changes.iter().all(|c| c.address.is_waldur()),
        "SLURM changes left after apply: {}",
        again.to_json()
    );
}

#[tokio::test]
async fn a_load_that_times_out_sends_nothing_more_and_errs_no_order() {
    let s = setup();
    s.slurm.time_out_long_runs();
    let outcome = s.apply(ApplyMode::Load, true).await;
    for address in ["account/a_x", "association/a_x/ann"] {
        match status(&outcome, address) {
            Status::Failed {
                class: FailureClass::Retryable,
                message,
            } => assert!(message.contains("nothing more is sent"), "{message}"),
            other => panic!("{address}: {other:?}"),
        }
    }
    let journal = s.journal();
    assert!(
        !journal
            .iter()
            .any(|l| l.starts_with("slurm account") || l.starts_with("slurm association")),
        "no change ran one by one behind the load: {journal:?}"
    );
    assert!(
        !journal
            .iter()
            .any(|l| l.contains("set_state_erred") || l.contains("set_state_done")),
        "{journal:?}"
    );
}
