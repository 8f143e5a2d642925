//! Waldur documents as the API returns them. Only what the agent uses is modelled; keys
//! the agent's decisions depend on are required (`null` allowed where Waldur sends it),
//! so a truncated, degraded or malformed document is a failed read rather than a
//! silently different desired state: a resource without `paused` is not "not paused", a
//! team member without its offering user is not "no longer a member". Every UUID is
//! checked to be 32 hex digits (dashed or not) and held as lower-case hex: UUIDs go into
//! request paths, snapshot file names and the plan.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// `GET /api/marketplace-provider-offerings/{uuid}/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Offering {
    #[serde(deserialize_with = "uuid")]
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
    /// `month`, `quarterly`, `annual` or `total` (limit-billed components).
    #[serde(default)]
    pub limit_period: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Partition {
    pub partition_name: String,
}

/// An item of `GET /api/marketplace-provider-resources/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    #[serde(deserialize_with = "uuid")]
    pub uuid: String,
    /// Checked against the offering asked for (older snapshots may leave it out).
    #[serde(default, deserialize_with = "optional_uuid")]
    pub offering_uuid: Option<String>,
    pub name: String,
    pub slug: String,
    pub state: String,
    #[serde(deserialize_with = "Option::deserialize")]
    pub backend_id: Option<String>,
    #[serde(deserialize_with = "uuid")]
    pub project_uuid: String,
    #[serde(deserialize_with = "Option::deserialize")]
    pub project_slug: Option<String>,
    pub project_name: String,
    #[serde(deserialize_with = "Option::deserialize")]
    pub customer_slug: Option<String>,
    pub customer_name: String,
    pub limits: BTreeMap<String, Value>,
    pub paused: bool,
    pub downscaled: bool,
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
    #[serde(deserialize_with = "Option::deserialize")]
    pub offering_user_username: Option<String>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub offering_user_state: Option<String>,
}

/// An item of `GET /api/marketplace-orders/`.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    #[serde(deserialize_with = "uuid")]
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: OrderKind,
    pub state: OrderState,
    #[serde(deserialize_with = "uuid")]
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
    /// The resource's URL (`…/api/marketplace-resources/<hex>/`); an offering-wide list
    /// is grouped by it. Snapshots, recorded per resource, may leave it out.
    #[serde(default)]
    pub resource: Option<String>,
    /// A username.
    pub user: String,
    pub component_type: String,
    pub limit: Value,
}

/// An item of `GET /api/marketplace-component-usages/` (the fields the carry-over reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentUsage {
    #[serde(deserialize_with = "uuid")]
    pub resource_uuid: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// A decimal string (`"12.50"`).
    pub usage: Value,
    /// `YYYY-MM-DD`, the first of the billing month.
    pub billing_period: String,
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
    /// The offering's periodic usage policies (read with `periodic_limits.enabled`; at most
    /// one in Waldur). Empty: no policy manages the offering.
    pub policies: Vec<crate::periodic::Policy>,
    /// Component usage of the previous policy period, for carry-over.
    pub usages: crate::periodic::Usages,
}

impl WaldurDocs {
    /// Whether the documents can be one consistent read of offering `offering_uuid` (hex):
    /// the offering asked for, every resource of that offering, and every resource and
    /// order listed once. Page-number
    /// pagination over a list that changes while it is read repeats one item and drops
    /// another with the same total count, so a repeat means the list is not the whole
    /// truth.
    pub fn consistent(&self, offering_uuid: &str) -> Result<(), String> {
        if self.offering.uuid != offering_uuid {
            return Err(format!(
                "the offering document is offering {}, not {offering_uuid}",
                self.offering.uuid
            ));
        }
        fn repeated<'a>(uuids: impl Iterator<Item = &'a str>) -> Option<&'a str> {
            let mut seen = std::collections::BTreeSet::new();
            uuids.into_iter().find(|u| !seen.insert(*u))
        }
        if let Some(r) = self.resources.iter().find(|r| {
            r.offering_uuid
                .as_deref()
                .is_some_and(|o| o != offering_uuid)
        }) {
            return Err(format!(
                "resource {} is of offering {}: the list is not this offering's",
                r.uuid,
                r.offering_uuid.as_deref().unwrap_or("?")
            ));
        }
        if let Some(u) = repeated(self.resources.iter().map(|r| r.uuid.as_str())) {
            return Err(format!(
                "resource {u} is listed twice: the resource list changed while it was read"
            ));
        }
        if let Some(u) = repeated(self.orders.iter().map(|o| o.uuid.as_str())) {
            return Err(format!(
                "order {u} is listed twice: the order list changed while it was read"
            ));
        }
        Ok(())
    }
}

/// Waldur sends `null` for some free-form objects; treat it as empty.
fn null_as_empty<'de, D>(d: D) -> Result<BTreeMap<String, Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default())
}

/// Normalises a UUID to 32 lower-case hex digits (for UUIDs already checked: documents,
/// the configuration).
pub fn hex(uuid: &str) -> String {
    uuid.replace('-', "").to_ascii_lowercase()
}

/// A UUID as Waldur writes it, dashed or not, as 32 lower-case hex digits; anything else
/// (a newline, `../`, a name) is `None`.
pub fn checked_uuid(text: &str) -> Option<String> {
    let hex = hex(text);
    let dashes_ok = !text.contains('-')
        || (text.len() == 36 && [8, 13, 18, 23].iter().all(|&i| text.as_bytes()[i] == b'-'));
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && dashes_ok).then_some(hex)
}

pub(crate) fn uuid<'de, D>(d: D) -> Result<String, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    checked_uuid(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{:?} is not a UUID (32 hex digits, dashed or not)",
            agent_reconcile::escape::text(&text)
        ))
    })
}

/// [`uuid`] for a key that may be absent or `null`.
fn optional_uuid<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => uuid(serde::de::value::StringDeserializer::<D::Error>::new(text)).map(Some),
    }
}

/// A JSON number or numeric string as f64 (Waldur sends limits both ways).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
