//! `bench`: how fast the agent is on a steady-state site, next to the floor — the least
//! work SLURM itself needs for the same result, measured in the same run.
//!
//! It seeds an in-process fake Waldur with N allocations × M users, runs the release
//! `agent` binary against it and a real slurmdbd, and measures the first full sync, a
//! converged cycle, a 1% drift repair and a usage report; then the planner alone on a
//! large site and sacct parsing, in memory. See docs/benchmark.md.
//!
//! Layout: `world.rs` (the synthetic site), `slurm.rs` (floors, wipes, drift),
//! `measure.rs` (child processes: wall time, peak RSS; the debug log's timeline),
//! `stats.rs` (the agent's own counts, from its `--stats-file`),
//! `planner.rs` (in-memory scenarios).

mod measure;
mod planner;
mod slurm;
mod stats;
mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use agent_reconcile::render::sacctmgr_session;
use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use fake_waldur::RunningFake;
use serde_json::{json, Value};

use crate::measure::{median, Measured};
use crate::slurm::Slurm;
use crate::stats::{Counts, Stats};
use crate::world::World;

#[derive(Parser, Clone)]
#[command(
    name = "bench",
    about = "Benchmark of the agent against the fake Waldur and real SLURM, with the floor measured in the same run"
)]
struct Args {
    /// Allocations (N) of the main site.
    #[arg(long, default_value_t = 1000)]
    allocations: usize,
    /// Users per project (M): every allocation of a project has them all.
    #[arg(long, default_value_t = 10)]
    users: usize,
    #[arg(long, default_value_t = 10)]
    allocations_per_project: usize,
    #[arg(long, default_value_t = 10)]
    projects_per_customer: usize,
    /// N of the small site whose converged cycle is compared with the main one.
    #[arg(long, default_value_t = 10)]
    small_allocations: usize,
    /// Runs of the converged cycle, the observe floor and the planner.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Runs of the first sync and its floor (each needs a wipe).
    #[arg(long, default_value_t = 1)]
    first_sync_runs: usize,
    #[arg(long, default_value_t = 3)]
    drift_runs: usize,
    /// Runs of `agent report`: the first posts everything, the others find it unchanged.
    #[arg(long, default_value_t = 3)]
    report_runs: usize,
    /// sacct rows (R) the stub sacct prints for `agent report`.
    #[arg(long, default_value_t = 100_000)]
    sacct_rows: usize,
    /// Associations of the in-memory planner scenario.
    #[arg(long, default_value_t = 100_000)]
    planner_associations: usize,
    /// Rows of the sacct parsing scenario.
    #[arg(long, default_value_t = 1_000_000)]
    parse_rows: usize,
    /// Prefix of every account and user the bench creates (and wipes).
    #[arg(long, default_value = "bn_")]
    prefix: String,
    /// SLURM cluster name (start-slurm.sh: testcluster).
    #[arg(long, default_value = "testcluster")]
    cluster: String,
    /// The agent binary [default: `agent` next to this program, i.e. target/release/agent].
    #[arg(long)]
    agent: Option<PathBuf>,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench.json")]
    out: PathBuf,
    /// Directory for the agent's stdout/stderr of the last run of each scenario.
    #[arg(long, default_value = "target/bench-logs")]
    logs: PathBuf,
    /// Run the first sync before its floor session (runs alternate; this picks the first).
    #[arg(long)]
    agent_first: bool,
    /// Only the in-memory scenarios (planner, parsing): no SLURM needed.
    #[arg(long)]
    in_memory_only: bool,
    /// Leave the main site's accounts in SLURM at the end.
    #[arg(long)]
    keep: bool,
    /// Internal: run the planner scenario and print its JSON (used as a child process).
    #[arg(long, hide = true)]
    planner_only: bool,
}

/// One line of the table.
#[derive(Default, Clone)]
struct Row {
    id: String,
    /// Allocations of the site (0 for in-memory scenarios).
    n: usize,
    scenario: String,
    /// Wall time of every run, seconds.
    walls: Vec<f64>,
    /// Floor of every run, seconds (median is shown).
    floors: Vec<f64>,
    floor_what: String,
    counts: Option<Counts>,
    counts_vary: bool,
    fake_requests: Option<u64>,
    rss_kb: Option<u64>,
    note: String,
    /// stdout and stderr of the last agent run.
    last_output: Option<(String, String)>,
    /// Extra figures for the JSON file.
    extra: Value,
}

