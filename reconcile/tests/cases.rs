//! Hand-made cases for rules that random worlds rarely hit.

use agent_reconcile::plan::Severity;
use agent_reconcile::state::*;
use agent_reconcile::testkit::{self, account, member, plain_association, reason};
use agent_reconcile::tres::TresMap;
use agent_reconcile::{plan, Desired, Observed, PlanContext};

fn ctx() -> PlanContext {
    testkit::context("c1")
}

/// root -> proj (observed and desired), plus the given observed accounts.
fn world(observed_accounts: &[(&str, &str, &str)]) -> (Desired, Observed) {
    let mut d = Desired::default();
    d.anchors.insert("root".into());
    let proj = account("proj", Tier::Project, "root", "proj");
    let mut o = testkit::cluster("c1", &["cpu", "mem"], &[]);
    o.accounts.insert("proj".into(), testkit::written(&proj));
    d.add_account(proj);
    for (name, parent, description) in observed_accounts {
        let mut v = AccountValues::new_default(name, parent);
        v.description = description.to_string();
        o.accounts.insert(name.to_string(), v);
    }
    (d, o)
}

fn fresh_allocation(d: &mut Desired, name: &str, description: &str) {
    d.add_account(AccountSpec {
        fresh: true,
        ..account(name, Tier::Allocation, "proj", description)
    });
    d.associations.insert(
        AssocKey::new(name, "ann", ""),
        AssocSpec {
            default_account: Some(name.into()),
            ..member(name, "ann")
        },
    );
    d.waldur_calls.push(WaldurCall {
        id: "resource/r1/set_backend_id".into(),
        method: "POST".into(),
        path: "/api/marketplace-provider-resources/r1/set_backend_id/".into(),
        body: Some(serde_json::json!({"backend_id": name})),
        stage: Stage::After,
        accounts: vec![name.into()],
        after_calls: vec![],
        reason: reason(),
        offering: "o1".into(),
        on_failure: Some("/api/marketplace-orders/o1/set_state_erred/".into()),
    });
}

fn addresses(p: &agent_reconcile::Plan) -> Vec<String> {
    p.changes.iter().map(|c| c.address.to_string()).collect()
}

#[test]
fn a_taken_name_gets_the_first_free_suffix_everywhere() {
    let (mut d, o) = world(&[
        ("a_x", "other", "someone else"),
        ("a_x-1", "other", "also taken"),
    ]);
    fresh_allocation(&mut d, "a_x", "my alloc");
    let p = plan(&d, &o, &ctx());
    assert_eq!(
        addresses(&p),
        [
            "account/a_x-2",
            "association/a_x-2/ann",
            "waldur/resource/r1/set_backend_id"
        ]
    );
    let call = p.changes.last().unwrap();
    assert!(format!("{:?}", call.commands).contains("a_x-2"));
    assert!(p.diagnostics.iter().any(|d| d.code == "renamed_allocation"));
}

#[test]
fn an_earlier_attempt_for_the_same_resource_is_adopted_not_duplicated() {
    // a_x belongs to someone else; a_x-1 was created by us last cycle (same parent and
    // description) but set_backend_id did not reach Waldur.
    let (mut d, o) = world(&[
        ("a_x", "other", "someone else"),
        ("a_x-1", "proj", "my alloc"),
    ]);
    fresh_allocation(&mut d, "a_x", "my alloc");
    let p = plan(&d, &o, &ctx());
    assert_eq!(
        addresses(&p),
        ["association/a_x-1/ann", "waldur/resource/r1/set_backend_id"]
    );
}

#[test]
fn exhausted_names_err_the_order() {
    let mut taken: Vec<(String, &str, &str)> = vec![("a_x".into(), "other", "x")];
    for n in 1..=agent_reconcile::fresh::MAX_SUFFIX {
        taken.push((format!("a_x-{n}"), "other", "x"));
    }
    let refs: Vec<(&str, &str, &str)> =
        taken.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
    let (mut d, o) = world(&refs);
    fresh_allocation(&mut d, "a_x", "my alloc");
    let p = plan(&d, &o, &ctx());
    assert_eq!(addresses(&p), ["waldur/resource/r1/set_backend_id/erred"]);
    assert!(p
        .diagnostics
        .iter()
        .any(|d| d.code == "name_collision" && d.severity == Severity::Error));
}

