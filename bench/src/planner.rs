//! In-memory scenarios: the planner alone on a large site (run in a child process,
//! `bench --planner-only`, so its peak RSS is its own) and sacct parsing throughput.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use agent_observed::sacct::{parse_sacct, synthetic_sacct_rows};
use agent_reconcile::plan::Reason;
use agent_reconcile::state::{AccountField, AccountSpec, AssocKey, AssocSpec, Tier, Value};
use agent_reconcile::testkit::{self, plain_association, text_fields};
use agent_reconcile::tres::TresMap;
use agent_reconcile::{plan, Desired, Observed};
use anyhow::{ensure, Result};
use serde_json::json;

const CLUSTER: &str = "testcluster";

/// A converged site of `associations` user associations (`users` per allocation, ten
/// allocations per project, ten projects per customer) with 1% drift: one allocation in a
/// hundred has another GrpTRESMins, and one in a hundred has lost a user association.
/// Shaped like what the agent's builder and parser produce.
pub fn world(associations: usize, users: usize) -> (Desired, Observed) {
    let allocations = associations.div_ceil(users);
    let mut d = Desired::default();
    d.anchors.insert("root".into());
    let mut o: Observed = testkit::cluster(
        CLUSTER,
        &[
            "billing", "cpu", "energy", "fs/disk", "mem", "node", "pages", "vmem",
        ],
        &["normal"],
    );
    if let Some(root) = o.accounts.get_mut("root") {
        root.description = "default root account".into();
    }
    for i in 0..allocations {
        let (p, c) = (i / 10, i / 100);
        let (customer, project, alloc) = (
            format!("c_{c:04}"),
            format!("p_{p:05}"),
            format!("a_{i:06}"),
        );
        if i % 100 == 0 {
            d.add_account(AccountSpec {
                name: customer.clone(),
                tier: Tier::Customer,
                fields: text_fields("root", &format!("customer {c}"), &customer),
                fresh: false,
                reason: Reason::new(
                    "waldur_customer",
                    format!("customer c{c:04} of Waldur resource \"Alloc {i}\""),
                ),
            });
        }
        if i % 10 == 0 {
            d.add_account(AccountSpec {
                name: project.clone(),
                tier: Tier::Project,
                fields: text_fields(&customer, &format!("project {p}"), &project),
                fresh: false,
                reason: Reason::new(
                    "waldur_project",
                    format!("project p{p:05} of Waldur resource \"Alloc {i}\""),
                ),
            });
        }
        let mut fields = text_fields(&project, &format!("alloc {i}"), &project);
        let limits: TresMap = BTreeMap::from([("cpu".to_string(), 60_000 * (5 + i as u64 % 7))]);
        fields.insert(AccountField::GrpTresMins, Value::Tres(limits));
        fields.insert(
            AccountField::Qos,
            Value::List(BTreeSet::from(["normal".to_string()])),
        );
        let reason = Reason::new(
            "waldur_resource",
            format!(
                "allocation of Waldur resource \"Alloc {i}\" (e0000000{i:024x}) in project p{p:05}"
            ),
        );
        d.add_account(AccountSpec {
            name: alloc.clone(),
            tier: Tier::Allocation,
            fields,
            fresh: false,
            reason: reason.clone(),
        });
        for j in 0..users {
            let user = format!("u{:07}", p * users + j);
            let key = AssocKey::new(&alloc, &user, "");
            d.associations.insert(
                key.clone(),
                AssocSpec {
                    key: key.clone(),
                    default_account: Some(format!("a_{:06}", p * 10)),
                    qos_grant: None,
                    max_tres_mins: None,
                    reason: reason.clone(),
                },
            );
            if !(i % 100 == 50 && j == 0) {
                o.associations.insert(key, plain_association());
            }
            o.users
                .entry(user)
                .or_insert_with(|| format!("a_{:06}", p * 10));
        }
    }
    // Observed accounts: what SLURM holds after the agent wrote the desired values.
    for (name, spec) in &d.accounts {
        let mut v = testkit::written(spec);
        if spec.tier == Tier::Allocation && name.ends_with("00") {
            v.grp_tres_mins = BTreeMap::from([("cpu".to_string(), 1)]);
        }
        o.accounts.insert(name.clone(), v);
    }
    (d, o)
}

/// `bench --planner-only`: builds the world, plans it `runs` times, prints one JSON line.
pub fn planner_child(associations: usize, users: usize, runs: usize) -> Result<()> {
    let started = Instant::now();
    let (desired, observed) = world(associations, users);
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let ctx = testkit::context(CLUSTER);
    let mut times = Vec::new();
    let mut changes = 0;
    let mut diagnostics = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let p = plan(&desired, &observed, &ctx);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        changes = p.changes.len();
        diagnostics = p.diagnostics.len();
        drop(p);
    }
    let expected = 2 * associations.div_ceil(users).div_ceil(100);
    ensure!(
        changes == expected,
        "the planner found {changes} changes, expected {expected} (1% drift): the synthetic world is not converged"
    );
    println!(
        "{}",
        json!({
            "associations": desired.associations.len(),
            "accounts": desired.accounts.len(),
            "build_ms": build_ms,
            "plan_ms": times,
            "changes": changes,
            "diagnostics": diagnostics,
            "rss_kb": crate::measure::vm_hwm_kb("self"),
        })
    );
    Ok(())
}

/// Times `parse_sacct` on `rows` synthetic sacct rows; returns the seconds of each run
/// and the size of the text in bytes.
pub fn parse_throughput(
    rows: usize,
    accounts: &[String],
    users: &[String],
    runs: usize,
) -> Result<(Vec<f64>, usize)> {
    let text = synthetic_sacct_rows(rows, accounts, users);
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let report = parse_sacct("bench", &text)?;
        times.push(t.elapsed().as_secs_f64());
        ensure!(
            report.accounts.len() == accounts.len().min(rows),
            "parse_sacct saw {} accounts, expected {}",
            report.accounts.len(),
            accounts.len().min(rows)
        );
    }
    Ok((times, text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_small_world_plans_exactly_its_drift() {
        let (d, o) = world(2_000, 10);
        let p = plan(&d, &o, &testkit::context(CLUSTER));
        // 200 allocations: two drifted limits, two missing associations.
        assert_eq!(p.changes.len(), 4, "{}", p.to_json());
    }
}