impl Row {
    fn new(id: &str, scenario: &str) -> Row {
        Row {
            id: id.into(),
            scenario: scenario.into(),
            ..Row::default()
        }
    }

    fn wall(&self) -> f64 {
        median(&self.walls)
    }

    fn floor(&self) -> Option<f64> {
        (!self.floors.is_empty()).then(|| median(&self.floors))
    }

    fn ratio(&self) -> Option<f64> {
        self.floor().map(|f| self.wall() / f)
    }

    fn sacctmgr(&self) -> Option<u64> {
        self.counts.as_ref().map(|c| c.procs("sacctmgr"))
    }

    fn add(&mut self, run: &AgentRun) {
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

    fn to_json(&self) -> Value {
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

struct AgentRun {
    m: Measured,
    /// What the agent wrote to its `--stats-file`; `None` if it wrote nothing.
    stats: Option<Stats>,
    fake_requests: u64,
}

impl AgentRun {
    fn output(&self) -> String {
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!(
            "exit {}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            self.m.status,
            tail(&self.m.stdout),
            tail(&self.m.stderr)
        )
    }
}

fn say(text: &str) {
    eprintln!("[bench] {text}");
}

/// A site: the fake Waldur seeded with a world, and the agent's config for it.
struct Site<'a> {
    world: World,
    fake: RunningFake,
    dir: tempfile::TempDir,
    config: PathBuf,
    agent: &'a Path,
    slurm: &'a Slurm,
}

impl<'a> Site<'a> {
    fn new(
        world: World,
        rt: &tokio::runtime::Runtime,
        agent: &'a Path,
        slurm: &'a Slurm,
    ) -> Result<Site<'a>> {
        let seed = world.seed()?;
        let fake = rt.block_on(fake_waldur::try_spawn(seed))?;
        let dir = tempfile::tempdir()?;
        let rows = dir.path().join("sacct-rows.txt");
        std::fs::write(&rows, "")?;
        let bin = slurm.stub_bin(dir.path(), &rows)?;
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, world.config(&fake.base_url, &slurm.cluster, &bin))?;
        Ok(Site {
            world,
            fake,
            dir,
            config,
            agent,
            slurm,
        })
    }

    fn agent(&self, args: &[&str]) -> Result<AgentRun> {
        self.agent_logging(args, "info")
    }

    /// Every command the bench runs (plan, reconcile, report) writes a stats file.
    fn agent_logging(&self, args: &[&str], level: &str) -> Result<AgentRun> {
        self.fake.state.clear_requests();
        let stats_file = tempfile::Builder::new()
            .suffix(".json")
            .tempfile_in(self.dir.path())?;
        let mut cmd = Command::new(self.agent);
        cmd.args(args)
            .arg("--stats-file")
            .arg(stats_file.path())
            .arg("-c")
            .arg(&self.config)
            .env("RUST_LOG", level)
            .env("NO_COLOR", "1");
        let m = measure::run(cmd)?;
        let fake_requests = self.fake.state.requests().len() as u64;
        Ok(AgentRun {
            m,
            stats: Stats::read(stats_file.path()),
            fake_requests,
        })
    }

    /// Runs the agent and insists on an exit code.
    fn agent_expect(&self, args: &[&str], code: i32) -> Result<AgentRun> {
        let run = self.agent(args)?;
        if run.m.status != code {
            bail!(
                "`agent {}` at N={} exited {} (expected {code}):\n{}",
                args.join(" "),
                self.world.allocations,
                run.m.status,
                run.output()
            );
        }
        Ok(run)
    }

    fn wipe(&self) -> Result<()> {
        let t = self.slurm.wipe(&self.world.prefix)?;
        say(&format!(
            "  wiped {}* in {:.1} s",
            self.world.prefix,
            t.as_secs_f64()
        ));
        Ok(())
    }

