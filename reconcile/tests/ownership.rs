//! The planner writes only accounts of the managed tree, whatever Waldur names.

use agent_reconcile::plan::{Action, Severity};
use agent_reconcile::state::*;
use agent_reconcile::testkit::{self, account, member, plain_association, reason};
use agent_reconcile::{plan, Desired, Observed, Plan};

/// root -> c_x -> p_x (desired and observed), a foreign tree root -> other -> theirs with
/// user zed, and the given desired allocations (name, parent).
fn world(allocations: &[(&str, &str)]) -> (Desired, Observed) {
    let mut d = Desired::default();
    d.anchors.insert("root".into());
    let c = account("c_x", Tier::Customer, "root", "c_x");
    let p = account("p_x", Tier::Project, "c_x", "p_x");
    let p2 = account("p_y", Tier::Project, "c_x", "p_y");
    let mut o = testkit::cluster("c1", &["cpu"], &["normal"]);
    for spec in [&c, &p, &p2] {
        o.accounts.insert(spec.name.clone(), testkit::written(spec));
    }
    o.accounts
        .insert("other".into(), AccountValues::new_default("other", "root"));
    o.accounts.insert(
        "theirs".into(),
        AccountValues::new_default("theirs", "other"),
    );
    o.associations
        .insert(AssocKey::new("theirs", "zed", ""), plain_association());
    o.associations
        .insert(AssocKey::new("root", "admin", ""), plain_association());
    o.users.insert("zed".into(), "theirs".into());
    for spec in [c, p, p2] {
        d.add_account(spec);
    }
    for (name, parent) in allocations {
        d.add_account(account(name, Tier::Allocation, parent, name));
        let m = member(name, "ann");
        d.associations.insert(m.key.clone(), m);
        d.waldur_calls.push(done_call(name));
    }
    (d, o)
}

fn done_call(account: &str) -> WaldurCall {
    WaldurCall {
        id: format!("order/{account}/set_state_done"),
        method: "POST".into(),
        path: format!("/api/marketplace-orders/{account}/set_state_done/"),
        body: None,
        stage: Stage::After,
        accounts: vec![account.into()],
        after_calls: vec![],
        reason: reason(),
        offering: "o1".into(),
        on_failure: None,
    }
}

fn touched(p: &Plan) -> Vec<String> {
    p.changes.iter().map(|c| c.address.to_string()).collect()
}

fn errors(p: &Plan, code: &str) -> usize {
    p.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && d.code == code)
        .count()
}

#[test]
fn a_backend_id_naming_root_changes_nothing() {
    let (d, o) = world(&[("root", "p_x")]);
    let p = plan(&d, &o, &testkit::context("c1"));
    assert!(
        !touched(&p).iter().any(|a| a.contains("root")),
        "{}",
        p.to_json()
    );
    assert!(errors(&p, "not_owned") >= 1, "{:?}", p.diagnostics);
}

#[test]
fn a_backend_id_naming_a_foreign_account_changes_nothing_there() {
    let (d, o) = world(&[("theirs", "p_x")]);
    let p = plan(&d, &o, &testkit::context("c1"));
    assert_eq!(touched(&p), Vec::<String>::new(), "{}", p.to_json());
    assert_eq!(errors(&p, "not_owned"), 1);
    assert!(p.diagnostics.iter().any(|d| d.code == "waldur_call_held"));
}

#[test]
fn terminating_an_unmanaged_account_deletes_nothing_and_holds_the_order() {
    let (mut d, o) = world(&[]);
    d.tombstones.insert(
        "theirs".into(),
        Tombstone {
            account: "theirs".into(),
            tier: Tier::Allocation,
            cascade_parent: Some("p_x".into()),
            reason: reason(),
        },
    );
    d.waldur_calls.push(done_call("theirs"));
    let p = plan(&d, &o, &testkit::context("c1"));
    assert!(
        p.changes.iter().all(|c| c.action != Action::Delete),
        "{}",
        p.to_json()
    );
    assert!(touched(&p).is_empty(), "the order is not completed");
    assert_eq!(errors(&p, "not_owned"), 1);
}

#[test]
fn two_resources_on_one_account_leave_it_alone() {
    let (mut d, mut o) = world(&[("a_1", "p_x")]);
    let mut second = account("a_1", Tier::Allocation, "p_y", "another");
    second.reason = agent_reconcile::plan::Reason::new("r", "resource two");
    d.add_account(second);
    o.accounts
        .insert("a_1".into(), AccountValues::new_default("a_1", "p_x"));
    let p = plan(&d, &o, &testkit::context("c1"));
    assert!(touched(&p).is_empty(), "{}", p.to_json());
    assert_eq!(errors(&p, "conflicting_account"), 1);
}

