//! Scoped plans: planned from the scope's desired state and a read cut down to the scope,
//! they make exactly the full plan's changes for the scope's accounts, and nothing else.

use agent_reconcile::plan::{Action, Address, Change};
use agent_reconcile::scope::Scope;
use agent_reconcile::state::{AccountField, AssocKey, Desired, Observed, Tier, Tombstone, Value};
use agent_reconcile::testkit::{self, account, member, plain_association, written};
use agent_reconcile::{plan, PlanContext};

fn tree(d: &mut Desired, o: &mut Observed, name: &str, tier: Tier, parent: &str) {
    let spec = account(name, tier, parent, name);
    o.accounts.insert(name.into(), written(&spec));
    d.add_account(spec);
}

/// root -> cust -> {proj1 -> {a1, a2}, proj2 -> {b1}}, users on every allocation, drift on
/// a1 and b1, a stray user on a2 whose default account is a2 (a member of b1), an
/// unmanaged child of proj1,
/// and a new allocation whose first name is taken.
fn world() -> (Desired, Observed) {
    let mut d = Desired::default();
    let mut o = testkit::cluster("c1", &["cpu"], &["normal", "paused"]);
    d.anchors.insert("root".into());
    tree(&mut d, &mut o, "cust", Tier::Customer, "root");
    tree(&mut d, &mut o, "proj1", Tier::Project, "cust");
    tree(&mut d, &mut o, "proj2", Tier::Project, "cust");
    for (a, p) in [("a1", "proj1"), ("a2", "proj1"), ("b1", "proj2")] {
        tree(&mut d, &mut o, a, Tier::Allocation, p);
        for u in ["ann", "bob"] {
            d.associations.insert(AssocKey::new(a, u, ""), member(a, u));
            o.associations
                .insert(AssocKey::new(a, u, ""), plain_association());
        }
    }
    for (a, q) in [("a1", "paused"), ("b1", "paused")] {
        d.accounts.get_mut(a).unwrap().fields.insert(
            AccountField::Qos,
            Value::List([q.to_string()].into_iter().collect()),
        );
    }
    o.associations
        .insert(AssocKey::new("a2", "zed", ""), plain_association());
    o.associations
        .insert(AssocKey::new("b1", "zed", ""), plain_association());
    d.associations
        .insert(AssocKey::new("b1", "zed", ""), member("b1", "zed"));
    o.users.insert("zed".into(), "a2".into());
    o.users.insert("ann".into(), "a1".into());
    o.users.insert("bob".into(), "b1".into());
    let stray = account("x", Tier::Allocation, "proj1", "x");
    o.accounts.insert("x".into(), written(&stray));
    // a3 is new; "a3" itself is someone else's (another parent), so it becomes a3-1.
    let mut fresh = account("a3", Tier::Allocation, "proj1", "a3 new");
    fresh.fresh = true;
    d.add_account(fresh);
    d.associations
        .insert(AssocKey::new("a3", "ann", ""), member("a3", "ann"));
    let other = account("a3", Tier::Allocation, "proj2", "other");
    o.accounts.insert("a3".into(), written(&other));
    (d, o)
}

/// a2's resource is terminated: its account is to be removed.
fn terminate_a2(desired: &mut Desired) {
    desired.accounts.remove("a2");
    desired.associations.retain(|k, _| k.account != "a2");
    desired.tombstones.insert(
        "a2".into(),
        Tombstone {
            account: "a2".into(),
            tier: Tier::Allocation,
            cascade_parent: Some("proj1".into()),
            reason: testkit::reason(),
        },
    );
}

/// The part of a desired state an event on proj1's resources gives.
fn proj1_only(full: &Desired) -> Desired {
    let mut d = full.clone();
    d.accounts
        .retain(|k, _| !["proj2", "b1"].contains(&k.as_str()));
    d.associations.retain(|k, _| k.account != "b1");
    d
}

fn scoped_ctx(scope: Scope) -> PlanContext {
    PlanContext {
        scope: Some(scope),
        ..testkit::context("c1")
    }
}

fn key(c: &Change) -> (String, Vec<String>) {
    (
        c.address.to_string(),
        c.commands.iter().map(|x| format!("{x:?}")).collect(),
    )
}

