use std::collections::BTreeSet;

use super::*;
use crate::state::{AccountField, Desired, QosGrant, Tier, Value};
use crate::testkit::{self, account, member};
use crate::{plan, Observed, Plan};

/// A customer, a project under it and an allocation under that, with two members (one
/// new user whose default is root, one with QoS and a partition) and limits.
fn world() -> (Desired, Observed) {
    let mut d = Desired::default();
    d.anchors.insert("root".into());
    d.add_account(account("c_one", Tier::Customer, "root", "customer one"));
    d.add_account(account("p_one", Tier::Project, "c_one", "project one"));
    let mut a = account("a_one", Tier::Allocation, "p_one", "allocation one");
    a.fields.insert(
        AccountField::GrpTresMins,
        Value::Tres(crate::tres::parse("cpu=600000").unwrap()),
    );
    a.fields
        .insert(AccountField::Fairshare, Value::Shares(Shares::Value(5)));
    d.add_account(a);
    let mut ann = member("a_one", "ann");
    ann.default_account = Some("root".into());
    ann.max_tres_mins = Some(crate::tres::parse("cpu=100").unwrap());
    let mut bob = member("a_one", "bob");
    bob.key.partition = "gpu".into();
    bob.default_account = Some("a_one".into());
    bob.qos_grant = Some(QosGrant {
        levels: BTreeSet::from(["normal".to_string()]),
        default: Some("normal".into()),
    });
    for m in [ann, bob] {
        d.associations.insert(m.key.clone(), m);
    }
    (d, testkit::cluster("c1", &["cpu"], &["normal"]))
}

fn planned(d: &Desired, o: &Observed) -> Plan {
    plan(d, o, &testkit::context("c1"))
}

fn render_plan(p: &Plan) -> Option<LoadFile> {
    let changes: Vec<&Change> = p.changes.iter().collect();
    render(&p.cluster, &changes)
}

#[test]
fn a_small_tree_renders_as_sacctmgr_dump_lines() {
    let (d, o) = world();
    let file = render_plan(&planned(&d, &o)).expect("a file");
    insta::assert_snapshot!(file.text());
    assert_eq!(file.lines.len(), file.text().lines().count());
}

#[test]
fn the_file_carries_every_creation_of_a_fresh_tree() {
    let (d, o) = world();
    let p = planned(&d, &o);
    let file = render_plan(&p).unwrap();
    let creations: Vec<Address> = p
        .changes
        .iter()
        .filter(|c| c.action == Action::Create)
        .map(|c| c.address.clone())
        .collect();
    let carried: BTreeSet<_> = file.carried.iter().collect();
    assert_eq!(carried, creations.iter().collect());
}

#[test]
fn only_creations_go_in_the_file() {
    let (d, o) = world();
    let synced = crate::simulate::apply(&o, &planned(&d, &o));
    let mut drifted = synced.clone();
    drifted.accounts.get_mut("a_one").unwrap().fairshare = Shares::Value(9);
    drifted.associations.retain(|k, _| k.user != "bob");
    let p = planned(&d, &drifted);
    assert!(p.changes.iter().any(|c| c.action == Action::Update));
    let file = render_plan(&p).unwrap();
    assert_eq!(file.carried.len(), 1, "{:?}", file.carried);
    assert!(file.text().contains("User - 'bob'"));
    assert!(!file.text().contains("Account - "), "{}", file.text());
    // bob is no longer new: his default account is his to keep.
    assert!(!file.text().contains("DefaultAccount"), "{}", file.text());
}

#[test]
fn a_value_the_file_cannot_carry_leaves_the_account_and_what_needs_it_out() {
    let (mut d, o) = world();
    d.accounts
        .get_mut("p_one")
        .unwrap()
        .fields
        .insert(AccountField::Description, Value::Text("it's: #1".into()));
    let p = planned(&d, &o);
    let file = render_plan(&p).unwrap();
    let carried: Vec<String> = file.carried.iter().map(|a| a.to_string()).collect();
    assert_eq!(carried, ["account/c_one"], "{}", file.text());
    assert!(!file.text().contains("p_one"));
}

