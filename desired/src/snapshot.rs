//! A recorded Waldur snapshot: the API's JSON documents saved as files.
//!
//! Layout (per offering; `DIR/waldur/<offering-uuid>/` when present, else `DIR/waldur/`):
//! - `offering.json`: `GET /api/marketplace-provider-offerings/<uuid>/`
//! - `resources.json`: `GET /api/marketplace-provider-resources/?offering_uuid=<uuid>` (all pages, one array)
//! - `teams/<resource-uuid>.json`: `GET /api/marketplace-provider-resources/<uuid>/team/`
//! - `orders.json` (optional): `GET /api/marketplace-orders/?offering_uuid=<uuid>&state=pending-provider&state=executing`
//! - `user_limits/<resource-uuid>.json` (optional): `GET /api/component-user-usage-limits/?resource_uuid=<uuid>`
//! - `periodic_policies.json` (optional): `GET /api/marketplace-slurm-periodic-usage-policies/?scope_uuid=<uuid>`
//! - `component_usages.json` (optional): `GET /api/marketplace-component-usages/?offering_uuid=<uuid>&billing_period=…`
//!   for the months of the previous policy period (all in one array)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::waldur::{hex, WaldurDocs};

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct SnapshotError {
    pub file: String,
    pub message: String,
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, SnapshotError> {
    let err = |message: String| SnapshotError {
        file: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    // serde_json names line and column, and the missing key, e.g. "missing field `slug`".
    serde_json::from_str(&text).map_err(|e| err(e.to_string()))
}

/// The Waldur directory for one offering inside a snapshot.
pub fn offering_dir(snapshot: &Path, offering_uuid: &str) -> PathBuf {
    let per_offering = snapshot.join("waldur").join(hex(offering_uuid));
    if per_offering.is_dir() {
        per_offering
    } else {
        snapshot.join("waldur")
    }
}

/// Loads the documents of one offering.
pub fn load(dir: &Path) -> Result<WaldurDocs, SnapshotError> {
    let offering: crate::waldur::Offering = read_json(&dir.join("offering.json"))?;
    let resources: Vec<crate::waldur::Resource> = read_json(&dir.join("resources.json"))?;
    let orders_path = dir.join("orders.json");
    let orders = if orders_path.exists() {
        read_json(&orders_path)?
    } else {
        Vec::new()
    };
    let mut teams = BTreeMap::new();
    for r in &resources {
        let path = dir.join("teams").join(format!("{}.json", hex(&r.uuid)));
        let team = if path.exists() {
            read_json(&path)?
        } else {
            // A resource without a recorded team has no members: say so rather than guess.
            Vec::new()
        };
        teams.insert(hex(&r.uuid), team);
    }
    let limits_dir = dir.join("user_limits");
    let user_limits = if limits_dir.is_dir() {
        let mut all = BTreeMap::new();
        for r in &resources {
            let path = limits_dir.join(format!("{}.json", hex(&r.uuid)));
            if path.exists() {
                all.insert(hex(&r.uuid), read_json(&path)?);
            }
        }
        Some(all)
    } else {
        None
    };
    let optional = |name: &str| {
        let path = dir.join(name);
        path.exists().then_some(path)
    };
    let policies: Vec<crate::periodic::Policy> = match optional("periodic_policies.json") {
        Some(path) => read_json(&path)?,
        None => Vec::new(),
    };
    let offering_uuid = hex(&offering.uuid);
    let policies = policies
        .into_iter()
        .filter(|p| p.scope_uuid == offering_uuid)
        .collect();
    let mut usages = crate::periodic::Usages::new();
    if let Some(path) = optional("component_usages.json") {
        let list: Vec<crate::waldur::ComponentUsage> = read_json(&path)?;
        for u in list {
            let (Some(month), Some(amount)) = (
                crate::periodic::YearMonth::of_date(&u.billing_period),
                crate::waldur::number(&u.usage).filter(|a| a.is_finite() && *a >= 0.0),
            ) else {
                return Err(SnapshotError {
                    file: path.display().to_string(),
                    message: format!(
                        "a usage of resource {} has no valid billing_period or non-negative amount",
                        u.resource_uuid
                    ),
                });
            };
            usages
                .entry(u.resource_uuid)
                .or_default()
                .entry(month)
                .or_default()
                .push((u.kind, amount));
        }
    }
    Ok(WaldurDocs {
        offering,
        resources,
        teams,
        orders,
        user_limits,
        policies,
        usages,
    })
}
