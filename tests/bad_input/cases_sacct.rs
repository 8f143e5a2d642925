//! sacct rows: `report --dry-run` against the fake Waldur, with a sacct that prints the
//! case's rows for any window. A malformed row fails the report naming its line; odd but
//! readable rows are counted or skipped; nothing is sent.

use std::path::Path;

use fake_waldur::{RunningFake, Seed};
use serde_json::json;

use crate::case::{expectation, Case, Expect};
use crate::checks;
use crate::fixture::{Fixture, TOKEN};
use crate::support::OfferingConfig;

const OFFERING: &str = "f0000000000000000000000000000051";

/// The fake Waldur the report cases share (they only read from it).
pub struct Env {
    _rt: tokio::runtime::Runtime,
    fake: RunningFake,
}

fn seed() -> Seed {
    serde_json::from_value(json!({
        "users": [{"uuid": "a0000000000000000000000000000099", "username": "agent", "is_staff": true, "token": TOKEN},
                  {"uuid": "a0000000000000000000000000000001", "username": "alice"}],
        "customers": [{"uuid": "c0000000000000000000000000000001", "name": "Physics", "slug": "phys"}],
        "projects": [{"uuid": "b0000000000000000000000000000001", "name": "Quarks", "slug": "quarks",
                      "customer": "c0000000000000000000000000000001",
                      "members": [{"user": "a0000000000000000000000000000001", "role": "PROJECT.MEMBER"}]}],
        "offerings": [{"uuid": OFFERING, "name": "Cluster", "customer": "c0000000000000000000000000000001",
                       "components": [{"type": "cpu", "measured_unit": "k-Hours", "billing_type": "usage"},
                                      {"type": "mem", "measured_unit": "GB-Hours", "billing_type": "usage"}]}],
        "offering_users": [{"offering": OFFERING, "user": "a0000000000000000000000000000001", "username": "alice"}],
        "resources": [{"uuid": "e0000000000000000000000000000051", "name": "Alloc", "slug": "alloc",
                       "offering": OFFERING, "project": "b0000000000000000000000000000001",
                       "backend_id": "a_alloc", "limits": {"cpu": 5}}]
    }))
    .expect("seed parses")
}

impl Env {
    pub fn new() -> Env {
        let (rt, fake) = crate::support::spawn_fake(seed());
        Env { _rt: rt, fake }
    }

    fn config(&self, bin: &Path) -> String {
        OfferingConfig {
            url: &self.fake.base_url,
            token_line: format!("waldur_api_token: {TOKEN}"),
            offering: OFFERING,
            settings: &[
                "cluster_name: testcluster".into(),
                format!("slurm_bin_path: \"{}\"", bin.display()),
            ],
            components: &[
                "cpu: {measured_unit: k-Hours, unit_factor: 60, accounting_type: usage, label: CPU}",
                "mem: {measured_unit: GB-Hours, unit_factor: 61440, accounting_type: usage, label: RAM}",
            ],
            agent: &["http_attempts: 1".into()],
        }
        .yaml()
    }

    pub fn run(&self, edit: &(dyn Fn(&Fixture) + Send + Sync), expect: &Expect) -> Vec<String> {
        let f = Fixture::new();
        f.write("config.yaml", &self.config(&f.path("bin")));
        edit(&f);
        let run = f.agent(&["report", "--dry-run", "-c", "config.yaml"]);
        let mut problems = Vec::new();
        checks::output(&run, &mut problems);
        expectation(expect, &[&run], &[], &mut problems);
        let posts = self
            .fake
            .state
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .count();
        if posts > 0 {
            problems.push(format!("report --dry-run sent {posts} non-GET request(s)"));
        }
        problems
    }
}

/// A sacct that prints `rows` (raw bytes) whatever it is asked.
fn sacct(f: &Fixture, rows: &[u8]) {
    f.write_bytes("rows.txt", rows);
    let script = format!("#!/bin/sh\ncat '{}'\n", f.path("rows.txt").display());
    crate::support::write_script(&f.path("bin/sacct"), &script);
}

fn rows(name: &str, text: &'static str) -> Case {
    Case::new("sacct", name, move |f| sacct(f, text.as_bytes())).report()
}

pub fn cases() -> Vec<Case> {
    vec![
        rows(
            "good rows are reported",
            "a_alloc|cpu=2,mem=100M|01:00:00|alice\n",
        )
        .accepted(),
        rows("no rows at all", "").accepted(),
        rows("too few columns", "a_alloc|cpu=2|01:00:00\n").refused(&["line 1", "expected 4"]),
        rows("too many columns", "a_alloc|cpu=2|01:00:00|alice|x\n").refused(&["line 1"]),
        rows("elapsed not a time", "a_alloc|cpu=2|soon|alice\n").refused(&["line 1", "Elapsed"]),
        rows("negative elapsed", "a_alloc|cpu=2|-01:00:00|alice\n").refused(&["line 1", "Elapsed"]),
        rows(
            "elapsed INVALID is skipped",
            "a_alloc|cpu=2|INVALID|alice\n",
        )
        .accepted(),
        rows(
            "TRES amount not a number",
            "a_alloc|cpu=abc|01:00:00|alice\n",
        )
        .refused(&["line 1", "ReqTRES"]),
        rows("TRES amount negative", "a_alloc|cpu=-4|01:00:00|alice\n")
            .refused(&["line 1", "ReqTRES"]),
        rows(
            "TRES amount over u64",
            "a_alloc|cpu=99999999999999999999999|01:00:00|alice\n",
        )
        .refused(&["line 1", "ReqTRES"]),
        rows("memory unit unknown", "a_alloc|mem=5X|01:00:00|alice\n")
            .refused(&["line 1", "ReqTRES"]),
        rows("TRES without '='", "a_alloc|cpu|01:00:00|alice\n").refused(&["line 1", "ReqTRES"]),
        rows(
            "huge elapsed days",
            "a_alloc|cpu=2|99999999999-00:00:00|alice\n",
        )
        .refused(&["line 1", "Elapsed"]),
        rows(
            "error on line 3",
            "a_alloc|cpu=1|00:01:00|alice\na_alloc|cpu=1|00:01:00|alice\nbroken\n",
        )
        .refused(&["line 3"]),
        rows(
            "control characters in the user",
            "a_alloc|cpu=1|00:01:00|al\x1b[8mice\n",
        )
        .accepted(),
        rows("newline-free junk", "\x00\x01\x02|\x7f|\x1b|\x07\n").refused(&["line 1"]),
        Case::new("sacct", "invalid UTF-8", |f| {
            sacct(f, b"a_alloc|cpu=1|00:01:00|\xff\xfe\n")
        })
        .report()
        .accepted(),
        rows(
            "names with ; = , and spaces",
            "a_alloc|cpu=1|00:01:00|a;b=c,d e\n",
        )
        .accepted(),
        rows("unknown account", "someone_else|cpu=1|00:01:00|bob\n").accepted(),
        Case::new("sacct", "over-long row", |f| {
            let row = format!("a_alloc|cpu=1|00:01:00|{}\n", "x".repeat(100_000));
            sacct(f, row.as_bytes())
        })
        .report()
        .accepted(),
    ]
}
