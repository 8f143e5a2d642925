//! One benchmark site: the fake Waldur seeded with a world, the agent's config for it, and
//! running the agent there; wiping the site from SLURM and checking what it holds.

use std::path::{Path, PathBuf};
use std::process::Command;

use agent_reconcile::render::sacctmgr_session;
use anyhow::{bail, ensure, Context, Result};
use fake_waldur::RunningFake;
use serde_json::{json, Value};

use crate::measure::{self, Measured};
use crate::output::{git_state, say};
use crate::slurm::Slurm;
use crate::stats::Stats;
use crate::world::World;

pub struct AgentRun {
    pub m: Measured,
    /// What the agent wrote to its `--stats-file`; `None` if it wrote nothing.
    pub stats: Option<Stats>,
    pub fake_requests: u64,
}

impl AgentRun {
    pub fn output(&self) -> String {
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

/// A site: the fake Waldur seeded with a world, and the agent's config for it.
pub struct Site<'a> {
    pub world: World,
    fake: RunningFake,
    pub dir: tempfile::TempDir,
    config: PathBuf,
    agent: &'a Path,
    pub slurm: &'a Slurm,
}

impl<'a> Site<'a> {
    pub fn new(
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
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state)?;
        std::fs::write(
            &config,
            world.config(&fake.base_url, &slurm.cluster, &bin, &state),
        )?;
        Ok(Site {
            world,
            fake,
            dir,
            config,
            agent,
            slurm,
        })
    }

    /// A scenario's name on this site: `what, N=... M=...`.
    pub fn label(&self, what: &str) -> String {
        format!(
            "{what}, N={} M={}",
            self.world.allocations, self.world.users_per_project
        )
    }

    pub fn agent(&self, args: &[&str]) -> Result<AgentRun> {
        self.agent_logging(args, "info")
    }

    /// Every command the bench runs (plan, reconcile, report) writes a stats file.
    pub fn agent_logging(&self, args: &[&str], level: &str) -> Result<AgentRun> {
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
    pub fn agent_expect(&self, args: &[&str], code: i32) -> Result<AgentRun> {
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

    /// Delays every Waldur request by `ms` (0: none), as a remote Waldur would.
    pub fn set_latency_ms(&self, ms: u64) {
        self.fake.state.set_latency_ms(ms);
    }

    /// Creates an order through the fake's control API (the function behind `POST
    /// /__fake__/orders`); returns the order's and its resource's uuids.
    pub fn create_order(&self, spec: Value) -> Result<(String, String)> {
        let order: fake_waldur::NewOrder =
            serde_json::from_value(spec).context("a bad order spec")?;
        let created = self
            .fake
            .state
            .create_order(order)
            .map_err(|e| anyhow::anyhow!("creating the order: {e:?}"))?;
        Ok((created.uuid, created.resource))
    }

    /// The order's state and its resource's `backend_id`, as the fake holds them.
    pub fn order_outcome(&self, order: &str) -> (String, String) {
        self.fake.state.read(|w| {
            let o = w.order(order);
            let backend_id = o
                .and_then(|o| w.resource(&o.resource))
                .map(|r| r.backend_id.clone())
                .unwrap_or_default();
            (o.map(|o| o.state.clone()).unwrap_or_default(), backend_id)
        })
    }

    /// Takes a resource out of the site again: `Terminated` in the fake (no longer
    /// listed) and its account removed from SLURM by hand, so the scenarios after see the
    /// site of N allocations they expect.
    pub fn retire(&self, resource: &str, account: &str) -> Result<()> {
        self.fake.state.write(|w| {
            if let Some(r) = w.data.resources.iter_mut().find(|r| r.uuid == resource) {
                r.state = "Terminated".into();
            }
        });
        let line = format!(
            "remove account where name={account} cluster={}",
            self.slurm.cluster
        );
        self.slurm.session(&[line])?;
        Ok(())
    }

    /// Removes the site from SLURM, and the agent's record of its last read with it (a
    /// wipe is SLURM really losing the site: the agent's guard would refuse the read).
    pub fn wipe(&self) -> Result<()> {
        let t = self.slurm.wipe(&self.world.prefix)?;
        for entry in std::fs::read_dir(self.dir.path().join("state"))? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("observed-"))
            {
                std::fs::remove_file(&path)?;
            }
        }
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
    pub fn sacctmgr_session(&self) -> Result<(usize, Vec<String>)> {
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

    pub fn expect_objects(&self) -> Result<()> {
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

    pub fn converged(&self) -> Result<()> {
        self.agent_expect(&["plan", "--detailed-exitcode"], 0)
            .map(|_| ())
            .context("the site is not converged")
    }
}

/// A private copy of the agent binary: a `cargo build` elsewhere cannot swap it mid-run.
pub struct AgentBinary {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    /// Where it came from, its size and the state of its sources, for the results file.
    pub info: Value,
}

impl AgentBinary {
    /// Copies `given`, or `agent` next to this program (target/release/agent).
    pub fn copy(given: Option<&Path>) -> Result<AgentBinary> {
        let agent = match given {
            Some(a) => a.to_path_buf(),
            None => std::env::current_exe()?
                .parent()
                .context("the bench binary has no directory")?
                .join("agent"),
        };
        ensure!(
            agent.is_file(),
            "no agent binary at {}: build it with `cargo build --release --bin agent` (scripts/bench.sh does)",
            agent.display()
        );
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("agent");
        std::fs::copy(&agent, &path).with_context(|| format!("copying {}", agent.display()))?;
        let info = json!({"path": agent.display().to_string(),
                          "bytes": std::fs::metadata(&path)?.len(),
                          "git": git_state()});
        Ok(AgentBinary {
            _dir: dir,
            path,
            info,
        })
    }
}
