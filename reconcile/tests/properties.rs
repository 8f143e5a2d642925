//! Properties of the planner: apply-then-plan is empty, and plans are deterministic.

use std::collections::{BTreeMap, BTreeSet};

use agent_reconcile::plan::Kind;
use agent_reconcile::state::*;
use agent_reconcile::testkit::{self, plain_association, reason, text_fields};
use agent_reconcile::tres::TresMap;
use agent_reconcile::{plan, simulate, Desired, Observed, PlanContext};
use proptest::prelude::*;

fn ctx() -> PlanContext {
    testkit::context("c1")
}

fn tres() -> impl Strategy<Value = TresMap> {
    proptest::collection::btree_map(
        prop_oneof![
            Just("cpu".to_string()),
            Just("mem".to_string()),
            Just("gres/gpu".to_string())
        ],
        0u64..1_000_000,
        0..3,
    )
}

fn fields(
    parent: &str,
    name: &str,
    limits: Option<TresMap>,
    qos: Option<&str>,
) -> BTreeMap<AccountField, Value> {
    let mut f = text_fields(parent, &format!("{name} desc"), parent);
    if let Some(l) = limits {
        f.insert(AccountField::GrpTresMins, Value::Tres(l));
    }
    if let Some(q) = qos {
        f.insert(
            AccountField::Qos,
            Value::List(BTreeSet::from([q.to_string()])),
        );
    }
    f
}

