//! The suite's world: the fake Waldur (in this process), the agent's config, the real
//! test cluster under the account prefix `fi`, the Waldur-side actions a trial takes,
//! and the invariants checked after every fault.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use fake_waldur::{NewOrder, RunningFake, Seed};
use serde_json::{json, Value};

use crate::support;

pub const PREFIX: &str = "fi";
pub const OFFERING: &str = "f0000000000000000000000000000071";
pub const PROJECT: &str = "b0000000000000000000000000000071";
pub const TOKEN: &str = "MARKER-fault-token-3e9d1c7b";
/// Waldur users who may be members: (uuid, SLURM username).
pub const PEOPLE: [(&str, &str); 3] = [
    ("a0000000000000000000000000000071", "fialice"),
    ("a0000000000000000000000000000072", "fibob"),
    ("a0000000000000000000000000000073", "ficarol"),
];
/// Minutes of a Waldur cpu unit (k-Hours).
pub const CPU_FACTOR: u64 = 60_000;

fn seed() -> Seed {
    let user = |(uuid, name): (&str, &str)| json!({"uuid": uuid, "username": name});
    serde_json::from_value(json!({
        "users": [{"uuid": "a0000000000000000000000000000079", "username": "agent", "is_staff": true, "token": TOKEN},
                  user(PEOPLE[0]), user(PEOPLE[1]), user(PEOPLE[2])],
        "customers": [{"uuid": "c0000000000000000000000000000071", "name": "Faults Inc", "slug": "cust"}],
        "projects": [{"uuid": PROJECT, "name": "Chaos", "slug": "proj",
                      "customer": "c0000000000000000000000000000071",
                      "members": [{"user": PEOPLE[0].0, "role": "PROJECT.MEMBER"},
                                  {"user": PEOPLE[1].0, "role": "PROJECT.MEMBER"}]}],
        "offerings": [{"uuid": OFFERING, "name": "Cluster", "customer": "c0000000000000000000000000000071",
                       "components": [{"type": "cpu", "measured_unit": "k-Hours", "billing_type": "limit"}]}],
        "offering_users": PEOPLE.iter().map(|(uuid, name)| json!({"offering": OFFERING, "user": uuid, "username": name})).collect::<Vec<_>>(),
    }))
    .expect("seed parses")
}

/// What SLURM holds under the prefix: account -> (parent, GrpTRESMins, users).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slurm {
    pub accounts: BTreeMap<String, (String, String, BTreeSet<String>)>,
}

impl Slurm {
    pub fn read() -> Slurm {
        let mut s = Slurm::default();
        for row in support::assoc_rows(PREFIX) {
            let cols: Vec<&str> = row.split('|').collect();
            let entry = s.accounts.entry(cols[0].to_string()).or_default();
            if cols[1].is_empty() {
                entry.0 = cols[2].to_string();
                entry.1 = cols[3].to_string();
            } else {
                entry.2.insert(cols[1].to_string());
            }
        }
        s
    }

    pub fn has(&self, account: &str) -> bool {
        self.accounts.contains_key(account)
    }
}

pub struct World {
    rt: tokio::runtime::Runtime,
    pub fake: RunningFake,
    pub dir: tempfile::TempDir,
    /// Names of new resources: one per Create, never reused.
    next_name: std::cell::Cell<u32>,
    /// Outputs that carried the token (must stay 0).
    pub leaks: std::cell::Cell<u32>,
}

