//! Waldur documents as the API returns them. Only what the agent uses is modelled; keys
//! the agent depends on are required, so a truncated or malformed document is an error
//! rather than a silently empty desired state.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// `GET /api/marketplace-provider-offerings/{uuid}/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Offering {
    pub uuid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub components: Vec<OfferingComponent>,
    #[serde(default)]
    pub partitions: Vec<Partition>,
    #[serde(default)]
    pub plugin_options: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OfferingComponent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub billing_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Partition {
    pub partition_name: String,
}

/// An item of `GET /api/marketplace-provider-resources/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    pub uuid: String,
    pub name: String,
    pub slug: String,
    pub state: String,
    #[serde(default)]
    pub backend_id: Option<String>,
    pub project_uuid: String,
    pub project_slug: Option<String>,
    #[serde(default)]
    pub project_name: String,
    pub customer_slug: Option<String>,
    #[serde(default)]
    pub customer_name: String,
    #[serde(default)]
    pub limits: BTreeMap<String, Value>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub downscaled: bool,
    #[serde(default)]
    pub restrict_member_access: bool,
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
    #[serde(default)]
    pub offering_plugin_options: BTreeMap<String, Value>,
    /// Free-form; the agent records the account's QoS under `qos`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub backend_metadata: BTreeMap<String, Value>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
}

impl Resource {
    pub fn backend_id(&self) -> Option<&str> {
        self.backend_id.as_deref().filter(|b| !b.is_empty())
    }
}

/// An item of `GET /api/marketplace-provider-resources/{uuid}/team/`.
#[derive(Debug, Clone, Deserialize)]
pub struct TeamMember {
    pub username: String,
    pub offering_user_username: Option<String>,
    pub offering_user_state: Option<String>,
}

/// An item of `GET /api/marketplace-orders/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: OrderKind,
    pub state: OrderState,
    pub marketplace_resource_uuid: String,
    #[serde(default)]
    pub limits: BTreeMap<String, Value>,
}

/// A Waldur enumeration: the values the agent knows, and `Other` for the rest, so one odd
/// value loads instead of failing the whole offering's read.
macro_rules! waldur_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(from = "String")]
        pub enum $name {
            $($variant,)+
            Other(String),
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($text => Self::$variant,)+
                    _ => Self::Other(s),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                })
            }
        }
    };
}

waldur_enum! {
    /// An order's `type`.
    OrderKind {
        Create = "Create",
        Update = "Update",
        Terminate = "Terminate",
        Restore = "Restore",
    }
}

waldur_enum! {
    /// An order's `state`.
    OrderState {
        PendingConsumer = "pending-consumer",
        PendingProvider = "pending-provider",
        PendingProject = "pending-project",
        PendingStartDate = "pending-start-date",
        Executing = "executing",
        Done = "done",
        Erred = "erred",
        Canceled = "canceled",
        Rejected = "rejected",
    }
}

impl OrderKind {
    /// Create and Restore bring an allocation (back) into SLURM.
    pub fn provisions(&self) -> bool {
        matches!(self, OrderKind::Create | OrderKind::Restore)
    }
}

impl OrderState {
    /// The states the agent reads and drives; orders in any other state are not its to act on.
    pub const DRIVEN: [OrderState; 2] = [OrderState::PendingProvider, OrderState::Executing];
}

/// An item of `GET /api/component-user-usage-limits/`.
#[derive(Debug, Clone, Deserialize)]
pub struct UserUsageLimit {
    /// A username.
    pub user: String,
    pub component_type: String,
    pub limit: Value,
}

/// Everything the desired state of one offering is built from.
#[derive(Debug, Clone)]
pub struct WaldurDocs {
    pub offering: Offering,
    pub resources: Vec<Resource>,
    /// Resource UUID -> team.
    pub teams: BTreeMap<String, Vec<TeamMember>>,
    /// Orders in pending-provider or executing.
    pub orders: Vec<Order>,
    /// Resource UUID -> per-user limits; `None` when per-user limits are not read.
    pub user_limits: Option<BTreeMap<String, Vec<UserUsageLimit>>>,
}

/// Waldur sends `null` for some free-form objects; treat it as empty.
fn null_as_empty<'de, D>(d: D) -> Result<BTreeMap<String, Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default())
}

/// Normalises a UUID to 32 lower-case hex digits.
pub fn hex(uuid: &str) -> String {
    uuid.replace('-', "").to_ascii_lowercase()
}

/// A JSON number or numeric string as f64 (Waldur sends limits both ways).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
