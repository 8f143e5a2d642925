//! The stored objects. The same structs are the seed format (`POST
//! /__fake__/seed`) and the dump (`GET /__fake__/state`), so a dump can be
//! fed back as a seed. References between objects are UUIDs (hex or dashed
//! in a seed; hex once loaded). Every field has a default so that seeds and
//! Rust constructors only spell out what matters; `seed::load` fills the rest.

use crate::decimal::Amount;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Object = Map<String, Value>;

pub const ORDER_STATES: &[&str] = &[
    "pending-consumer",
    "pending-provider",
    "pending-project",
    "pending-start-date",
    "executing",
    "done",
    "erred",
    "canceled",
    "rejected",
];
pub const ORDER_TYPES: &[&str] = &["Create", "Update", "Terminate", "Restore"];
pub const RESOURCE_STATES: &[&str] = &[
    "Creating",
    "OK",
    "Erred",
    "Updating",
    "Terminating",
    "Terminated",
];
pub const OFFERING_USER_STATES: &[&str] = &[
    "Requested",
    "Creating",
    "Pending account linking",
    "Pending additional validation",
    "OK",
    "Requested deletion",
    "Deleting",
    "Deleted",
    "Error creating",
    "Error deleting",
];
pub const OFFERING_STATES: &[&str] = &["Draft", "Active", "Paused", "Archived", "Unavailable"];
pub const BILLING_TYPES: &[&str] = &["usage", "limit", "fixed", "one", "few"];
pub const AGENT_SERVICE_STATES: &[&str] = &["Active", "Idle", "Error"];
/// What an event subscription or a consumer queue can observe (waldur-api.md §4).
pub const OBSERVABLE_OBJECT_TYPES: &[&str] = &[
    "order",
    "user_role",
    "resource",
    "service_account",
    "course_account",
    "importable_resources",
    "resource_periodic_limits",
    "offering_user",
    "offering_resources_sync",
    "resource_api_key_rotation",
    "user_lifecycle",
    "user_profile",
    "user_ssh_key",
];

