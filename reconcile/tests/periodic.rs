//! The periodic pass: the idempotence table of the spec (§4.6) as planner cases, partial
//! limit updates, RawUsage resets once per (account, period), and the result report.

use std::collections::BTreeMap;

use agent_reconcile::periodic::{PeriodicSpec, ResetRequest};
use agent_reconcile::plan::{Command, Severity};
use agent_reconcile::state::*;
use agent_reconcile::testkit::{self, account, periodic};
use agent_reconcile::tres;
use agent_reconcile::{plan, simulate, Desired, Observed, Plan};

const ACCOUNT: &str = "test-project-123";

fn world(spec: PeriodicSpec, fairshare: Shares, current: &str) -> (Desired, Observed) {
    let mut d = Desired::default();
    d.anchors.insert("root".into());
    let a = account(ACCOUNT, Tier::Allocation, "root", ACCOUNT);
    let mut o = testkit::cluster("c1", &["cpu", "mem", "billing", "node"], &[]);
    let mut v = testkit::written(&a);
    v.fairshare = fairshare;
    v.grp_tres_mins = tres::parse(current).unwrap();
    o.accounts.insert(ACCOUNT.into(), v);
    o.raw_usage_resets = Some(BTreeMap::new());
    d.add_account(a);
    d.periodic.insert(ACCOUNT.into(), spec);
    (d, o)
}

fn grp(fairshare: Option<u32>, limits: &[(&str, u64)]) -> PeriodicSpec {
    periodic(ACCOUNT, AccountField::GrpTresMins, fairshare, limits)
}

fn reset(period: &str, needs_earlier_reset: bool) -> Option<ResetRequest> {
    Some(ResetRequest {
        period: period.into(),
        needs_earlier_reset,
        why: "test".into(),
    })
}

fn run(d: &Desired, o: &Observed) -> Plan {
    plan(d, o, &testkit::context("c1"))
}

/// The `set` part of every SLURM command, in plan order.
fn writes(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .flat_map(|c| &c.commands)
        .filter_map(|c| match c {
            Command::Slurm { argv, .. } => Some(argv.last().unwrap().clone()),
            _ => None,
        })
        .collect()
}

fn settles(d: &Desired, o: &Observed) {
    let after = simulate::apply(o, &run(d, o));
    let again = run(d, &after);
    assert!(
        again.is_empty(),
        "{}",
        agent_reconcile::render::text(&again)
    );
}

#[test]
fn equal_values_write_nothing() {
    let (d, o) = world(
        grp(Some(666), &[("billing", 119400)]),
        Shares::Value(666),
        "billing=119400",
    );
    let p = run(&d, &o);
    assert!(p.is_empty(), "{}", agent_reconcile::render::text(&p));
}

#[test]
fn only_the_fairshare_that_differs() {
    let (d, o) = world(
        grp(Some(666), &[("billing", 119400)]),
        Shares::Value(500),
        "billing=119400",
    );
    let p = run(&d, &o);
    assert_eq!(writes(&p), ["fairshare=666"]);
    settles(&d, &o);
}

#[test]
fn only_the_tres_that_differs_the_others_left_alone() {
    let (d, o) = world(
        grp(Some(666), &[("billing", 120000), ("cpu", 1000)]),
        Shares::Value(666),
        "billing=119400,cpu=1000,mem=5000",
    );
    let p = run(&d, &o);
    assert_eq!(writes(&p), ["GrpTRESMins=billing=120000"]);
    let after = simulate::apply(&o, &p);
    assert_eq!(
        tres::render(&after.accounts[ACCOUNT].grp_tres_mins),
        "billing=120000,cpu=1000,mem=5000",
        "mem is not named: left alone"
    );
    settles(&d, &o);
}

#[test]
fn no_number_shown_for_fairshare_or_no_limits_means_write() {
    // The Python agent's "read failed / returned null" rows: here a failed read plans
    // nothing at all (the cycle stops); what SLURM shows without a value is written over.
    let (d, o) = world(grp(Some(666), &[("billing", 119400)]), Shares::Parent, "");
    assert_eq!(
        writes(&run(&d, &o)),
        ["fairshare=666", "GrpTRESMins=billing=119400"]
    );
    settles(&d, &o);
}

#[test]
fn a_reset_is_planned_once_per_period() {
    let mut spec = grp(Some(666), &[("billing", 119400)]);
    spec.reset = reset("2026-Q2", false);
    let (d, mut o) = world(spec, Shares::Value(666), "billing=119400");
    let p = run(&d, &o);
    assert_eq!(writes(&p), ["RawUsage=0"]);
    assert_eq!(
        p.changes[0].address.to_string(),
        "raw_usage/test-project-123/2026-Q2"
    );
    settles(&d, &o);
    // Done for this period: nothing; done for an earlier one: again.
    o.raw_usage_resets = Some(BTreeMap::from([(ACCOUNT.into(), "2026-Q2".into())]));
    assert!(run(&d, &o).is_empty());
    o.raw_usage_resets = Some(BTreeMap::from([(ACCOUNT.into(), "2026-Q1".into())]));
    assert_eq!(writes(&run(&d, &o)), ["RawUsage=0"]);
    // The record cannot be read: no reset, and an error says why.
    o.raw_usage_resets = None;
    let p = run(&d, &o);
    assert!(writes(&p).is_empty());
    assert!(p
        .diagnostics
        .iter()
        .any(|x| x.code == "raw_usage_reset_held" && x.severity == Severity::Error));
}

