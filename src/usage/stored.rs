//! What Waldur already holds for a billing period: the aggregate records
//! (`marketplace-component-usages`) and the per-user ones
//! (`marketplace-component-user-usages`), read for the whole offering in one list each
//! ([`offering`]: the requests grow with the records, pages of 300, not with the
//! resources), or for one resource ([`resource`]: a few resources asked for, or a re-read
//! after new aggregates were made).
//!
//! Both lists are filtered by Waldur (`offering_uuid` or `resource_uuid`, `billing_period`
//! and `component_usage__billing_period`, as Mastermind's filter sets name them), and the
//! items are checked here as well: a record of another period, or a per-user record whose
//! parent is not one of the period's aggregates of our resources, is left out, so a server
//! that ignored a filter cannot make the agent compare against the wrong month.

use std::collections::{BTreeMap, BTreeSet};

use agent_desired::amount::Amount;
use agent_desired::client::{ClientError, WaldurClient};
use agent_desired::usage_plan::{self, StoredUsage, StoredUserUsage};
use agent_desired::waldur::hex;
use serde::Deserialize;
use serde_json::Value;

use super::periods::Month;

const USAGES: &str = "/api/marketplace-component-usages/";
const USER_USAGES: &str = "/api/marketplace-component-user-usages/";

/// One resource's records of the period.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub usages: Vec<StoredUsage>,
    pub users: Vec<StoredUserUsage>,
}

#[derive(Debug, Deserialize)]
struct UsageItem {
    uuid: String,
    #[serde(default)]
    resource_uuid: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    usage: Value,
    #[serde(default)]
    billing_period: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UserUsageItem {
    component_usage: String,
    username: String,
    usage: Value,
}

fn decode(path: &str, v: &Value) -> Result<Amount, ClientError> {
    Amount::from_json(v).map_err(|e| ClientError::Decode {
        method: "GET".into(),
        path: path.into(),
        message: e.to_string(),
    })
}

/// The records of `month` for every resource of the offering, by resource (hex).
pub async fn offering(
    client: &WaldurClient,
    offering: &str,
    month: Month,
    with_users: bool,
) -> Result<BTreeMap<String, Stored>, ClientError> {
    read(client, ("offering_uuid", hex(offering)), month, with_users).await
}

/// The records of `month` of one resource.
pub async fn resource(
    client: &WaldurClient,
    resource: &str,
    month: Month,
    with_users: bool,
) -> Result<Stored, ClientError> {
    let mut all = read(client, ("resource_uuid", hex(resource)), month, with_users).await?;
    Ok(all.remove(&hex(resource)).unwrap_or_default())
}

async fn read(
    client: &WaldurClient,
    filter: (&'static str, String),
    month: Month,
    with_users: bool,
) -> Result<BTreeMap<String, Stored>, ClientError> {
    let period = month.billing_period();
    let q: Vec<(&str, String)> = vec![
        filter.clone(),
        ("billing_period", period.clone()),
        ("field", "uuid".into()),
        ("field", "resource_uuid".into()),
        ("field", "type".into()),
        ("field", "usage".into()),
        ("field", "billing_period".into()),
    ];
    let users_query: Vec<(&str, String)> = vec![
        filter,
        ("component_usage__billing_period", period.clone()),
        ("field", "component_usage".into()),
        ("field", "username".into()),
        ("field", "usage".into()),
    ];
    // The two lists do not depend on each other: read them together.
    let (items, user_items) = tokio::try_join!(client.list::<UsageItem>(USAGES, &q), async {
        match with_users {
            true => {
                client
                    .list::<UserUsageItem>(USER_USAGES, &users_query)
                    .await
            }
            false => Ok(Vec::new()),
        }
    })?;
    let mut out: BTreeMap<String, Stored> = BTreeMap::new();
    // Aggregate uuid -> its resource: where each per-user record belongs.
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    for i in items {
        if i.billing_period.as_deref().is_some_and(|p| p != period) {
            continue;
        }
        let Some(resource) = i.resource_uuid.as_deref().map(hex) else {
            return Err(ClientError::Decode {
                method: "GET".into(),
                path: USAGES.into(),
                message: format!("usage record {} names no resource", hex(&i.uuid)),
            });
        };
        parent.insert(hex(&i.uuid), resource.clone());
        out.entry(resource).or_default().usages.push(StoredUsage {
            uuid: hex(&i.uuid),
            component_type: i.kind,
            usage: decode(USAGES, &i.usage)?,
        });
    }
    let known: BTreeSet<&String> = parent.keys().collect();
    let mut users: Vec<(String, StoredUserUsage)> = Vec::new();
    for i in user_items {
        let of = hex(usage_plan::uuid_from_url(&i.component_usage));
        if !known.contains(&of) {
            continue;
        }
        users.push((
            parent[&of].clone(),
            StoredUserUsage {
                component_usage: of,
                username: i.username,
                usage: decode(USER_USAGES, &i.usage)?,
            },
        ));
    }
    for (resource, u) in users {
        out.entry(resource).or_default().users.push(u);
    }
    Ok(out)
}
