//! The synthetic site: N allocations with M users each, ten allocations per project and
//! ten projects per customer by default, all live (state OK, backend_id set, QoS recorded),
//! every team member an offering user in state OK. The same names feed the fake Waldur's
//! seed, the agent's config, the drift and the synthetic sacct rows.

use std::path::Path;

use anyhow::{Context, Result};
use fake_waldur::Seed;
use serde_json::{json, Value};

pub const OFFERING: &str = "f0000000000000000000000000000001";
const PROVIDER: &str = "c0000000000000000000000000000000";
const AGENT_USER: &str = "a0000000000000000000000000000099";
/// A token only the bench's own fake accepts.
pub const TOKEN: &str = "bench-token-3c1d9a7e5f";

#[derive(Debug, Clone)]
pub struct World {
    pub prefix: String,
    pub allocations: usize,
    pub users_per_project: usize,
    pub allocs_per_project: usize,
    pub projects_per_customer: usize,
}

/// A 32-digit hex UUID: `tag` names the kind of object, `i` its index.
fn uuid(tag: u32, i: usize) -> String {
    format!("{tag:08x}{i:024x}")
}

impl World {
    pub fn projects(&self) -> usize {
        self.allocations.div_ceil(self.allocs_per_project)
    }

    pub fn customers(&self) -> usize {
        self.projects().div_ceil(self.projects_per_customer)
    }

    pub fn associations(&self) -> usize {
        self.allocations * self.users_per_project
    }

    /// Accounts the agent owns: customers, projects and allocations.
    pub fn accounts(&self) -> usize {
        self.customers() + self.projects() + self.allocations
    }

    pub fn allocation(&self, i: usize) -> String {
        format!("{}a_{i:05}", self.prefix)
    }

    pub fn allocation_names(&self) -> Vec<String> {
        (0..self.allocations).map(|i| self.allocation(i)).collect()
    }

    /// The fake Waldur's uuid of project `p`.
    pub fn project_uuid(&self, p: usize) -> String {
        uuid(0xb0, p)
    }

    pub fn project_of(&self, allocation: usize) -> usize {
        allocation / self.allocs_per_project
    }

    pub fn username(&self, project: usize, j: usize) -> String {
        format!(
            "{}u{:05}",
            self.prefix,
            project * self.users_per_project + j
        )
    }

    pub fn users_of_project(&self, project: usize) -> Vec<String> {
        (0..self.users_per_project)
            .map(|j| self.username(project, j))
            .collect()
    }

    /// The allocations of one project, in index order.
    pub fn allocations_of_project(&self, project: usize) -> Vec<String> {
        let first = project * self.allocs_per_project;
        let last = (first + self.allocs_per_project).min(self.allocations);
        (first..last).map(|i| self.allocation(i)).collect()
    }

    /// The fake Waldur's seed document.
    pub fn seed(&self) -> Result<Seed> {
        let m = self.users_per_project;
        let mut users = vec![json!({"uuid": AGENT_USER, "username": "bench-agent",
                                    "is_staff": true, "token": TOKEN})];
        let mut offering_users = Vec::new();
        let mut projects = Vec::new();
        for p in 0..self.projects() {
            let mut members = Vec::new();
            for j in 0..m {
                let user = uuid(0xa0, p * m + j);
                let name = self.username(p, j);
                users.push(json!({"uuid": user, "username": name, "full_name": format!("User {}", p * m + j)}));
                offering_users.push(json!({"uuid": uuid(0xd0, p * m + j), "offering": OFFERING,
                                           "user": user, "username": name, "state": "OK"}));
                members.push(json!({"user": user, "role": "PROJECT.MEMBER"}));
            }
            projects.push(
                json!({"uuid": self.project_uuid(p), "name": format!("Project {p}"),
                                 "slug": format!("p{p:04}"),
                                 "customer": uuid(0xc0, p / self.projects_per_customer),
                                 "members": members}),
            );
        }
        let mut customers =
            vec![json!({"uuid": PROVIDER, "name": "HPC Centre", "slug": "provider"})];
        customers.extend((0..self.customers()).map(|c| {
            json!({"uuid": uuid(0xc0, c), "name": format!("Customer {c}"), "slug": format!("c{c:03}")})
        }));
        let resources: Vec<Value> = (0..self.allocations)
            .map(|i| {
                json!({"uuid": uuid(0xe0, i), "name": format!("Alloc {i}"), "slug": format!("alloc-{i}"),
                       "offering": OFFERING, "project": uuid(0xb0, self.project_of(i)),
                       "state": "OK", "backend_id": self.allocation(i),
                       "limits": {"cpu": 5 + i % 7}, "backend_metadata": {"qos": "normal"}})
            })
            .collect();
        let seed = json!({
            "users": users,
            "customers": customers,
            "projects": projects,
            "offerings": [{"uuid": OFFERING, "name": "Bench cluster", "customer": PROVIDER,
                           "components": [{"type": "cpu", "measured_unit": "k-Hours", "billing_type": "limit"}]}],
            "offering_users": offering_users,
            "resources": resources,
        });
        serde_json::from_value(seed).context("the generated seed does not parse")
    }

    /// The agent's configuration (the waldur-site-agent YAML).
    pub fn config(&self, api_url: &str, cluster: &str, bin_dir: &Path, state_dir: &Path) -> String {
        let p = &self.prefix;
        format!(
            r#"timezone: UTC
# one sacct call per report: the bench's R rows are read once
reporting_periods: 1
offerings:
  - name: bench
    waldur_api_url: {api_url}
    waldur_api_token: {TOKEN}
    waldur_offering_uuid: "{OFFERING}"
    backend_type: slurm
    order_processing_backend: slurm
    membership_sync_backend: slurm
    reporting_backend: slurm
    backend_settings:
      cluster_name: {cluster}
      slurm_bin_path: "{bin}"
      default_account: root
      customer_prefix: {p}c_
      project_prefix: {p}p_
      allocation_prefix: {p}a_
      qos_default: normal
      # the bench measures the SLURM side against its floor; homes are a separate sink
      enable_user_homedir_account_creation: false
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
agent:
  max_deletions: 1000000
  apply_mode: auto
  # the site's own: the record of the last read is the bench's, not another agent's
  state_dir: "{state}"
"#,
            bin = bin_dir.display(),
            state = state_dir.display()
        )
    }
}