#[test]
fn a_computed_reset_needs_an_earlier_one() {
    let mut spec = grp(Some(666), &[]);
    spec.reset = reset("2026-Q2", true);
    let (d, mut o) = world(spec, Shares::Value(666), "");
    let p = run(&d, &o);
    assert!(p.is_empty());
    assert!(p
        .diagnostics
        .iter()
        .any(|x| x.code == "raw_usage_reset_not_due"));
    o.raw_usage_resets = Some(BTreeMap::from([(ACCOUNT.into(), "2026-Q1".into())]));
    assert_eq!(writes(&run(&d, &o)), ["RawUsage=0"]);
}

#[test]
fn empty_settings_plan_nothing_and_report_nothing() {
    let (d, o) = world(grp(None, &[]), Shares::Value(1), "cpu=5");
    assert!(run(&d, &o).is_empty());
}

#[test]
fn one_command_per_tres() {
    let (d, o) = world(
        grp(None, &[("billing", 72000), ("node", 1200)]),
        Shares::Value(1),
        "",
    );
    assert_eq!(
        writes(&run(&d, &o)),
        ["GrpTRESMins=billing=72000", "GrpTRESMins=node=1200"]
    );
}

#[test]
fn max_tres_mins_and_grp_tres_policies() {
    for (field, expected) in [
        (AccountField::MaxTresMins, "MaxTRESMins=billing=60000"),
        (AccountField::GrpTres, "GrpTRES=billing=60000"),
    ] {
        let spec = periodic(ACCOUNT, field, None, &[("billing", 60000)]);
        let (d, o) = world(spec, Shares::Value(1), "billing=60000");
        assert_eq!(writes(&run(&d, &o)), [expected]);
        settles(&d, &o);
    }
}

#[test]
fn the_report_follows_the_changes_and_lists_their_commands() {
    let mut spec = grp(Some(666), &[("billing", 72000)]);
    spec.reset = reset("2026-04", false);
    let (d, o) = world(spec, Shares::Value(500), "");
    let p = run(&d, &o);
    let report = p.changes.last().unwrap();
    assert_eq!(
        report.address.to_string(),
        "waldur/periodic/6f1c0000000000000000000000000001/report-command-result"
    );
    assert!(report.reports_outcome);
    let deps: Vec<String> = report.depends_on.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        deps,
        [
            "periodic/test-project-123",
            "raw_usage/test-project-123/2026-04"
        ]
    );
    let Command::Waldur {
        path,
        body: Some(body),
        ..
    } = &report.commands[0]
    else {
        panic!("{report:?}")
    };
    assert_eq!(
        path,
        "/api/marketplace-slurm-periodic-usage-policies/91ab0000-0000-0000-0000-000000000001/report-command-result/"
    );
    assert_eq!(
        body["resource_uuid"],
        "6f1c0000-0000-0000-0000-000000000001"
    );
    assert_eq!(body["mode"], "production");
    assert_eq!(body["commands_executed"].as_array().unwrap().len(), 3);
    assert!(body["commands_executed"][0]
        .as_str()
        .unwrap()
        .ends_with("modify account where name=test-project-123 cluster=c1 set fairshare=666"));
}

#[test]
fn unknown_tres_are_left_out_and_a_new_account_gets_its_settings_after_creation() {
    let (d, mut o) = world(
        grp(Some(7), &[("billing", 10), ("gres/gpu", 5)]),
        Shares::Value(1),
        "",
    );
    o.accounts.remove(ACCOUNT);
    let p = run(&d, &o);
    let addresses: Vec<String> = p.changes.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(
        addresses[..2],
        ["account/test-project-123", "periodic/test-project-123"]
    );
    assert_eq!(
        p.changes[1].depends_on[0].to_string(),
        "account/test-project-123"
    );
    assert_eq!(writes(&p)[1..], ["fairshare=7", "GrpTRESMins=billing=10"]);
    assert!(p
        .diagnostics
        .iter()
        .any(|x| x.code == "unknown_tres" && x.text.contains("gres/gpu")));
    settles(&d, &o);
}

#[test]
fn emulator_mode_posts_the_changed_values() {
    let mut spec = grp(Some(666), &[("billing", 72000), ("cpu", 5)]);
    spec.emulator = Some("http://127.0.0.1:8080/".into());
    let (d, o) = world(spec, Shares::Value(500), "cpu=5");
    let p = run(&d, &o);
    let bodies: Vec<(String, serde_json::Value)> = p.changes[0]
        .commands
        .iter()
        .map(|c| match c {
            Command::Emulator { url, body } => (url.clone(), body.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        bodies[0].0,
        "http://127.0.0.1:8080/api/apply-periodic-settings"
    );
    assert_eq!(
        bodies[0].1,
        serde_json::json!({"fairshare": 666, "resource_id": ACCOUNT})
    );
    assert_eq!(
        bodies[1].1,
        serde_json::json!({"grp_tres_mins": {"billing": 72000}, "resource_id": ACCOUNT})
    );
    let script = agent_reconcile::render::shell_script(&p);
    assert!(script.contains("curl -fsS -X POST"), "{script}");
}

#[test]
fn a_blocked_account_gets_no_periodic_changes() {
    let (d, mut o) = world(grp(Some(666), &[]), Shares::Value(1), "");
    // SLURM has it outside the managed tree: not the agent's to write.
    o.accounts.get_mut(ACCOUNT).unwrap().parent = Some("elsewhere".into());
    o.accounts.get_mut(ACCOUNT).unwrap().organization = "elsewhere".into();
    let p = run(&d, &o);
    assert!(
        p.changes.is_empty(),
        "{}",
        agent_reconcile::render::text(&p)
    );
}
