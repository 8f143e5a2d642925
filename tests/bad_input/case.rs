//! A case: what it breaks, what must come out, and how it is run and checked.

use std::collections::BTreeSet;

use crate::cases_sacct;
use crate::checks;
use crate::fixture::{Fixture, Run};

/// What a case must end in.
pub enum Expect {
    /// Every command exits 1 and the error names all of these.
    Refused(Vec<String>),
    /// The plan is made (exit 0); its diagnostics or the warnings name all of these.
    Skipped(Vec<String>),
    /// Not an error after all (normalised or escaped): the plan is made, with no error
    /// diagnostic.
    Accepted,
}

/// Which commands the case goes through.
pub enum Runs {
    /// plan, plan --json, reconcile --dry-run, diagnose, on the snapshot.
    Snapshot,
    /// report --dry-run against the fake Waldur, with a recorded sacct.
    Report,
}

type Edit = Box<dyn Fn(&Fixture) + Send + Sync>;

pub struct Case {
    pub class: &'static str,
    pub name: String,
    edit: Edit,
    expect: Expect,
    runs: Runs,
    /// Address prefixes the plan may have beyond the demo's (what the input asks for).
    allow: Vec<String>,
    /// Address prefixes the plan must not have (an order completed on bad grounds).
    forbid: Vec<String>,
    /// The account `diagnose` is asked about.
    diagnose: String,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Case {
    pub fn new(
        class: &'static str,
        name: impl Into<String>,
        edit: impl Fn(&Fixture) + Send + Sync + 'static,
    ) -> Case {
        Case {
            class,
            name: name.into(),
            edit: Box::new(edit),
            expect: Expect::Accepted,
            runs: Runs::Snapshot,
            allow: Vec::new(),
            forbid: Vec::new(),
            diagnose: "a_lattice-qcd".into(),
        }
    }

    pub fn refused(mut self, needles: &[&str]) -> Case {
        self.expect = Expect::Refused(strings(needles));
        self
    }

    pub fn skipped(mut self, needles: &[&str]) -> Case {
        self.expect = Expect::Skipped(strings(needles));
        self
    }

    pub fn accepted(mut self) -> Case {
        self.expect = Expect::Accepted;
        self
    }

    pub fn report(mut self) -> Case {
        self.runs = Runs::Report;
        self
    }

    pub fn allow(mut self, prefixes: &[&str]) -> Case {
        self.allow.extend(strings(prefixes));
        self
    }

    pub fn forbid(mut self, prefixes: &[&str]) -> Case {
        self.forbid.extend(strings(prefixes));
        self
    }

    pub fn diagnose(mut self, account: &str) -> Case {
        self.diagnose = account.into();
        self
    }

    /// Runs the case; returns what went wrong (empty: it passed).
    pub fn run(&self, baseline: &BTreeSet<String>, sacct: &cases_sacct::Env) -> Vec<String> {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match self.runs {
            Runs::Snapshot => self.run_snapshot(baseline),
            Runs::Report => sacct.run(&self.edit, &self.expect),
        }));
        result.unwrap_or_else(|e| {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            vec![format!("the case itself failed: {why}")]
        })
    }

    fn run_snapshot(&self, baseline: &BTreeSet<String>) -> Vec<String> {
        let f = Fixture::new();
        (self.edit)(&f);
        let text = f.on_snapshot(&["plan"], &[]);
        let json = f.on_snapshot(&["plan", "--json"], &[]);
        let script = f.on_snapshot(&["reconcile", "--dry-run"], &[]);
        let diagnose = f.on_snapshot(&["diagnose", &self.diagnose], &[]);
        let runs = [&text, &json, &script, &diagnose];
        let mut problems = Vec::new();
        for r in runs {
            checks::output(r, &mut problems);
        }
        let plans = match checks::plans(&json.stdout) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{e}\n{}", json.all()));
                return problems;
            }
        };
        checks::plan(&plans, baseline, &self.allow, &self.forbid, &mut problems);
        checks::script(
            &script.stdout,
            &checks::script_commands(&plans),
            &mut problems,
        );
        expectation(&self.expect, &runs, &plans, &mut problems);
        problems
    }
}

/// Exit codes and messages against what the case expects.
pub fn expectation(
    expect: &Expect,
    runs: &[&Run],
    plans: &[serde_json::Value],
    problems: &mut Vec<String>,
) {
    let diagnostics: Vec<(String, String)> = plans
        .iter()
        .flat_map(|p| p["diagnostics"].as_array().cloned().unwrap_or_default())
        .map(|d| {
            (
                d["severity"].as_str().unwrap_or("").to_string(),
                d["text"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let said: String = diagnostics
        .iter()
        .map(|(_, t)| t.as_str())
        .chain(runs.iter().map(|r| r.stderr.as_str()))
        .collect::<Vec<_>>()
        .join("\n");
    let want_code = match expect {
        Expect::Refused(_) => 1,
        _ => 0,
    };
    for r in runs {
        // diagnose: 2 when the account differs (the demo has drift), 1 when it names no
        // account SLURM or Waldur has.
        let diagnose_ok = r.what.starts_with("agent diagnose")
            && want_code == 0
            && (r.code == Some(2) || (r.code == Some(1) && r.stdout.contains(": UNKNOWN")));
        if r.code != Some(want_code) && !diagnose_ok {
            problems.push(format!(
                "{}: exit {:?}, expected {want_code}\n{}",
                r.what,
                r.code,
                r.all()
            ));
        }
    }
    let needles = match expect {
        Expect::Refused(n) => {
            if !checks::script_commands(plans).is_empty() {
                problems.push("refused, yet commands were planned".into());
            }
            n.clone()
        }
        Expect::Skipped(n) => n.clone(),
        Expect::Accepted => {
            for (severity, text) in &diagnostics {
                if severity == "error" {
                    problems.push(format!("accepted input gave the error {text:?}"));
                }
            }
            Vec::new()
        }
    };
    for n in needles {
        if !said.contains(&n) {
            problems.push(format!("no message says {n:?}; said:\n{said}"));
        }
    }
}

/// The addresses the unedited demo plans.
pub fn baseline() -> BTreeSet<String> {
    let f = Fixture::new();
    let json = f.on_snapshot(&["plan", "--json"], &[]);
    assert_eq!(json.code, Some(0), "{}", json.all());
    let plans = checks::plans(&json.stdout).unwrap();
    checks::changes(&plans)
        .iter()
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect()
}