impl World {
    pub fn new() -> World {
        support::cleanup(PREFIX);
        let (rt, fake) = support::spawn_fake(seed());
        let dir = tempfile::tempdir().unwrap();
        let mut settings = vec![
            "cluster_name: testcluster".to_string(),
            "qos_default: normal".into(),
        ];
        settings.extend(support::prefixed(PREFIX));
        let cpu = format!(
            "cpu: {{measured_unit: k-Hours, unit_factor: {CPU_FACTOR}, accounting_type: limit, label: CPU}}"
        );
        support::OfferingConfig {
            url: &fake.base_url,
            token_line: format!("waldur_api_token: {TOKEN}"),
            offering: OFFERING,
            settings: &settings,
            components: &[&cpu],
            agent: &[
                "max_deletions: 40".into(),
                "http_attempts: 2".into(),
                "http_timeout: 1s".into(),
                "command_timeout: 20s".into(),
                format!("state_dir: {}", dir.path().join("state").display()),
            ],
        }
        .write(&dir.path().join("config.yaml"));
        World {
            rt,
            fake,
            dir,
            next_name: std::cell::Cell::new(0),
            leaks: std::cell::Cell::new(0),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent"));
        cmd.args(args)
            .arg("-c")
            .arg(self.dir.path().join("config.yaml"))
            .env("RUST_LOG", "debug")
            .env_remove("WALDUR_API_TOKEN");
        cmd
    }

    /// Runs the agent to the end; counts a leak of the token.
    pub fn agent(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("agent runs");
        self.scan(&support::show(&out));
        out
    }

    /// Counts a leak of the token in captured text.
    pub fn scan(&self, text: &str) {
        if text.contains(TOKEN) {
            self.leaks.set(self.leaks.get() + 1);
            eprintln!("TOKEN LEAKED in:\n{text}");
        }
    }

    /// Starts the agent in a process group of its own, output into files.
    pub fn spawn(&self, args: &[&str]) -> (Child, PathBuf) {
        use std::os::unix::process::CommandExt;
        let log = self.dir.path().join("killed.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = self
            .command(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("agent starts");
        (child, log)
    }

    pub fn fault(&self, spec: &Value) {
        self.fake
            .state
            .add_fault(serde_json::from_value(spec.clone()).unwrap());
    }

    pub fn clear_faults(&self) {
        self.fake.state.clear_faults();
    }

    fn order(&self, spec: Value) -> String {
        let order: NewOrder = serde_json::from_value(spec).unwrap();
        self.fake.state.create_order(order).expect("order").uuid
    }

    /// A Create order for a new allocation (a name never used before).
    pub fn create(&self, cpu: u64) -> String {
        let n = self.next_name.get();
        self.next_name.set(n + 1);
        self.order(
            json!({"type": "Create", "offering": OFFERING, "project": PROJECT,
                          "name": format!("T{n}"), "limits": {"cpu": cpu}}),
        )
    }

    pub fn terminate(&self, resource: &str) -> String {
        self.order(json!({"type": "Terminate", "resource": resource}))
    }

    pub fn update(&self, resource: &str, cpu: u64) -> String {
        self.order(json!({"type": "Update", "resource": resource, "limits": {"cpu": cpu}}))
    }

    /// Adds or removes a person from the project.
    pub fn membership(&self, person: usize, add: bool) {
        let change = json!({"action": if add { "add" } else { "remove" }, "project": PROJECT,
                            "user": PEOPLE[person].0});
        self.fake
            .state
            .change_member(serde_json::from_value(change).unwrap())
            .unwrap();
    }

    pub fn is_member(&self, person: usize) -> bool {
        self.fake.state.read(|w| {
            w.project(PROJECT)
                .unwrap()
                .members
                .iter()
                .any(|m| m.user == PEOPLE[person].0)
        })
    }

    /// SLURM usernames of the project's members.
    pub fn members(&self) -> BTreeSet<String> {
        (0..PEOPLE.len())
            .filter(|p| self.is_member(*p))
            .map(|p| PEOPLE[p].1.to_string())
            .collect()
    }

    /// Resources SLURM must hold: (uuid, backend_id, state) of those live in Waldur.
    pub fn live(&self) -> Vec<(String, String, String)> {
        self.fake.state.read(|w| {
            w.data
                .resources
                .iter()
                .filter(|r| ["OK", "Erred", "Updating"].contains(&r.state.as_str()))
                .filter(|r| !r.backend_id.is_empty())
                .map(|r| (r.uuid.clone(), r.backend_id.clone(), r.state.clone()))
                .collect()
        })
    }

    /// OK resources with no open order (candidates for a Terminate or an Update).
    pub fn settled(&self) -> Vec<String> {
        self.fake.state.read(|w| {
            w.data
                .resources
                .iter()
                .filter(|r| r.state == "OK" && !r.backend_id.is_empty())
                .filter(|r| {
                    !w.data.orders.iter().any(|o| {
                        o.resource == r.uuid && !["done", "erred"].contains(&o.state.as_str())
                    })
                })
                .map(|r| r.uuid.clone())
                .collect()
        })
    }

    /// Orders not yet done (or erred).
    pub fn open_orders(&self) -> usize {
        self.fake.state.read(|w| {
            w.data
                .orders
                .iter()
                .filter(|o| !["done", "erred"].contains(&o.state.as_str()))
                .count()
        })
    }

    /// The invariants after a fault, given what SLURM held before it: every allocation
    /// Waldur still has is in SLURM with every user who is still a member and was there;
    /// no order erred; every done order's SLURM side is true.
    pub fn check(&self, before: &Slurm, now: &Slurm, what: &str) -> Vec<String> {
        let members = self.members();
        let mut problems = Vec::new();
        for (uuid, account, state) in self.live() {
            match now.accounts.get(&account) {
                None => problems.push(format!(
                    "{what}: allocation {account} of {state} resource {uuid} is missing from SLURM"
                )),
                Some((_, _, users)) => {
                    let kept: BTreeSet<&String> = before
                        .accounts
                        .get(&account)
                        .map(|(_, _, u)| u.intersection(&members).collect())
                        .unwrap_or_default();
                    for user in kept {
                        if !users.contains(user) {
                            problems
                                .push(format!("{what}: member {user} was removed from {account}"));
                        }
                    }
                }
            }
        }
        let orders: Vec<(String, String, String, String, Value, String)> =
            self.fake.state.read(|w| {
                w.data
                    .orders
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        let r = w.resource(&o.resource);
                        let later_update = w.data.orders[i + 1..]
                            .iter()
                            .any(|l| l.resource == o.resource && l.order_type == "Update");
                        let backend = r.map(|r| r.backend_id.clone()).unwrap_or_default();
                        // An allocation terminated since (or being terminated) is not held to
                        // its earlier Create or Update.
                        let gone = r.is_some_and(|r| r.state.starts_with("Terminat"));
                        let kind = match o.order_type.as_str() {
                            "Create" | "Update" | "Restore" if gone => "superseded".to_string(),
                            "Update" if later_update => "superseded".to_string(),
                            other => other.to_string(),
                        };
                        (
                            o.uuid.clone(),
                            kind,
                            o.state.clone(),
                            backend,
                            json!(o.limits),
                            o.error_message.clone(),
                        )
                    })
                    .collect()
            });
        for (uuid, kind, state, account, limits, error) in orders {
            if state == "erred" {
                problems.push(format!("{what}: {kind} order {uuid} was erred: {error:?}"));
            }
            if state != "done" {
                continue;
            }
            let wrong = match kind.as_str() {
                "Create" | "Restore" => {
                    (!now.has(&account)).then(|| format!("{account} is not in SLURM"))
                }
                "Terminate" => now
                    .has(&account)
                    .then(|| format!("{account} is still in SLURM")),
                "Update" => {
                    let cpu = limits["cpu"].as_u64().unwrap_or(0) * CPU_FACTOR;
                    let grp = now
                        .accounts
                        .get(&account)
                        .map(|a| a.1.clone())
                        .unwrap_or_default();
                    (!grp.split(',').any(|t| t == format!("cpu={cpu}")))
                        .then(|| format!("{account} has GrpTRESMins {grp:?}, not cpu={cpu}"))
                }
                _ => None,
            };
            if let Some(w) = wrong {
                problems.push(format!("{what}: {kind} order {uuid} is done but {w}"));
            }
        }
        problems
    }

    /// One clean cycle (no fault): must apply, verify and leave nothing. At info level:
    /// the runs under a fault are the debug ones.
    pub fn clean_cycle(&self, what: &str) -> Result<(), String> {
        let out = self
            .command(&["reconcile"])
            .env("RUST_LOG", "info")
            .output()
            .expect("agent runs");
        self.scan(&support::show(&out));
        if !out.status.success() {
            return Err(format!(
                "{what}: the clean cycle did not converge:\n{}",
                support::show(&out)
            ));
        }
        if self.open_orders() > 0 {
            return Err(format!("{what}: orders still open after a clean cycle"));
        }
        Ok(())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = &self.rt;
        support::cleanup(PREFIX);
    }
}