#[test]
fn a_new_users_lines_stay_together() {
    let (mut d, o) = world();
    // ann's first association (the one that makes her, with her default account) is in
    // an account the file cannot carry: her other line would make her on its own, with
    // another default, so it stays out too.
    d.add_account(account("a_0", Tier::Allocation, "p_one", "bad:desc"));
    let mut m = member("a_0", "ann");
    m.default_account = Some("root".into());
    d.associations.insert(m.key.clone(), m);
    let p = planned(&d, &o);
    let first = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "association/a_0/ann")
        .unwrap();
    assert!(matches!(&first.effect, Effect::AssocCreate(_, _, Some(_))));
    let file = render_plan(&p).unwrap();
    assert!(!file.text().contains("'ann'"), "{}", file.text());
    assert!(file.text().contains("'bob'"), "{}", file.text());
}

#[test]
fn unsafe_fields_are_refused() {
    for bad in [
        "a'b",
        "a\"b",
        "a:b",
        "a#b",
        "a\nb",
        "a\u{202E}b",
        "",
        "a\\b",
    ] {
        assert!(!field_safe(bad), "{bad:?}");
    }
    for good in [
        "root",
        "big name, x=y (z)",
        "cpu=10,mem=600G",
        "gres/gpu=1",
        "é",
    ] {
        assert!(field_safe(good), "{good:?}");
    }
    let (d, o) = world();
    let p = planned(&d, &o);
    let changes: Vec<&Change> = p.changes.iter().collect();
    assert_eq!(render("bad'cluster", &changes), None);
}

#[test]
fn nothing_to_carry_is_no_file() {
    let (d, o) = world();
    let synced = crate::simulate::apply(&o, &planned(&d, &o));
    assert_eq!(render_plan(&planned(&d, &synced)), None);
}

#[test]
fn chunks_stand_alone_and_together_hold_every_object_line_once() {
    let (d, o) = world();
    let file = render_plan(&planned(&d, &o)).unwrap();
    let objects = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("Parent - ") && !l.starts_with("Cluster - "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for max in 1..=6 {
        let chunks = file.chunks(max);
        let mut all = Vec::new();
        for c in &chunks {
            let mut lines = c.lines();
            assert_eq!(lines.next(), Some("Cluster - 'c1'"));
            assert!(lines.next().unwrap().starts_with("Parent - "), "{c}");
            let own = objects(c);
            assert!(!own.is_empty() && own.len() <= max, "{c}");
            all.extend(own);
        }
        assert_eq!(all, objects(&file.text()), "max {max}");
    }
    // Each chunk's lines sit under the same parent as in the whole file.
    let chunks = file.chunks(1);
    assert_eq!(chunks[4], "Cluster - 'c1'\nParent - 'a_one'\nUser - 'ann':DefaultAccount='root':Fairshare=parent:MaxTRESMins=cpu=100\n");
}

#[test]
fn each_subtree_is_complete_before_the_next_one_starts() {
    let (mut d, o) = world();
    d.add_account(account("p_two", Tier::Project, "c_one", "project two"));
    d.add_account(account(
        "a_two",
        Tier::Allocation,
        "p_two",
        "allocation two",
    ));
    let m = member("a_two", "bob");
    d.associations.insert(m.key.clone(), m);
    let text = render_plan(&planned(&d, &o)).unwrap().text();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {text}"))
    };
    // c_one's accounts, then p_one's subtree with a_one's users, then p_two's.
    assert!(at("Account - 'p_two'") < at("Parent - 'p_one'"), "{text}");
    assert!(
        at("User - 'bob':DefaultAccount='a_one'") < at("Parent - 'p_two'"),
        "{text}"
    );
    assert!(at("Parent - 'p_two'") < at("Account - 'a_two'"), "{text}");
}
