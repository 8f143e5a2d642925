//! One result row: a scenario's runs, its floor, the agent's counts, and its JSON.

use serde_json::{json, Value};

use crate::measure::median;
use crate::site::AgentRun;
use crate::stats::{Counts, Stats};

/// One line of the table.
#[derive(Default, Clone)]
pub struct Row {
    pub id: String,
    /// Allocations of the site (0 for in-memory scenarios).
    pub n: usize,
    pub scenario: String,
    /// Wall time of every run, seconds.
    pub walls: Vec<f64>,
    /// Floor of every run, seconds (median is shown).
    pub floors: Vec<f64>,
    pub floor_what: String,
    pub counts: Option<Counts>,
    pub counts_vary: bool,
    pub fake_requests: Option<u64>,
    pub rss_kb: Option<u64>,
    pub note: String,
    /// stdout and stderr of the last agent run.
    pub last_output: Option<(String, String)>,
    /// Extra figures for the JSON file.
    pub extra: Value,
}

impl Row {
    pub fn new(id: &str, scenario: &str) -> Row {
        Row {
            id: id.into(),
            scenario: scenario.into(),
            ..Row::default()
        }
    }

    pub fn wall(&self) -> f64 {
        median(&self.walls)
    }

    pub fn floor(&self) -> Option<f64> {
        (!self.floors.is_empty()).then(|| median(&self.floors))
    }

    pub fn ratio(&self) -> Option<f64> {
        self.floor().map(|f| self.wall() / f)
    }

    pub fn sacctmgr(&self) -> Option<u64> {
        self.counts.as_ref().map(|c| c.procs("sacctmgr"))
    }

    pub fn add(&mut self, run: &AgentRun) {
        self.walls.push(run.m.wall.as_secs_f64());
        match (&self.counts, run.stats.as_ref().map(Stats::counts)) {
            (None, c) => self.counts = c,
            (Some(a), Some(b)) if *a != b => self.counts_vary = true,
            _ => {}
        }
        self.fake_requests = Some(run.fake_requests);
        self.rss_kb = self.rss_kb.max(Some(run.m.rss_kb));
        self.last_output = Some((run.m.stdout.clone(), run.m.stderr.clone()));
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "allocations": self.n,
            "scenario": self.scenario,
            "wall_s": self.wall(),
            "runs_s": self.walls,
            "floor_s": self.floor(),
            "floor_runs_s": self.floors,
            "floor": self.floor_what,
            "ratio": self.ratio(),
            "processes": self.counts.as_ref().map(|c| &c.processes),
            "counts_vary_between_runs": self.counts_vary,
            "waldur_requests_agent": self.counts.as_ref().map(|c| c.waldur_requests),
            "waldur_requests_fake": self.fake_requests,
            "peak_rss_kb": self.rss_kb,
            "note": self.note,
            "extra": self.extra,
        })
    }
}