#[test]
fn a_scoped_plan_is_the_full_plan_of_its_accounts() {
    let (full, observed) = world();
    let desired = proj1_only(&full);
    let scope = Scope::of(&desired);
    // root's own row is read, not its users (it may hold every user of the site).
    assert!(scope.anchors.contains("root") && !scope.accounts.contains("root"));
    let mut observed = observed;
    observed
        .associations
        .insert(AssocKey::new("root", "yan", ""), plain_association());
    observed.users.insert("yan".into(), "root".into());
    let full_plan = plan(&full, &observed, &testkit::context("c1"));
    let read = scope.restrict(&observed);
    assert!(!read.users.contains_key("yan"));
    assert!(!read.accounts.contains_key("b1") && !read.accounts.contains_key("x"));
    assert!(
        read.associations
            .contains_key(&AssocKey::new("b1", "zed", "")),
        "a user found on the scope is read with all of their associations"
    );
    let scoped = plan(&desired, &read, &scoped_ctx(scope.clone()));

    let in_scope = |c: &&Change| match &c.address {
        Address::Account(a) | Address::Periodic(a) | Address::RawUsage(a, _) => {
            scope.accounts.contains(a)
        }
        Address::Association(k) => scope.accounts.contains(&k.account),
        Address::User(_) | Address::Waldur(_) | Address::Directory(_) | Address::Quota(_) => true,
    };
    let expected: Vec<_> = full_plan.changes.iter().filter(in_scope).map(key).collect();
    let got: Vec<_> = scoped.changes.iter().map(key).collect();
    assert_eq!(got, expected);
    // What it changes: a1's QoS, zed off a2 (default moved to b1), a3-1 created with ann.
    let addresses: Vec<String> = scoped
        .changes
        .iter()
        .map(|c| c.address.to_string())
        .collect();
    for a in [
        "account/a1",
        "association/a2/zed",
        "user/zed",
        "account/a3-1",
        "association/a3-1/ann",
    ] {
        assert!(
            addresses.contains(&a.to_string()),
            "{a} not in {addresses:?}"
        );
    }
    assert!(!addresses.iter().any(|a| a.contains("b1")), "{addresses:?}");
    // The unmanaged child is the full pass's to report.
    assert!(full_plan
        .diagnostics
        .iter()
        .any(|d| d.code == "unmanaged_account"));
    assert!(!scoped
        .diagnostics
        .iter()
        .any(|d| d.code == "unmanaged_account"));
}

#[test]
fn a_scoped_plan_deletes_no_account_and_holds_the_order_done() {
    let (mut desired, observed) = world();
    desired = proj1_only(&desired);
    terminate_a2(&mut desired);
    let full = plan(&desired, &observed, &testkit::context("c1"));
    assert!(full
        .changes
        .iter()
        .any(|c| c.action == Action::Delete && c.address == Address::Account("a2".into())));
    let scope = Scope::of(&desired);
    let scoped = plan(&desired, &scope.restrict(&observed), &scoped_ctx(scope));
    assert!(
        !scoped
            .changes
            .iter()
            .any(|c| c.action == Action::Delete && matches!(c.address, Address::Account(_))),
        "{:#?}",
        scoped.changes
    );
    assert!(scoped
        .diagnostics
        .iter()
        .any(|d| d.code == "deletion_deferred"));
}

#[test]
fn changes_outside_the_scope_are_left_out() {
    // A scope that does not cover what the desired state names (a caller's mistake).
    let (full, observed) = world();
    let scope = Scope::of(&proj1_only(&full));
    let p = plan(&full, &observed, &scoped_ctx(scope));
    assert!(!p
        .changes
        .iter()
        .any(|c| c.address.to_string().contains("b1")));
    assert!(p.diagnostics.iter().any(|d| d.code == "outside_scope"));
}

/// What SLURM holds after `changes` of `plan` took effect.
fn after_applying(observed: &Observed, plan: &agent_reconcile::Plan, changes: usize) -> Observed {
    let mut state = observed.clone();
    for change in plan.changes.iter().take(changes) {
        agent_reconcile::simulate::apply_change(&mut state, change);
    }
    state
}

#[test]
fn the_check_after_an_apply_rereads_what_the_plan_touched_and_sees_what_a_full_read_sees() {
    let (desired, observed) = world();
    let ctx = testkit::context("c1");
    let p = plan(&desired, &observed, &ctx);
    let scope = Scope::touched_by(&p).expect("the world's plan removes no account");
    assert!(scope.accounts.contains("a3-1") && scope.users.contains("zed"));
    assert!(!scope.accounts.contains("proj2") && scope.anchors.contains("root"));
    // All applied, none, or only a part (a session that stopped half way).
    for applied in [p.changes.len(), 0, p.changes.len() / 2] {
        let truth = after_applying(&observed, &p, applied);
        let fresh = scope.restrict(&truth);
        let mut seen = scope.overlay(&observed, &fresh);
        seen.raw_usage_resets = truth.raw_usage_resets.clone();
        assert_eq!(seen, truth, "{applied} of {} applied", p.changes.len());
        assert_eq!(
            plan(&desired, &seen, &ctx).changes,
            plan(&desired, &truth, &ctx).changes
        );
    }
}

#[test]
fn a_plan_that_removes_an_account_is_checked_by_a_full_read() {
    let (mut desired, observed) = world();
    terminate_a2(&mut desired);
    let p = plan(&desired, &observed, &testkit::context("c1"));
    assert!(p
        .changes
        .iter()
        .any(|c| c.action == Action::Delete && c.address == Address::Account("a2".into())));
    assert_eq!(Scope::touched_by(&p), None);
}

#[test]
fn a_plan_naming_many_accounts_is_checked_by_a_full_read() {
    let mut desired = Desired::default();
    let mut observed = testkit::cluster("c1", &["cpu"], &["normal"]);
    desired.anchors.insert("root".into());
    tree(&mut desired, &mut observed, "cust", Tier::Customer, "root");
    let many = agent_reconcile::scope::MAX_TOUCHED_NAMES + 1;
    for i in 0..many {
        desired.add_account(account(&format!("n{i}"), Tier::Project, "cust", "new"));
    }
    let p = plan(&desired, &observed, &testkit::context("c1"));
    assert_eq!(p.changes.len(), many);
    assert_eq!(Scope::touched_by(&p), None);
    let few = plan(
        &{
            let mut d = desired.clone();
            d.accounts.retain(|k, _| k == "cust" || k == "n1");
            d
        },
        &observed,
        &testkit::context("c1"),
    );
    assert!(Scope::touched_by(&few).is_some());
}
