//! The configuration as written: every known key is kept with its source line; values
//! stay untyped JSON so that a wrong type becomes a collected problem, not an abort.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A value as written, with where it was written.
pub type Leaf = Option<Spanned<serde_json::Value>>;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    pub offerings: Option<Spanned<Vec<Spanned<RawOffering>>>>,
    pub timezone: Leaf,
    pub log_level: Leaf,
    pub reporting_periods: Leaf,
    pub sentry_dsn: Leaf,
    pub global_proxy: Leaf,
    pub expose_backend_error_details: Leaf,
    pub agent: Option<Spanned<RawAgent>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawOffering {
    pub name: Leaf,
    pub waldur_api_url: Leaf,
    pub waldur_api_token: Leaf,
    pub waldur_api_token_file: Leaf,
    pub waldur_offering_uuid: Leaf,
    pub backend_type: Leaf,
    pub verify_ssl: Leaf,
    pub order_processing_backend: Leaf,
    pub membership_sync_backend: Leaf,
    pub reporting_backend: Leaf,
    pub username_management_backend: Leaf,
    pub stomp_enabled: Leaf,
    pub stomp_membership_sync_enabled: Leaf,
    pub stomp_ws_host: Leaf,
    pub stomp_ws_port: Leaf,
    pub stomp_ws_path: Leaf,
    pub websocket_use_tls: Leaf,
    pub backend_settings: Option<Spanned<RawBackendSettings>>,
    pub backend_components: Option<Spanned<IndexMap<String, Spanned<RawComponent>>>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawBackendSettings {
    pub default_account: Leaf,
    pub default_account_policy: Leaf,
    pub root_account: Leaf,
    pub customer_prefix: Leaf,
    pub project_prefix: Leaf,
    pub allocation_prefix: Leaf,
    pub parent_account: Leaf,
    pub cluster_name: Leaf,
    pub slurm_bin_path: Leaf,
    pub execution_mode: Leaf,
    pub default_partition: Leaf,
    pub enforce_offering_partitions: Leaf,
    pub qos_default: Leaf,
    pub qos_downscaled: Leaf,
    pub qos_paused: Leaf,
    pub qos_enforcement_enabled: Leaf,
    pub enforce_offering_qos: Leaf,
    pub soft_delete: Leaf,
    pub periodic_limits: Option<Spanned<RawPeriodicLimits>>,
    pub enable_user_homedir_account_creation: Leaf,
    pub default_homedir_umask: Leaf,
    pub homedir_base_path: Leaf,
    pub homedir_quota: Option<Spanned<RawHomedirQuota>>,
    pub project_directory: Option<Spanned<RawProjectDirectory>>,
}

/// `backend_settings.homedir_quota`.
#[derive(Debug, Default, Deserialize)]
pub struct RawHomedirQuota {
    pub provider: Leaf,
    pub mount_point: Leaf,
    pub block_softlimit: Leaf,
    pub block_hardlimit: Leaf,
    pub inode_softlimit: Leaf,
    pub inode_hardlimit: Leaf,
    pub max_bytes: Leaf,
    pub max_files: Leaf,
}

/// `backend_settings.project_directory`.
#[derive(Debug, Default, Deserialize)]
pub struct RawProjectDirectory {
    pub enabled: Leaf,
    pub base_path: Leaf,
    pub owner: Leaf,
    pub permissions: Leaf,
    pub set_gid: Leaf,
    pub set_acl: Leaf,
    pub group_owner_source: Leaf,
    pub group_name: Leaf,
    pub lustre_quota: Option<Spanned<RawLustreQuota>>,
}

/// `backend_settings.project_directory.lustre_quota`.
#[derive(Debug, Default, Deserialize)]
pub struct RawLustreQuota {
    pub mount_point: Leaf,
    pub block_softlimit: Leaf,
    pub block_hardlimit: Leaf,
    pub inode_softlimit: Leaf,
    pub inode_hardlimit: Leaf,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawPeriodicLimits {
    pub enabled: Leaf,
    pub limit_type: Leaf,
    pub emulator_mode: Leaf,
    pub emulator_base_url: Leaf,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawComponent {
    pub measured_unit: Leaf,
    pub unit_factor: Leaf,
    pub accounting_type: Leaf,
    pub label: Leaf,
    pub limit: Leaf,
    pub target_components: Leaf,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawAgent {
    pub max_deletions: Leaf,
    pub cancel_jobs: Leaf,
    pub cancel_jobs_on_partition_change: Leaf,
    pub apply_mode: Leaf,
    pub command_timeout: Leaf,
    pub cycle_interval: Leaf,
    pub http_timeout: Leaf,
    pub http_attempts: Leaf,
    pub report_interval: Leaf,
    pub heartbeat_file: Leaf,
    pub state_dir: Leaf,
    pub http_listen: Leaf,
}

/// Keys this agent reads, per section; anything else is reported as a warning. Keys the
/// Python agent reads but this agent does not need are listed as known so that existing
/// config files load without noise.
pub mod known {
    pub const TOP: &[&str] = &[
        "offerings",
        "timezone",
        "log_level",
        "reporting_periods",
        "sentry_dsn",
        "elastic_apm_server_url",
        "global_proxy",
        "expose_backend_error_details",
        "log_shipping",
        "agent",
    ];
    pub const OFFERING: &[&str] = &[
        "name",
        "waldur_api_url",
        "waldur_api_token",
        "waldur_api_token_file",
        "waldur_offering_uuid",
        "backend_type",
        "verify_ssl",
        "order_processing_backend",
        "membership_sync_backend",
        "reporting_backend",
        "username_management_backend",
        "stomp_enabled",
        "stomp_membership_sync_enabled",
        "stomp_ws_host",
        "stomp_ws_port",
        "stomp_ws_path",
        "websocket_use_tls",
        "resource_import_enabled",
        "username_reconciliation_enabled",
        "backend_settings",
        "backend_components",
        "oidc_token_url",
        "oidc_client_id",
        "oidc_client_secret",
        "mqtt_enabled",
    ];
    pub const BACKEND_SETTINGS: &[&str] = &[
        "default_account",
        "default_account_policy",
        "root_account",
        "customer_prefix",
        "project_prefix",
        "allocation_prefix",
        "parent_account",
        "cluster_name",
        "slurm_bin_path",
        "execution_mode",
        "rest_api",
        "default_partition",
        "enforce_offering_partitions",
        "qos_default",
        "qos_downscaled",
        "qos_paused",
        "qos_enforcement_enabled",
        "enforce_offering_qos",
        "qos_management",
        "project_directory",
        "homedir_quota",
        "homedir_base_path",
        "enable_user_homedir_account_creation",
        "default_homedir_umask",
        "ldap",
        "periodic_limits",
        "soft_delete",
        "check_backend_id_uniqueness",
        "check_all_offerings",
        "backend_id_max_retries",
    ];
    pub const HOMEDIR_QUOTA: &[&str] = &[
        "provider",
        "mount_point",
        "block_softlimit",
        "block_hardlimit",
        "inode_softlimit",
        "inode_hardlimit",
        "max_bytes",
        "max_files",
    ];
    pub const PROJECT_DIRECTORY: &[&str] = &[
        "enabled",
        "base_path",
        "owner",
        "permissions",
        "set_gid",
        "set_acl",
        "group_owner_source",
        "group_name",
        "lustre_quota",
    ];
    pub const LUSTRE_QUOTA: &[&str] = &[
        "mount_point",
        "block_softlimit",
        "block_hardlimit",
        "inode_softlimit",
        "inode_hardlimit",
    ];
    /// `backend_settings.periodic_limits`: what this agent reads, and the older agents'
    /// keys (warned about as having no effect).
    pub const PERIODIC_LIMITS: &[&str] = &[
        "enabled",
        "limit_type",
        "emulator_mode",
        "emulator_base_url",
        "tres_billing_enabled",
        "tres_billing_weights",
        "fairshare_decay_half_life",
        "grace_ratio",
        "default_grace_ratio",
        "carryover_enabled",
        "raw_usage_reset",
        "qos_levels",
        "api_endpoints",
    ];
    pub const COMPONENT: &[&str] = &[
        "measured_unit",
        "unit_factor",
        "accounting_type",
        "label",
        "limit",
        "target_components",
    ];
    /// Component keys only `waldur_site_load_components` reads (it pushes them to
    /// Waldur): known, and named at load as without effect here.
    pub const COMPONENT_METADATA: &[&str] = &[
        "unit_factor_reporting",
        "description",
        "min_value",
        "max_value",
        "max_available_limit",
        "default_limit",
        "limit_period",
        "article_code",
        "is_boolean",
        "is_prepaid",
        "min_prepaid_duration",
        "max_prepaid_duration",
        "prepaid_duration_step",
        "min_renewal_duration",
        "max_renewal_duration",
        "renewal_duration_step",
    ];
    pub const AGENT: &[&str] = &[
        "max_deletions",
        "cancel_jobs",
        "cancel_jobs_on_partition_change",
        "apply_mode",
        "command_timeout",
        "cycle_interval",
        "http_timeout",
        "http_attempts",
        "report_interval",
        "heartbeat_file",
        "state_dir",
        "http_listen",
    ];
}