    /// The sacctmgr commands of the plan on the current (empty) cluster, and the stdin
    /// lines the agent's batch mode makes of them (`render::sacctmgr_session`: user
    /// additions grouped per account).
    fn sacctmgr_session(&self) -> Result<(usize, Vec<String>)> {
        let run = self.agent_expect(&["plan", "--json"], 0)?;
        let doc: Value =
            serde_json::from_str(&run.m.stdout).context("`agent plan --json` is not JSON")?;
        let plans = match doc {
            Value::Array(plans) => plans,
            one => vec![one],
        };
        let mut argvs: Vec<Vec<String>> = Vec::new();
        for plan in &plans {
            for change in plan["changes"].as_array().into_iter().flatten() {
                for cmd in change["commands"].as_array().into_iter().flatten() {
                    let argv: Vec<String> = cmd["argv"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect();
                    if cmd["sink"] == "slurm"
                        && argv.first().is_some_and(|a0| a0.ends_with("sacctmgr"))
                    {
                        argvs.push(argv);
                    }
                }
            }
        }
        let refs: Vec<&[String]> = argvs.iter().map(Vec::as_slice).collect();
        Ok((argvs.len(), sacctmgr_session(&refs)))
    }

    fn expect_objects(&self) -> Result<()> {
        let rows = self.slurm.associations(&self.world.prefix)?;
        let want = self.world.accounts() + self.world.associations();
        ensure!(
            rows.len() == want,
            "expected {want} associations of {}* (accounts and users), found {}",
            self.world.prefix,
            rows.len()
        );
        Ok(())
    }

    fn converged(&self) -> Result<()> {
        self.agent_expect(&["plan", "--detailed-exitcode"], 0)
            .map(|_| ())
            .context("the site is not converged")
    }
}

/// Observe floor: the association dump, median of `runs`.
fn observe_floor(slurm: &Slurm, runs: usize) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..runs.max(1) {
        out.push(slurm.dump_associations()?.0.as_secs_f64());
    }
    Ok(out)
}

/// Rows of one site size. `full` adds drift and report (main site only).
fn run_site(
    args: &Args,
    site: &Site,
    full: bool,
    rows: &mut Vec<Row>,
) -> Result<BTreeMap<&'static str, Row>> {
    let w = &site.world;
    let n = w.allocations;
    let label = |what: &str| format!("{what}, N={n} M={}", w.users_per_project);
    let mut out = BTreeMap::new();
    let with_n = |mut r: Row| {
        r.n = n;
        r
    };
    say(&format!(
        "site N={n} M={}: {} customers, {} projects, {} accounts, {} user associations",
        w.users_per_project,
        w.customers(),
        w.projects(),
        w.accounts(),
        w.associations()
    ));
    site.wipe()?;

    // (a) First sync, and its floor: the same sacctmgr commands in one stdin session.
    let (commands, lines) = site.sacctmgr_session()?;
    say(&format!(
        "  first sync: {commands} sacctmgr commands, {} session lines",
        lines.len()
    ));
    let mut first = with_n(Row::new(
        &format!("first_sync_n{n}"),
        &label("first sync (reconcile)"),
    ));
    first.floor_what = format!(
        "one sacctmgr -i session of the plan's {commands} commands ({} lines, as the agent groups them)",
        lines.len()
    );
    // Floor and agent alternate which goes first, so neither always meets the database
    // just after the other's wipe. Either way the cluster ends in the synced state.
    let mut applies = Vec::new();
    for k in 0..args.first_sync_runs.max(1) {
        let agent_first = (k % 2 == 1) != args.agent_first;
        for step in if agent_first { [1, 0] } else { [0, 1] } {
            site.wipe()?;
            if step == 0 {
                let (t, stderr) = site.slurm.session(&lines)?;
                site.expect_objects()
                    .with_context(|| format!("after the floor session (stderr: {stderr})"))?;
                first.floors.push(t.as_secs_f64());
                say(&format!(
                    "  apply floor run {}: {:.2} s",
                    k + 1,
                    t.as_secs_f64()
                ));
            } else {
                let run = site.agent_expect(&["reconcile"], 0)?;
                say(&format!(
                    "  first sync run {}: {:.2} s",
                    k + 1,
                    run.m.wall.as_secs_f64()
                ));
                applies.extend(run.stats.as_ref().and_then(Stats::apply_seconds));
                first.add(&run);
            }
        }
    }
    site.expect_objects()?;
    site.converged()?;
    first.note = format!(
        "{} accounts + {} associations, {commands} commands in {} session lines",
        w.accounts(),
        w.associations(),
        lines.len()
    );
    if applies.len() == first.walls.len() {
        let apply = median(&applies);
        let _ = write!(
            first.note,
            "; apply phase {} (agent's own figure), reads/plans/verify {}",
            fmt_time(apply),
            fmt_time(first.wall() - apply)
        );
        first.extra = json!({"apply_phase_s": applies});
    }

    // (b) Converged cycle: observe floor, plan, reconcile with nothing to do.
    let floors = observe_floor(site.slurm, args.runs)?;
    let mut floor_row = Row::new(
        &format!("observe_floor_n{n}"),
        &label("floor: association dump"),
    );
    floor_row.walls = floors.clone();
    floor_row.counts = Some(Counts {
        waldur_requests: 0,
        processes: BTreeMap::from([("sacctmgr".to_string(), 1)]),
    });
    floor_row.note = "one `sacctmgr show association` of the cluster".into();
    let mut plan = with_n(Row::new(
        &format!("converged_plan_n{n}"),
        &label("converged plan"),
    ));
    let mut reconcile = with_n(Row::new(
        &format!("converged_reconcile_n{n}"),
        &label("converged reconcile (no-op)"),
    ));
    for row in [&mut plan, &mut reconcile] {
        row.floors = floors.clone();
        row.floor_what = "observe floor (nothing to apply)".into();
    }
    for _ in 0..args.runs.max(1) {
        plan.add(&site.agent_expect(&["plan", "--detailed-exitcode"], 0)?);
    }
    // One more, untimed, with RUST_LOG=debug: the Waldur requests' timestamps show where
    // the cycle's time goes.
    let debug = site.agent_logging(&["plan", "--detailed-exitcode"], "debug")?;
    if let Some(t) = measure::timeline(&debug.m) {
        plan.note = format!(
            "debug run: startup {}, Waldur requests span {}, last Waldur response to end {}",
            fmt_time(t.before_waldur),
            fmt_time(t.waldur),
            fmt_time(t.after_waldur)
        );
        plan.extra = json!({"debug_timeline_s": {"before_waldur": t.before_waldur,
            "waldur": t.waldur, "after_waldur": t.after_waldur,
            "waldur_requests_logged": t.waldur_requests, "wall": debug.m.wall.as_secs_f64()}});
    }
    for _ in 0..args.runs.max(1) {
        let run = site.agent_expect(&["reconcile"], 0)?;
        ensure!(
            run.stats.as_ref().is_some_and(Stats::unchanged),
            "a converged reconcile changed something:\n{}",
            run.output()
        );
        reconcile.add(&run);
    }
    say(&format!(
        "  converged: floor {:.1} ms, plan {:.1} ms, reconcile {:.1} ms",
        median(&floors) * 1e3,
        plan.wall() * 1e3,
        reconcile.wall() * 1e3
    ));

    out.insert("first", first.clone());
    out.insert("plan", plan.clone());
    out.insert("reconcile", reconcile.clone());
    rows.extend([first, floor_row, plan, reconcile]);

    if full {
        rows.push(drift(args, site, &floors)?);
        rows.extend(report(args, site)?);
    }
    Ok(out)
}