/// A random world: a desired tree of 1-2 customers, projects and allocations with users;
/// an observed state holding a random subset of it, drifted, plus strays.
fn world() -> impl Strategy<Value = (Desired, Observed)> {
    (
        proptest::collection::vec(
            (0usize..2, 0usize..3, tres(), 0usize..3, proptest::bool::ANY),
            1..6,
        ),
        proptest::collection::vec(proptest::bool::ANY, 40),
        proptest::collection::vec(tres(), 8),
        proptest::collection::vec(0usize..6, 0..4),
    )
        .prop_map(|(allocs, keep, drift, strays)| {
            let users = ["ann", "ben", "cat", "dan", "eve", "fay"];
            let qos = ["normal", "paused", "limited"];
            let mut d = Desired::default();
            d.anchors.insert("root".into());
            let mut o = testkit::cluster("c1", &["cpu", "mem", "gres/gpu"], &qos);
            for (i, (c, p, limits, q, terminated)) in allocs.into_iter().enumerate() {
                let cust = format!("c_{c}");
                let proj = format!("p_{c}_{p}");
                let alloc = format!("a_{i}");
                d.add_account(AccountSpec {
                    name: cust.clone(),
                    tier: Tier::Customer,
                    fields: fields("root", &cust, None, None),
                    fresh: false,
                    reason: reason(),
                });
                d.add_account(AccountSpec {
                    name: proj.clone(),
                    tier: Tier::Project,
                    fields: fields(&cust, &proj, None, None),
                    fresh: false,
                    reason: reason(),
                });
                if terminated {
                    d.tombstones.insert(
                        alloc.clone(),
                        Tombstone {
                            account: alloc.clone(),
                            tier: Tier::Allocation,
                            cascade_parent: Some(proj.clone()),
                            reason: reason(),
                        },
                    );
                    let mut v = AccountValues::new_default(&alloc, &proj);
                    v.grp_tres_mins = limits;
                    o.accounts.insert(alloc.clone(), v);
                    o.associations
                        .insert(AssocKey::new(&alloc, users[i % 6], ""), plain_association());
                    o.users.insert(users[i % 6].into(), alloc.clone());
                    continue;
                }
                d.add_account(AccountSpec {
                    name: alloc.clone(),
                    tier: Tier::Allocation,
                    fields: fields(&proj, &alloc, Some(limits.clone()), Some(qos[q])),
                    fresh: false,
                    reason: reason(),
                });
                for (j, u) in users.iter().enumerate().filter(|(j, _)| (i + j) % 2 == 0) {
                    let key = AssocKey::new(&alloc, u, "");
                    let limits = if j % 3 == 0 {
                        Some(drift[j].clone())
                    } else {
                        None
                    };
                    d.associations.insert(
                        key.clone(),
                        AssocSpec {
                            key,
                            default_account: Some("root".into()),
                            qos_grant: None,
                            max_tres_mins: limits,
                            reason: reason(),
                        },
                    );
                }
            }
            // Observed: keep a subset of the desired tree (parents before children), drifted.
            let mut k = keep.into_iter().cycle();
            for (name, spec) in &d.accounts {
                let parent = spec.parent().unwrap().to_string();
                if !k.next().unwrap() || !o.accounts.contains_key(&parent) {
                    continue;
                }
                let mut v = AccountValues::new_default(name, &parent);
                if k.next().unwrap() {
                    for (f, val) in &spec.fields {
                        v.set(*f, val);
                    }
                } else {
                    v.grp_tres_mins = drift[name.len() % 8].clone();
                }
                o.accounts.insert(name.clone(), v);
            }
            for (key, _) in d.associations.iter() {
                if o.accounts.contains_key(&key.account) && k.next().unwrap() {
                    o.associations.insert(
                        key.clone(),
                        ObservedAssoc {
                            max_tres_mins: drift[key.user.len()].clone(),
                            ..plain_association()
                        },
                    );
                    o.users
                        .entry(key.user.clone())
                        .or_insert_with(|| key.account.clone());
                }
            }
            for s in strays {
                if let Some(acct) = o
                    .accounts
                    .keys()
                    .filter(|a| a.starts_with("a_"))
                    .nth(s)
                    .cloned()
                {
                    o.associations.insert(
                        AssocKey::new(&acct, "zed", ""),
                        ObservedAssoc {
                            fairshare: Shares::Value(1),
                            ..plain_association()
                        },
                    );
                    o.users.insert("zed".into(), acct);
                }
            }
            (d, o)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Applying a plan to the observed model and planning again gives an empty plan.
    #[test]
    fn apply_then_plan_is_empty((desired, observed) in world()) {
        let first = plan(&desired, &observed, &ctx());
        let after = simulate::apply(&observed, &first);
        let second = plan(&desired, &after, &ctx());
        let left: Vec<_> = second.changes.iter().filter(|c| c.kind != Kind::Waldur).map(|c| c.address.clone()).collect();
        prop_assert!(left.is_empty(), "left after apply: {:?}\nfirst plan: {}", left, agent_reconcile::render::text(&first));
    }

    /// The same inputs give byte-identical plans.
    #[test]
    fn plans_are_deterministic((desired, observed) in world()) {
        let a = plan(&desired, &observed, &ctx()).to_json();
        let b = plan(&desired.clone(), &observed.clone(), &ctx()).to_json();
        prop_assert_eq!(a, b);
    }

    /// Deletions happen children first and creations parents first.
    #[test]
    fn dependencies_come_first((desired, observed) in world()) {
        let p = plan(&desired, &observed, &ctx());
        let position: BTreeMap<_, _> = p.changes.iter().enumerate().map(|(i, c)| (c.address.clone(), i)).collect();
        for (i, c) in p.changes.iter().enumerate() {
            for dep in &c.depends_on {
                prop_assert!(position[dep] < i, "{} runs before its dependency {}", c.address, dep);
            }
        }
    }
}

#[test]
fn converged_state_plans_nothing() {
    let mut d = Desired::default();
    d.anchors.insert("root".into());
    d.add_account(AccountSpec {
        name: "c_x".into(),
        tier: Tier::Customer,
        fields: fields("root", "c_x", None, None),
        fresh: false,
        reason: reason(),
    });
    let o = testkit::cluster("c1", &[], &[]);
    let first = plan(&d, &o, &ctx());
    assert_eq!(first.summary.create, 1);
    let after = simulate::apply(&o, &first);
    assert!(plan(&d, &after, &ctx()).is_empty());
}
