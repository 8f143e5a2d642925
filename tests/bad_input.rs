//! The bad-input suite: well over a hundred wrong inputs (config, sacctmgr rows, sacct
//! rows, Waldur JSON, names, identifiers, limits), each run through the CLI on a
//! hand-made snapshot under a temp dir: `plan`, `plan --json`, `reconcile --dry-run` and
//! `diagnose` (sacct rows: `report --dry-run` against the fake Waldur).
//!
//! Every case must end in a clear error naming where the input came from (exit 1), or in
//! the resource being skipped with a diagnostic naming it; whatever it is, the plan may
//! not do anything the demo's plan does not do beyond what the case allows (no new
//! deletion, no account outside the tree, no `-1` or huge limit), no output may carry a
//! raw control character or the token, the dry-run script may hold no line the agent did
//! not generate from its plan, and nothing panics. The tally is printed at the end.
//!
//! The cases are tables, one file per class (`bad_input/cases_*.rs`).

#[path = "bad_input/case.rs"]
mod case;
#[path = "bad_input/cases_config.rs"]
mod cases_config;
#[path = "bad_input/cases_ids.rs"]
mod cases_ids;
#[path = "bad_input/cases_names.rs"]
mod cases_names;
#[path = "bad_input/cases_periodic.rs"]
mod cases_periodic;
#[path = "bad_input/cases_sacct.rs"]
mod cases_sacct;
#[path = "bad_input/cases_slurm.rs"]
mod cases_slurm;
#[path = "bad_input/cases_storage.rs"]
mod cases_storage;
#[path = "bad_input/cases_waldur.rs"]
mod cases_waldur;
#[path = "bad_input/checks.rs"]
mod checks;
#[path = "bad_input/fixture.rs"]
mod fixture;
#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use case::Case;

#[test]
fn bad_input_suite() {
    let started = std::time::Instant::now();
    let mut cases: Vec<Case> = Vec::new();
    cases.extend(cases_config::cases());
    cases.extend(cases_slurm::cases());
    cases.extend(cases_waldur::cases());
    cases.extend(cases_ids::cases());
    cases.extend(cases_names::cases());
    cases.extend(cases_sacct::cases());
    cases.extend(cases_periodic::cases());
    cases.extend(cases_storage::cases());
    let only = std::env::var("BAD_INPUT_CASE").ok();
    let baseline = case::baseline();
    let sacct = cases_sacct::Env::new();

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Vec<String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = cases.get(i) else { break };
                if only.as_deref().is_some_and(|o| !c.name.contains(o)) {
                    continue;
                }
                let problems = c.run(&baseline, &sacct);
                results.lock().unwrap().push((i, problems));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let mut by_class: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, problems) in &results {
        let c = &cases[*i];
        let entry = by_class.entry(c.class).or_default();
        entry.0 += 1;
        if !problems.is_empty() {
            entry.1 += 1;
            failures.push(format!(
                "[{}] {}:\n  - {}",
                c.class,
                c.name,
                problems.join("\n  - ")
            ));
        }
    }
    // Straight to the process's stderr: the tally shows in CI logs even when the test
    // passes (cargo captures what eprintln! prints).
    let mut tally = String::new();
    for f in &failures {
        tally.push_str(&format!("FAILED {f}\n\n"));
    }
    tally.push_str(&format!(
        "bad-input suite: {} case(s) in {:.1?}\n",
        results.len(),
        started.elapsed()
    ));
    for (class, (n, failed)) in &by_class {
        tally.push_str(&format!(
            "  {class:<10} {n:>4} case(s), {failed} failure(s)\n"
        ));
    }
    tally.push_str(&format!("  failures: {}\n", failures.len()));
    let _ = std::io::stderr().write_all(tally.as_bytes());
    assert!(
        only.is_some() || results.len() >= 80,
        "at least 80 cases, {} run",
        results.len()
    );
    assert!(failures.is_empty(), "{} case(s) failed", failures.len());
}
