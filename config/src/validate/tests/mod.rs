//! Tests of the whole load, by theme; `GOOD` is the valid Python-agent config they vary.
//!
//! - `general`: reading, reporting (path and line), unknown and ignored keys, the `agent:`
//!   section, values that would fail every resource;
//! - `storage`: homes, home quotas and project directories;
//! - `periodic`: `periodic_limits`;
//! - `token`: the API token's sources, and that no message shows it.

mod general;
mod periodic;
mod storage;
mod token;

const GOOD: &str = r#"
timezone: "Europe/Tallinn"
offerings:
  - name: "HPC"
    waldur_api_url: "https://waldur.example.org/api/"
    waldur_api_token: "0123456789abcdef0123456789abcdef01234567"
    waldur_offering_uuid: "d629d5e4-5567-425d-a9cd-bdc1af67b32c"
    backend_type: "slurm"
    order_processing_backend: "slurm"
    membership_sync_backend: "slurm"
    backend_settings:
      enable_user_homedir_account_creation: false
      default_account: "root"
      customer_prefix: "c_"
      project_prefix: "p_"
      allocation_prefix: "a_"
      cluster_name: "hpc1"
      qos_paused: "paused"
    backend_components:
      cpu:
        measured_unit: "k-Hours"
        unit_factor: 60000
        accounting_type: "limit"
        label: "CPU"
      mem:
        limit: 10
        measured_unit: "GB-Hours"
        unit_factor: 61440
        accounting_type: "usage"
        label: "RAM"
"#;