/// (c) 1% of allocations drifted by hand (half GrpTRESMins, half a removed user
/// association), then `agent reconcile` repairs it.
fn drift(args: &Args, site: &Site, observe: &[f64]) -> Result<Row> {
    let w = &site.world;
    let n = w.allocations;
    let k = (n / 100).max(1);
    let c = &site.slurm.cluster;
    let defaults: BTreeMap<String, String> = site
        .slurm
        .default_accounts(&w.prefix)?
        .into_iter()
        .collect();
    let mut lines = Vec::new();
    for j in 0..k {
        let i = j * n / k;
        let account = w.allocation(i);
        if j % 2 == 0 {
            lines.push(format!(
                "modify account where name={account} cluster={c} set GrpTRESMins=cpu=1"
            ));
        } else {
            let user = w
                .users_of_project(w.project_of(i))
                .into_iter()
                .find(|u| defaults.get(u) != Some(&account))
                .context("no user of the allocation has another default account")?;
            lines.push(format!(
                "remove user where name={user} account={account} cluster={c}"
            ));
        }
    }
    let mut row = Row::new(
        &format!("drift_n{n}"),
        &format!("1% drift repair ({k} changes), N={n}"),
    );
    row.floor_what = "observe floor + one sacctmgr -i session of the same number of changes".into();
    let observe = median(observe);
    for r in 0..args.drift_runs.max(1) {
        let (t, stderr) = site.slurm.session(&lines)?;
        ensure!(stderr.is_empty(), "making the drift failed: {stderr}");
        let run = site.agent_expect(&["reconcile"], 0)?;
        let applied = run.stats.as_ref().map_or(0, Stats::applied);
        ensure!(
            applied == k as u64,
            "the drift repair applied {applied} changes, expected {k}:\n{}",
            run.output()
        );
        row.floors.push(observe + t.as_secs_f64());
        say(&format!(
            "  drift run {}: {:.1} ms (drift session {:.1} ms)",
            r + 1,
            run.m.wall.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e3
        ));
        row.add(&run);
    }
    site.converged()?;
    Ok(row)
}