#[test]
fn an_allocation_named_like_a_project_is_a_conflict() {
    let (d, o) = world(&[("p_y", "p_x")]);
    let p = plan(&d, &o, &testkit::context("c1"));
    assert!(touched(&p).is_empty(), "{}", p.to_json());
    assert_eq!(errors(&p, "conflicting_account"), 1);
}

#[test]
fn an_allocation_moved_between_managed_projects_is_reparented() {
    let (d, mut o) = world(&[("a_1", "p_y")]);
    let mut v = AccountValues::new_default("a_1", "p_x");
    v.description = "a_1".into();
    v.organization = "p_y".into();
    o.accounts.insert("a_1".into(), v);
    let p = plan(&d, &o, &testkit::context("c1"));
    let change = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "account/a_1")
        .expect("a_1 updated");
    assert_eq!(change.fields[0].field, "parent");
    assert_eq!(errors(&p, "not_owned"), 0);
}

#[test]
fn names_read_from_slurm_never_reach_a_command_unchecked() {
    let (d, mut o) = world(&[("a_1", "p_x")]);
    let mut v = AccountValues::new_default("a_1", "p_x");
    v.description = "a_1".into();
    v.organization = "p_x".into();
    o.accounts.insert("a_1".into(), v);
    o.associations
        .insert(AssocKey::new("a_1", "ann", ""), plain_association());
    o.associations
        .insert(AssocKey::new("a_1", "oscar,frank", ""), plain_association());
    o.associations
        .insert(AssocKey::new("a_1", "eve", "gpu part"), plain_association());
    let p = plan(&d, &o, &testkit::context("c1"));
    let json = p.to_json();
    assert!(!json.contains("oscar,frank\""), "{json}");
    assert!(!json.contains("gpu part\""), "{json}");
    assert_eq!(errors(&p, "unwritable_name"), 2, "{:?}", p.diagnostics);
}

#[test]
fn a_partition_setting_change_adds_before_it_removes_and_cancels_no_jobs() {
    let (mut d, mut o) = world(&[]);
    let alloc = account("a_1", Tier::Allocation, "p_x", "a_1");
    o.accounts.insert("a_1".into(), testkit::written(&alloc));
    d.add_account(alloc);
    for user in ["ann", "bob"] {
        o.associations
            .insert(AssocKey::new("a_1", user, ""), plain_association());
        let m = AssocSpec {
            key: AssocKey::new("a_1", user, "gpu"),
            ..member("a_1", user)
        };
        d.associations.insert(m.key.clone(), m);
    }
    let p = plan(&d, &o, &testkit::context("c1"));
    let json = p.to_json();
    assert!(!json.contains("scancel"), "{json}");
    for user in ["ann", "bob"] {
        let removal = p
            .changes
            .iter()
            .find(|c| c.address.to_string() == format!("association/a_1/{user}"))
            .expect("old association removed");
        assert_eq!(removal.reasons[0].code, "partition_changed");
        assert_eq!(
            removal.depends_on[0].to_string(),
            format!("association/a_1/{user}/gpu")
        );
    }
}

#[test]
fn a_terminated_account_that_stays_does_not_complete_its_order() {
    // A Terminate naming an account another resource still wants, or the project above
    // it: the account is kept, so its order must not be reported done.
    for account_name in ["a_1", "p_x"] {
        let (mut d, mut o) = world(&[("a_1", "p_x")]);
        o.accounts
            .insert("a_1".into(), testkit::written(&d.accounts["a_1"]));
        d.waldur_calls.clear();
        d.tombstones.insert(
            account_name.into(),
            Tombstone {
                account: account_name.into(),
                tier: Tier::Allocation,
                cascade_parent: Some("p_x".into()),
                reason: reason(),
            },
        );
        d.waldur_calls.push(done_call(account_name));
        let p = plan(&d, &o, &testkit::context("c1"));
        assert!(
            !touched(&p).iter().any(|a| a.starts_with("waldur/")),
            "{}",
            p.to_json()
        );
        assert!(p.changes.iter().all(|c| c.action != Action::Delete));
        assert!(p.diagnostics.iter().any(|d| d.code == "waldur_call_held"));
    }
}
