//! The agent's own account of a run, from the JSON document it writes with
//! `--stats-file` (README, "CLI"): per cluster group for plan and reconcile, one
//! document for report.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Waldur requests and SLURM processes by program, summed over the run's cluster groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub waldur_requests: u64,
    pub processes: BTreeMap<String, u64>,
}

impl Counts {
    pub fn procs(&self, program: &str) -> u64 {
        self.processes.get(program).copied().unwrap_or(0)
    }
}

/// One run's stats document.
#[derive(Debug, Clone)]
pub struct Stats(Value);

impl Stats {
    /// `None` when the agent wrote nothing there (it failed before the end).
    pub fn read(path: &Path) -> Option<Stats> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok().map(Stats)
    }

    /// The parts that carry counts: every group of plan and reconcile, or the whole
    /// document of report.
    fn parts(&self) -> Vec<&Value> {
        match self.0["groups"].as_array() {
            Some(groups) => groups.iter().collect(),
            None => vec![&self.0],
        }
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for part in self.parts() {
            counts.waldur_requests += part["waldur_requests"].as_u64().unwrap_or(0);
            for (program, n) in part["processes"].as_object().into_iter().flatten() {
                *counts.processes.entry(program.clone()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
        counts
    }

    /// A top-level number of report's document (`periods`, `submissions`, `errors`).
    pub fn number(&self, key: &str) -> Option<u64> {
        self.0[key].as_u64()
    }

    /// Changes applied over every group.
    pub fn applied(&self) -> u64 {
        self.parts()
            .iter()
            .filter_map(|g| g["outcome"]["applied"].as_u64())
            .sum()
    }

    /// The apply phase, seconds, over the groups that applied anything; `None` if none did.
    pub fn apply_seconds(&self) -> Option<f64> {
        let applied: Vec<f64> = self
            .parts()
            .iter()
            .filter(|g| !g["outcome"].is_null())
            .filter_map(|g| g["seconds"]["apply"].as_f64())
            .collect();
        (!applied.is_empty()).then(|| applied.iter().sum())
    }

    /// Nothing was planned and nothing is left, in every group.
    pub fn unchanged(&self) -> bool {
        self.parts().iter().all(|g| {
            let planned = &g["planned"];
            ["create", "update", "delete", "waldur_calls"]
                .iter()
                .all(|k| planned[*k].as_u64() == Some(0))
                && g["left"].as_u64() == Some(0)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts_and_outcomes_over_groups() {
        let group = |applied: Option<u64>, apply: f64| {
            json!({"cluster": "c", "planned": {"create": 1, "update": 0, "delete": 0, "waldur_calls": 1},
                   "outcome": applied.map(|a| json!({"applied": a})), "left": 0,
                   "waldur_requests": 3, "processes": {"sacctmgr": 5, "scancel": 1},
                   "seconds": {"plan": 0.1, "apply": apply, "verify": 0.2}})
        };
        let s = Stats(json!({"refused": null, "groups": [group(Some(2), 1.5), group(None, 0.0)]}));
        let c = s.counts();
        assert_eq!(c.waldur_requests, 6);
        assert_eq!(c.procs("sacctmgr"), 10);
        assert_eq!(c.procs("scancel"), 2);
        assert_eq!(c.procs("sacct"), 0);
        assert_eq!(s.applied(), 2);
        assert_eq!(s.apply_seconds(), Some(1.5));
        assert!(!s.unchanged());
        let quiet = json!({"planned": {"create": 0, "update": 0, "delete": 0, "waldur_calls": 0},
                           "outcome": null, "left": 0, "waldur_requests": 1, "processes": {}});
        let s = Stats(json!({"groups": [quiet]}));
        assert!(s.unchanged());
        assert_eq!(s.apply_seconds(), None);
    }

    #[test]
    fn report_document() {
        let s = Stats(json!({"periods": 2, "submissions": 7, "errors": 0,
                             "waldur_requests": 40, "processes": {"sacct": 2}}));
        assert_eq!(s.number("submissions"), Some(7));
        assert_eq!(s.counts().procs("sacct"), 2);
        assert_eq!(s.counts().waldur_requests, 40);
    }
}