#[test]
fn limits_inherited_from_the_account_are_not_cleared_on_users() {
    let (mut d, mut o) = world(&[("a_y", "proj", "y")]);
    d.add_account(account("a_y", Tier::Allocation, "proj", "y"));
    let key = AssocKey::new("a_y", "ann", "");
    d.associations.insert(
        key.clone(),
        AssocSpec {
            max_tres_mins: Some(TresMap::new()),
            ..member("a_y", "ann")
        },
    );
    // slurm-emulator shows the account's MaxTRESMins on the user row too.
    o.accounts.get_mut("a_y").unwrap().max_tres_mins = TresMap::from([("mem".into(), 1000)]);
    let mut assoc = ObservedAssoc {
        max_tres_mins: TresMap::from([("mem".into(), 1000)]),
        ..plain_association()
    };
    o.associations.insert(key.clone(), assoc.clone());
    assert!(plan(&d, &o, &ctx()).changes.is_empty());
    // A limit of the user's own is still cleared, and only that one.
    assoc.max_tres_mins.insert("cpu".into(), 5);
    o.associations.insert(key, assoc);
    let p = plan(&d, &o, &ctx());
    assert_eq!(addresses(&p), ["association/a_y/ann"]);
    let argv = format!("{:?}", p.changes[0].commands);
    assert!(argv.contains("MaxTRESMins=cpu=-1"), "{argv}");
    assert!(!argv.contains("mem"), "{argv}");
}

#[test]
fn a_limit_waldur_does_not_name_is_neither_set_nor_cleared() {
    // Waldur's limits name cpu only (a partial Update order): SLURM's gpu cap stays, and
    // once cpu matches there is nothing to do.
    let (mut d, mut o) = world(&[("a_y", "proj", "y")]);
    let mut spec = account("a_y", Tier::Allocation, "proj", "y");
    spec.fields.insert(
        AccountField::GrpTresMins,
        Value::Tres(TresMap::from([("cpu".into(), 10)])),
    );
    d.add_account(spec);
    d.unnamed_limits
        .insert("a_y".into(), ["gres/gpu".to_string()].into());
    o.accounts.get_mut("a_y").unwrap().grp_tres_mins =
        TresMap::from([("cpu".into(), 5), ("gres/gpu".into(), 3)]);
    let p = plan(&d, &o, &ctx());
    let argv = format!(
        "{:?}",
        p.changes.iter().map(|c| &c.commands).collect::<Vec<_>>()
    );
    assert!(argv.contains("GrpTRESMins=cpu=10"), "{argv}");
    assert!(!argv.contains("gres/gpu"), "{argv}");

    o.accounts.get_mut("a_y").unwrap().grp_tres_mins =
        TresMap::from([("cpu".into(), 10), ("gres/gpu".into(), 3)]);
    assert!(plan(&d, &o, &ctx()).changes.is_empty());
}

#[test]
fn a_tres_the_cluster_does_not_list_is_never_cleared() {
    // The TRES read lacks gres/gpu (a partial read, a slurm.conf change): the desired
    // gpu limit is left out, and so is SLURM's gpu cap, which stays as it is.
    let (mut d, mut o) = world(&[("a_y", "proj", "y")]);
    let mut spec = account("a_y", Tier::Allocation, "proj", "y");
    let limits = TresMap::from([("cpu".into(), 10), ("gres/gpu".into(), 7)]);
    spec.fields
        .insert(AccountField::GrpTresMins, Value::Tres(limits.clone()));
    d.add_account(spec);
    let key = AssocKey::new("a_y", "ann", "");
    d.associations.insert(
        key.clone(),
        AssocSpec {
            max_tres_mins: Some(limits.clone()),
            ..member("a_y", "ann")
        },
    );
    let seen = TresMap::from([("cpu".into(), 5), ("gres/gpu".into(), 3)]);
    o.accounts.get_mut("a_y").unwrap().grp_tres_mins = seen.clone();
    o.associations.insert(
        key,
        ObservedAssoc {
            max_tres_mins: seen,
            ..plain_association()
        },
    );
    let p = plan(&d, &o, &ctx());
    let argv = format!(
        "{:?}",
        p.changes.iter().map(|c| &c.commands).collect::<Vec<_>>()
    );
    assert!(argv.contains("GrpTRESMins=cpu=10"), "{argv}");
    assert!(argv.contains("MaxTRESMins=cpu=10"), "{argv}");
    assert!(!argv.contains("gres/gpu"), "{argv}");
}