/// (d) `agent report` over R synthetic sacct rows: each project's users on its own
/// allocations, R split evenly over the projects.
fn report(args: &Args, site: &Site) -> Result<Vec<Row>> {
    let w = &site.world;
    let n = w.allocations;
    let r = args.sacct_rows;
    let projects = w.projects();
    let mut text = String::with_capacity(r * 72);
    for p in 0..projects {
        let share = r / projects + usize::from(p < r % projects);
        if share > 0 {
            text.push_str(&agent_observed::sacct::synthetic_sacct_rows(
                share,
                &w.allocations_of_project(p),
                &w.users_of_project(p),
            ));
        }
    }
    std::fs::write(site.dir.path().join("sacct-rows.txt"), &text)?;
    let mut first = Row::new(
        &format!("report_first_n{n}"),
        &format!("report, first (posts all), R={r} rows, N={n}"),
    );
    let mut repeat = Row::new(
        &format!("report_repeat_n{n}"),
        &format!("report, repeat (unchanged), R={r} rows, N={n}"),
    );
    for i in 0..args.report_runs.max(1) {
        let run = site.agent_expect(&["report"], 0)?;
        let number = |key| run.stats.as_ref().and_then(|s| s.number(key));
        // No periods: the agent declined, this close to a new month.
        if number("periods") == Some(0) {
            first.note = "skipped: too close to a month boundary".into();
            return Ok(vec![first]);
        }
        // The agent's summary line, shown as the note.
        let summary = run
            .m
            .stdout
            .lines()
            .find(|l| l.starts_with("Summary:"))
            .unwrap_or("")
            .to_string();
        say(&format!(
            "  report run {}: {:.2} s; {summary}",
            i + 1,
            run.m.wall.as_secs_f64()
        ));
        if i == 0 {
            ensure!(
                number("submissions") == Some(n as u64),
                "the first report did not submit for every resource:\n{}",
                run.output()
            );
            first.add(&run);
            first.note = summary;
        } else {
            ensure!(
                number("submissions") == Some(0),
                "a repeated report submitted again:\n{}",
                run.output()
            );
            repeat.add(&run);
            repeat.note = summary;
        }
    }
    Ok(if repeat.walls.is_empty() {
        vec![first]
    } else {
        vec![first, repeat]
    })
}

/// (e) The planner in a child process (its own RSS), (f) sacct parsing here.
fn in_memory(args: &Args, world: &World, rows: &mut Vec<Row>) -> Result<()> {
    let a = args.planner_associations;
    say(&format!("planner on {a} associations (child process)"));
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "--planner-only",
        "--planner-associations",
        &a.to_string(),
        "--users",
        &args.users.to_string(),
        "--runs",
        &args.runs.max(5).to_string(),
    ]);
    let m = measure::run(cmd)?;
    ensure!(
        m.status == 0,
        "the planner child failed (exit {}): {}",
        m.status,
        m.stderr
    );
    let doc: Value = serde_json::from_str(m.stdout.trim()).context("planner child output")?;
    let mut row = Row::new("planner", &format!("planner alone, {a} associations"));
    row.walls = doc["plan_ms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(|ms| ms / 1e3)
        .collect();
    // The child's own VmHWM at its end (exact), else what was sampled.
    row.rss_kb = doc["rss_kb"].as_u64().or(Some(m.rss_kb));
    row.note = format!(
        "{} accounts, {} changes (1% drift); building the state took {:.0} ms",
        doc["accounts"],
        doc["changes"],
        doc["build_ms"].as_f64().unwrap_or(0.0)
    );
    rows.push(row);

    // Realistic: each allocation's rows come from its M users (N×M account/user pairs).
    // Worst case: every row is a new pair (every user on every account), which is all
    // allocation and hashing and says how the parser degrades.
    let p = args.parse_rows;
    let accounts = world.allocation_names();
    let all_users: Vec<String> = (0..world.projects())
        .flat_map(|q| world.users_of_project(q))
        .collect();
    let cases = [
        ("parse", world.users_of_project(0), "realistic"),
        ("parse_worst", all_users, "worst case"),
    ];
    for (id, users, what) in cases {
        say(&format!("parse_sacct on {p} rows ({what})"));
        let (times, bytes) = planner::parse_throughput(p, &accounts, &users, args.runs.max(5))?;
        let pairs = (accounts.len() * users.len()).min(p);
        let mut row = Row::new(
            id,
            &format!(
                "sacct parsing, {p} rows, {} accounts x {} users ({what})",
                accounts.len(),
                users.len()
            ),
        );
        row.walls = times;
        let rate = p as f64 / row.wall();
        row.note = format!(
            "{:.2} M rows/s, {:.0} MB/s, {pairs} account/user pairs",
            rate / 1e6,
            bytes as f64 / row.wall() / 1e6,
        );
        rows.push(row);
    }
    Ok(())
}

