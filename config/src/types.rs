//! The validated configuration: every value typed, every default filled.

use std::time::Duration;

use indexmap::IndexMap;

use crate::Secret;

#[derive(Debug, Clone)]
pub struct Config {
    pub offerings: Vec<Offering>,
    /// IANA zone that decides which billing month "now" is in.
    pub timezone: String,
    pub reporting_periods: u8,
    /// Level of the daemon's log (`DEBUG` .. `CRITICAL`) when `RUST_LOG` is not set.
    pub log_level: String,
    /// `expose_backend_error_details`: when false, an erred order tells Waldur only which
    /// change failed and how, and SLURM's message stays in the agent's log.
    pub expose_error_details: bool,
    pub agent: AgentSettings,
}

/// Settings of this agent that the Python agent does not have (`agent:` section).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// A plan deleting more than this many accounts/associations is refused unless
    /// `--allow-mass-delete` is given.
    pub max_deletions: usize,
    /// Cancel jobs (scancel) before removing an association or account.
    pub cancel_jobs: bool,
    /// When a member's association moves to another partition (a partition setting
    /// changed), cancel the jobs of the old one before removing it. Off: the old
    /// association goes once its jobs have ended (SLURM refuses to remove it before).
    pub cancel_jobs_on_partition_change: bool,
    pub apply_mode: ApplyMode,
    /// Longest a single sacctmgr/sacct/scancel call may take.
    pub command_timeout: Duration,
    /// Daemon cycle interval.
    pub cycle_interval: Duration,
    /// Longest a single Waldur request may take.
    pub http_timeout: Duration,
    /// Attempts per Waldur request (transient failures only), the first included.
    pub http_attempts: u32,
    /// Daemon: how often usage is reported.
    pub report_interval: Duration,
    /// Daemon: file rewritten with the epoch time after every cycle, for liveness probes.
    pub heartbeat_file: Option<std::path::PathBuf>,
    /// Where the agent keeps what must outlive a process: the per-cluster writer lock and
    /// the size of the last SLURM read.
    pub state_dir: std::path::PathBuf,
    /// Daemon: where `/metrics`, `/healthz`, `/readyz` and the status page are served;
    /// `None` (`http_listen: off`) serves nothing.
    pub http_listen: Option<std::net::SocketAddr>,
}

/// `agent.state_dir` when the file does not set it.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/waldur-slurm-agent";

/// `agent.http_listen` when the file does not set it: loopback only.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9787";

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            max_deletions: 10,
            cancel_jobs: true,
            cancel_jobs_on_partition_change: false,
            apply_mode: ApplyMode::Auto,
            command_timeout: Duration::from_secs(120),
            cycle_interval: Duration::from_secs(300),
            http_timeout: Duration::from_secs(60),
            http_attempts: 5,
            report_interval: Duration::from_secs(30 * 60),
            heartbeat_file: None,
            state_dir: std::path::PathBuf::from(DEFAULT_STATE_DIR),
            http_listen: DEFAULT_HTTP_LISTEN.parse().ok(),
        }
    }
}

/// How the executor feeds sacctmgr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// One process per command: exact error attribution.
    PerChange,
    /// The whole plan over one `sacctmgr -i` stdin session, verified by re-planning.
    Batch,
    /// The plan's creations as one `sacctmgr load` flat file, the rest over a session,
    /// verified by re-planning.
    Load,
    /// Load for plans with many creations, else batch for large plans, per change for
    /// small ones.
    Auto,
}

impl std::str::FromStr for ApplyMode {
    type Err = String;