/// The whole fake database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seed {
    pub settings: Settings,
    pub users: Vec<User>,
    pub customers: Vec<Customer>,
    pub projects: Vec<Project>,
    pub offerings: Vec<Offering>,
    pub offering_users: Vec<OfferingUser>,
    pub resources: Vec<Resource>,
    pub orders: Vec<Order>,
    pub component_usages: Vec<ComponentUsage>,
    pub user_usage_limits: Vec<UserUsageLimit>,
    /// `SlurmPeriodicUsagePolicy`, at most one per offering.
    pub periodic_policies: Vec<PeriodicPolicy>,
    /// What agents reported with `report-command-result`, oldest first.
    pub command_results: Vec<CommandResult>,
    pub agent_identities: Vec<AgentIdentity>,
    pub agent_services: Vec<AgentService>,
    pub agent_processors: Vec<AgentProcessor>,
    /// The unified scheme: one `consumer_<uuid>` queue per agent identity.
    pub event_consumers: Vec<EventConsumer>,
    /// The older per-object-type scheme (E1/E2).
    pub event_subscriptions: Vec<EventSubscription>,
    pub event_subscription_queues: Vec<EventSubscriptionQueue>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Server time zone as a fixed UTC offset; billing months are computed in it.
    pub utc_offset_minutes: i32,
    /// Frozen "now" (ISO datetime). `None` follows the system clock.
    pub now: Option<String>,
    /// Behave like a Mastermind that predates the unified queue: `register_queue` is 404.
    pub register_queue_missing: bool,
    /// Added to every `/api/` request before it is served (a tokio sleep, so requests in
    /// flight overlap as they would over a real network): what a remote Waldur costs.
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct User {
    pub uuid: String,
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub is_staff: bool,
    /// API token (`Authorization: Token <token>`); `None` = cannot log in.
    pub token: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Customer {
    pub uuid: String,
    pub name: String,
    pub slug: String,
    pub abbreviation: String,
    /// Users holding CUSTOMER.OWNER (shown in `users/me` permissions).
    pub owners: Vec<String>,
    /// UUID of the customer's service-provider record (generated if empty).
    pub service_provider_uuid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Project {
    pub uuid: String,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub customer: String,
    pub end_date: Option<String>,
    pub created: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Member {
    pub user: String,
    /// `PROJECT.MEMBER` (default), `PROJECT.ADMIN`, `PROJECT.MANAGER`, or any string.
    pub role: String,
    pub expiration_time: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Offering {
    pub uuid: String,
    pub name: String,
    pub customer: String,
    /// Defaults to `Marketplace.Slurm`.
    #[serde(rename = "type")]
    pub offering_type: String,
    pub state: String,
    pub backend_id: String,
    pub plugin_options: Object,
    pub partitions: Vec<Value>,
    pub components: Vec<Component>,
    pub created: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Component {
    pub uuid: String,
    #[serde(rename = "type")]
    pub component_type: String,
    pub name: String,
    pub description: String,
    pub measured_unit: String,
    /// `usage` (default), `limit`, `fixed`, `one`, `few`.
    pub billing_type: String,
    pub limit_amount: Option<i64>,
    pub limit_period: Option<String>,
    /// Defaults to 1.
    pub unit_factor: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfferingUser {
    pub uuid: String,
    pub offering: String,
    pub user: String,
    pub username: Option<String>,
    /// Defaults to `OK`.
    pub state: String,
    pub is_restricted: bool,
    pub created: String,
    pub modified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resource {
    pub uuid: String,
    pub name: String,
    /// Derived from `name` if empty.
    pub slug: String,
    pub offering: String,
    pub project: String,
    pub plan: Option<String>,
    /// Defaults to `OK`.
    pub state: String,
    pub backend_id: String,
    pub limits: Object,
    pub attributes: Object,
    pub backend_metadata: Object,
    pub paused: bool,
    pub downscaled: bool,
    pub restrict_member_access: bool,
    pub end_date: Option<String>,
    pub end_date_updated_at: Option<String>,
    pub created: String,
    pub modified: String,
    pub last_sync: Option<String>,
    pub error_message: String,
    pub error_traceback: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Order {
    pub uuid: String,
    /// `Create`, `Update`, `Terminate` or `Restore` (required).
    #[serde(rename = "type")]
    pub order_type: String,
    /// Defaults to `pending-provider`.
    pub state: String,
    pub resource: String,
    pub limits: Object,
    pub attributes: Object,
    pub plan: Option<String>,
    pub backend_id: String,
    pub error_message: String,
    pub error_traceback: String,
    pub created: String,
    pub modified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComponentUsage {
    pub uuid: String,
    pub resource: String,
    #[serde(rename = "type")]
    pub component_type: String,
    /// `YYYY-MM-01`.
    pub billing_period: String,
    pub usage: Amount,
    /// When the usage was reported (ISO datetime); defaults to `billing_period`.
    pub date: String,
    pub description: String,
    pub recurring: bool,
    pub created: String,
    pub modified: String,
    pub user_usages: Vec<UserUsage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserUsage {
    pub uuid: String,
    pub username: String,
    pub usage: Amount,
    /// Offering user UUID, if the reporter linked one.
    pub user: Option<String>,
    pub date: String,
    pub created: String,
    pub modified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserUsageLimit {
    pub uuid: String,
    pub resource: String,
    pub component_type: String,
    /// A username (that is what Waldur puts in `user`).
    pub user: String,
    pub limit: Option<Amount>,
}

/// A periodic usage policy of an offering; unset parameters get Mastermind's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeriodicPolicy {
    pub uuid: String,
    /// The offering (the policy's `scope`).
    pub offering: String,
    pub actions: String,
    /// 1 total, 2 month, 3 quarter (default), 4 year.
    pub period: Option<i64>,
    pub limit_type: String,
    pub tres_billing_enabled: Option<bool>,
    pub tres_billing_weights: Object,
    /// Defaults to 50, unless `fairshare_decay_half_life` is set (an older Mastermind,
    /// which has no carry-over factor).
    pub carryover_factor: Option<i64>,
    pub fairshare_decay_half_life: Option<i64>,
    pub grace_ratio: Option<f64>,
    pub carryover_enabled: Option<bool>,
    pub raw_usage_reset: Option<bool>,
    pub qos_strategy: String,
    pub component_limits: Vec<PolicyComponentLimit>,
    pub created: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyComponentLimit {
    #[serde(rename = "type")]
    pub component_type: String,
    pub limit: i64,
}

/// One `report-command-result` call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandResult {
    pub policy: String,
    /// Hex, however the agent sent it.
    pub resource_uuid: String,
    pub success: bool,
    pub error_message: String,
    pub mode: String,
    pub commands_executed: Vec<String>,
    pub received: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentIdentity {
    pub uuid: String,
    pub offering: String,
    /// Unique; the agent uses `agent-<offering uuid hex>`.
    pub name: String,
    pub version: Option<String>,
    pub dependencies: Vec<Value>,
    pub config_file_path: String,
    pub config_file_content: String,
    pub last_restarted: Option<String>,
    /// The user whose token created it; owns the vhost of its consumer queue.
    pub created_by: Option<String>,
    pub created: String,
    pub modified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentService {
    pub uuid: String,
    pub identity: String,
    pub name: String,
    pub mode: Option<String>,
    /// `Active` (default), `Idle` or `Error`.
    pub state: String,
    pub statistics: Object,
    pub created: String,
    pub modified: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentProcessor {
    pub uuid: String,
    pub service: String,
    pub name: String,
    pub backend_type: String,
    pub backend_version: Option<String>,
    pub last_run: Option<String>,
    pub created: String,
    pub modified: String,
}

/// The unified consumer queue of an agent identity (`register_queue`). Its RabbitMQ user is
/// its UUID (hex), its queue `consumer_<uuid hex>`, its vhost the owner's UUID (hex).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventConsumer {
    pub uuid: String,
    pub identity: String,
    /// Owner: the vhost is named after this user.
    pub user: String,
    /// Empty = every object type.
    pub object_types: Vec<String>,
    pub created: String,
    pub modified: String,
}

/// E1: one per (user, object type). Its RabbitMQ user is its UUID (hex), its vhost the user's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSubscription {
    pub uuid: String,
    pub user: String,
    pub object_type: String,
    pub description: String,
    pub created: String,
    pub modified: String,
}

/// E2: queue `subscription_<sub hex>_offering_<offering hex>_<object_type>` in the vhost of
/// the subscription's user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSubscriptionQueue {
    pub uuid: String,
    pub subscription: String,
    pub offering: String,
    pub object_type: String,
    pub created: String,
}

impl EventConsumer {
    pub fn rmq_username(&self) -> &str {
        &self.uuid
    }
    pub fn queue_name(&self) -> String {
        format!("consumer_{}", self.uuid)
    }
    pub fn vhost(&self) -> &str {
        &self.user
    }
    /// Whether messages of `object_type` reach this queue.
    pub fn observes(&self, object_type: &str) -> bool {
        self.object_types.is_empty() || self.object_types.iter().any(|t| t == object_type)
    }
}

impl EventSubscriptionQueue {
    pub fn queue_name(&self) -> String {
        format!(
            "subscription_{}_offering_{}_{}",
            self.subscription, self.offering, self.object_type
        )
    }
}