fn fmt_time(s: f64) -> String {
    if s.is_nan() {
        "-".into()
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| scenario | wall time | floor | ratio | sacctmgr procs | HTTP requests | peak RSS | notes |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let procs = match &r.counts {
            None => "-".to_string(),
            Some(c) => {
                let mut s = c.procs("sacctmgr").to_string();
                for (p, n) in c.processes.iter().filter(|(p, _)| *p != "sacctmgr") {
                    let _ = write!(s, " +{n} {p}");
                }
                if r.counts_vary {
                    s.push_str(" (varies)");
                }
                s
            }
        };
        let http = match (
            r.counts.as_ref().map(|c| c.waldur_requests),
            r.fake_requests,
        ) {
            (Some(a), Some(f)) if a != f => format!("{a} (fake saw {f})"),
            (Some(a), _) => a.to_string(),
            (None, Some(f)) => f.to_string(),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            fmt_time(r.wall()),
            r.floor().map_or("-".into(), fmt_time),
            r.ratio().map_or("-".into(), |x| format!("{x:.2}x")),
            procs,
            http,
            r.rss_kb
                .map_or("-".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0)),
            r.note
        );
    }
    t
}

struct Target {
    name: String,
    pass: bool,
    detail: String,
}

fn targets(rows: &[Row], big: &BTreeMap<&str, Row>, small: &BTreeMap<&str, Row>) -> Vec<Target> {
    let mut out = Vec::new();
    for key in ["plan", "reconcile"] {
        if let (Some(b), Some(s)) = (big.get(key), small.get(key)) {
            let ratio = b.ratio().unwrap_or(f64::INFINITY);
            out.push(Target {
                name: format!("{} within 1.5x of the observe floor", b.scenario),
                pass: ratio <= 1.5,
                detail: format!(
                    "{} vs floor {} = {ratio:.2}x",
                    fmt_time(b.wall()),
                    fmt_time(b.floor().unwrap_or(f64::NAN))
                ),
            });
            out.push(Target {
                name: format!(
                    "converged {key}: same sacctmgr processes at N={} and N={}",
                    b.n, s.n
                ),
                pass: b.sacctmgr().is_some() && b.sacctmgr() == s.sacctmgr(),
                detail: format!(
                    "{} vs {}",
                    b.sacctmgr().map_or("?".into(), |n| n.to_string()),
                    s.sacctmgr().map_or("?".into(), |n| n.to_string())
                ),
            });
        }
    }
    if let Some(f) = big.get("first") {
        let ratio = f.ratio().unwrap_or(f64::INFINITY);
        out.push(Target {
            name: format!("{} within 2x of its floor", f.scenario),
            pass: ratio <= 2.0,
            detail: format!(
                "{} vs floor {} = {ratio:.2}x",
                fmt_time(f.wall()),
                fmt_time(f.floor().unwrap_or(f64::NAN))
            ),
        });
    }
    if let Some(p) = rows.iter().find(|r| r.id == "planner") {
        let mb = p.rss_kb.unwrap_or(u64::MAX) as f64 / 1024.0;
        out.push(Target {
            name: format!("{}: under 100 ms and 200 MB", p.scenario),
            pass: p.wall() < 0.1 && mb < 200.0,
            detail: format!("{} (median), {mb:.1} MB peak RSS", fmt_time(p.wall())),
        });
    }
    if let Some(p) = rows.iter().find(|r| r.id == "parse") {
        out.push(Target {
            name: "sacct parsing at 1M rows/s or better".into(),
            pass: p
                .note
                .split(' ')
                .next()
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(0.0)
                >= 1.0,
            detail: p.note.clone(),
        });
    }
    out
}

fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let quickack = Command::new("ip")
        .args(["route", "show", "table", "local"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("quickack 1"))
        .ok();
    json!({"cpus": cpus, "kernel": kernel.trim(), "loadavg_at_end": load.trim(),
           "loopback_quickack": quickack})
}

/// `git describe`-like state of the working tree the agent was built from (best effort).
fn git_state() -> Value {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    json!({
        "head": git(&["rev-parse", "--short", "HEAD"]),
        "agent_sources_dirty": git(&["status", "--porcelain", "--", "src", "config", "desired",
                                     "observed", "reconcile"]).map(|s| !s.is_empty()),
    })
}

fn default_agent() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me
        .parent()
        .context("the bench binary has no directory")?
        .join("agent"))
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("bench: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.planner_only {
        return planner::planner_child(args.planner_associations, args.users, args.runs);
    }
    ensure!(
        args.allocations > 0 && args.users > 0,
        "--allocations and --users must be positive"
    );
    let world = |n: usize| World {
        prefix: args.prefix.clone(),
        allocations: n,
        users_per_project: args.users,
        allocs_per_project: args.allocations_per_project.max(1),
        projects_per_customer: args.projects_per_customer.max(1),
    };
    let mut rows = Vec::new();
    in_memory(&args, &world(args.allocations), &mut rows)?;

    let (mut big, mut small) = (BTreeMap::new(), BTreeMap::new());
    let mut agent_info = Value::Null;
    if !args.in_memory_only {
        let agent = match &args.agent {
            Some(a) => a.clone(),
            None => default_agent()?,
        };
        ensure!(
            agent.is_file(),
            "no agent binary at {}: build it with `cargo build --release --bin agent` (scripts/bench.sh does)",
            agent.display()
        );
        // A private copy: a `cargo build` elsewhere cannot swap the binary mid-run.
        let agent_dir = tempfile::tempdir()?;
        let copy = agent_dir.path().join("agent");
        std::fs::copy(&agent, &copy).with_context(|| format!("copying {}", agent.display()))?;
        agent_info = json!({"path": agent.display().to_string(),
                            "bytes": std::fs::metadata(&copy)?.len(),
                            "git": git_state()});
        let agent = copy;
        let slurm = Slurm::connect(&args.cluster)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let site = Site::new(world(args.small_allocations), &rt, &agent, &slurm)?;
        small = run_site(&args, &site, false, &mut rows)?;
        site.wipe()?;
        drop(site);
        let site = Site::new(world(args.allocations), &rt, &agent, &slurm)?;
        big = run_site(&args, &site, true, &mut rows)?;
        if args.keep {
            say(&format!(
                "--keep: the {}* accounts stay in SLURM",
                args.prefix
            ));
        } else {
            site.wipe()?;
        }
    }

    let targets = targets(&rows, &big, &small);
    println!();
    print!("{}", table(&rows));
    println!();
    for t in &targets {
        println!(
            "{}  {} ({})",
            if t.pass { "PASS" } else { "MISS" },
            t.name,
            t.detail
        );
    }
    let doc = json!({
        "machine": machine(),
        "agent": agent_info,
        "params": {
            "allocations": args.allocations, "users_per_project": args.users,
            "allocations_per_project": args.allocations_per_project,
            "projects_per_customer": args.projects_per_customer,
            "small_allocations": args.small_allocations, "runs": args.runs,
            "first_sync_runs": args.first_sync_runs, "drift_runs": args.drift_runs,
            "report_runs": args.report_runs, "sacct_rows": args.sacct_rows,
            "planner_associations": args.planner_associations, "parse_rows": args.parse_rows,
            "prefix": args.prefix, "cluster": args.cluster,
        },
        "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "targets": targets.iter().map(|t| json!({"target": t.name, "pass": t.pass, "detail": t.detail})).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(&args.logs)?;
    for r in &rows {
        if let Some((out, err)) = &r.last_output {
            std::fs::write(args.logs.join(format!("{}.stdout", r.id)), out)?;
            std::fs::write(args.logs.join(format!("{}.stderr", r.id)), err)?;
        }
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "\nResults written to {}; the agent's output of each scenario to {}/",
        args.out.display(),
        args.logs.display()
    );
    Ok(())
}