    /// The config file and `--apply-mode` spell modes the same way.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ApplyMode::Auto),
            "per-change" | "per_change" => Ok(ApplyMode::PerChange),
            "batch" => Ok(ApplyMode::Batch),
            "load" => Ok(ApplyMode::Load),
            other => Err(format!(
                "{other:?} is not one of auto, per-change, batch, load"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Offering {
    pub name: String,
    /// API root, always ending in `/api/`.
    pub api_url: String,
    pub api_token: Secret,
    /// 32-character lower-case hex.
    pub uuid: String,
    pub verify_ssl: bool,
    pub order_processing: bool,
    pub membership_sync: bool,
    pub reporting: bool,
    pub slurm: SlurmSettings,
    /// Component type (= TRES name in passthrough mode) to its settings, in file order.
    pub components: IndexMap<String, Component>,
    /// Waldur's event stream (`stomp_*`, `websocket_use_tls`).
    pub events: Events,
    /// Settings of the file this agent does not act on and whose absence of effect
    /// changes what SLURM ends up holding (the plan says so at its top).
    pub ignored: Vec<String>,
}

/// Where and whether to listen to Waldur's STOMP-over-WebSocket events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events {
    /// `stomp_enabled`: `agent run` listens, and events wake the reconcile.
    pub enabled: bool,
    /// `stomp_membership_sync_enabled` (default on): also subscribe to membership and
    /// resource events (`user_role`, `resource`, `offering_user`, ...). Off: only orders
    /// (and periodic limits) arrive as events; memberships wait for the cycle.
    pub membership: bool,
    /// `stomp_ws_host`, or the host of `waldur_api_url`.
    pub host: String,
    /// `stomp_ws_port`, or the Python agent's default: 443 when `verify_ssl`, else 80.
    pub port: u16,
    /// `stomp_ws_path`, default `/rmqws-stomp` (RabbitMQ's own is `/ws`).
    pub path: String,
    /// `websocket_use_tls` (default true): `wss://`.
    pub tls: bool,
}

impl Events {
    /// `ws[s]://host:port/path`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.path)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAccountPolicy {
    /// `DefaultAccount=<default_account>`.
    Common,
    /// `DefaultAccount=<allocation account>`.
    Individual,
    /// No `DefaultAccount=` token.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlurmSettings {
    pub default_account: String,
    pub default_account_policy: DefaultAccountPolicy,
    pub root_account: String,
    pub customer_prefix: String,
    pub project_prefix: String,
    pub allocation_prefix: String,
    /// Flat tree: projects directly under this account, no customer tier.
    pub parent_account: Option<String>,
    pub cluster_name: Option<String>,
    /// Directory of sacctmgr/sacct/scancel; empty = resolve through PATH.
    pub slurm_bin_path: String,
    pub default_partition: Option<String>,
    pub enforce_offering_partitions: bool,
    pub qos_default: String,
    pub qos_downscaled: Option<String>,
    pub qos_paused: Option<String>,
    pub qos_enforcement_enabled: bool,
    pub enforce_offering_qos: Option<bool>,
    pub soft_delete: bool,
    pub periodic_limits: PeriodicLimits,
    /// Home directories, their quotas, project directories.
    pub storage: StorageSettings,
}

/// The filesystem side of an offering (`backend_settings` storage keys).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StorageSettings {
    /// `enable_user_homedir_account_creation` (on unless `false`): a home for every user
    /// the agent associates. `None` when off.
    pub homes: Option<HomeSettings>,
    /// `project_directory` when `enabled: true`.
    pub project_directory: Option<ProjectDirectory>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HomeSettings {
    /// `default_homedir_umask`, `0o077` unless set.
    pub umask: u32,
    /// `homedir_base_path`: homes are `<base>/<user>`; unset, the passwd home.
    pub base_path: Option<String>,
    pub quota: Option<HomeQuota>,
}

/// `homedir_quota`.
#[derive(Debug, Clone, PartialEq)]
pub struct HomeQuota {
    pub provider: QuotaProvider,
    /// Configured limits only, in the provider's unit (see [`QuotaLimit`]).
    pub limits: Vec<(QuotaLimit, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaProvider {
    CephXattr,
    Xfs { mount_point: String },
    Lustre { mount_point: String },
}

/// A quota limit and the unit its value is held in: bytes for `max_bytes`, KiB for block
/// limits, a count for files and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuotaLimit {
    MaxBytes,
    MaxFiles,
    BlockSoft,
    BlockHard,
    InodeSoft,
    InodeHard,
}

/// `project_directory` (enabled).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectDirectory {
    pub base_path: String,
    pub owner: String,
    /// `permissions` (`770`), without setgid.
    pub permissions: u32,
    pub set_gid: bool,
    pub set_acl: bool,
    pub group: ProjectGroup,
    pub lustre_quota: Option<LustreProjectQuota>,
}

/// Whose group a project directory gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectGroup {
    /// The group named like the allocation account.
    Account,
    /// One configured group for every project directory.
    Named(String),
}

/// `project_directory.lustre_quota`.
#[derive(Debug, Clone, PartialEq)]
pub struct LustreProjectQuota {
    pub mount_point: String,
    pub limits: Vec<(QuotaLimit, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeriodicLimits {
    /// When on, Waldur's periodic usage policy for the offering (if it has one) owns the
    /// allocations' fairshare and the entries of its limit field; orders then do not write
    /// that field (they would fight).
    pub enabled: bool,
    /// The limit type when neither the published settings nor the policy name one.
    pub limit_type: LimitType,
    /// Periodic settings go to slurm-emulator's API instead of sacctmgr.
    pub emulator_mode: bool,
    /// slurm-emulator's API root (`http://localhost:8080`).
    pub emulator_base_url: String,
}

/// `periodic_limits.emulator_base_url` when the file does not set it (the Python agent's).
pub const DEFAULT_EMULATOR_URL: &str = "http://localhost:8080";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitType {
    GrpTresMins,
    MaxTresMins,
    GrpTres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountingType {
    /// Limit comes from this config's `limit`.
    Usage,
    /// Limit comes from the Waldur resource.
    Limit,
    /// Prepaid: like `Limit`, multiplied by the subscription length in months.
    One,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub measured_unit: String,
    pub label: String,
    pub unit_factor: f64,
    pub accounting_type: AccountingType,
    pub limit: Option<f64>,
    /// Mapping mode: target TRES -> factor.
    pub target_components: Option<IndexMap<String, f64>>,
}
