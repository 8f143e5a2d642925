//! Usage reporting: `set_usage` (aggregate per resource, component and
//! billing month) and `set_user_usages` (per-username breakdown), with
//! Mastermind's validation rules and messages.

use crate::clock;
use crate::decimal::Amount;
use crate::http::{ApiError, ApiResult};
use crate::ids;
use crate::model::*;
use crate::state::World;
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

pub const BACKFILL_MESSAGE: &str = "Service providers can only specify date for limit-based or prepaid billing components when backfilling past billing periods.";
const DATETIME_FORMAT_MESSAGE: &str = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";
const REQUIRED: &str = "This field is required.";

/// Collects DRF field errors: `{"field": ["msg"]}`, or for list fields one
/// error object per item (`{"usages": [{}, {"amount": ["msg"]}]}`).
#[derive(Default)]
struct Errors(Map<String, Value>);

impl Errors {
    fn add(&mut self, field: &str, msg: &str) {
        self.0.entry(field).or_insert_with(|| json!([msg]));
    }
    fn into_result(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Value::Object(self.0),
            ))
        }
    }
}

/// Validates each item of a list field with `check`, which reports errors
/// into a per-item map. Returns the parsed items if all were fine.
fn each_item<T>(
    body: &Object,
    field: &str,
    errors: &mut Errors,
    mut check: impl FnMut(&Object, &mut Errors) -> Option<T>,
) -> Vec<T> {
    let items = match body.get(field) {
        None | Some(Value::Null) => {
            errors.add(field, REQUIRED);
            return Vec::new();
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            errors.add(field, "Expected a list of items but got type \"dict\".");
            return Vec::new();
        }
    };
    let mut parsed = Vec::new();
    let mut item_errors = Vec::new();
    for item in items {
        let mut e = Errors::default();
        let result = match item.as_object() {
            Some(obj) => check(obj, &mut e),
            None => {
                e.add("non_field_errors", "Invalid data. Expected a dictionary.");
                None
            }
        };
        parsed.extend(result);
        item_errors.push(Value::Object(e.0));
    }
    if item_errors
        .iter()
        .any(|e| e.as_object().is_some_and(|m| !m.is_empty()))
    {
        errors.0.insert(field.into(), Value::Array(item_errors));
    }
    parsed
}

fn amount_field(obj: &Object, field: &str, e: &mut Errors) -> Option<Amount> {
    match obj.get(field) {
        None | Some(Value::Null) => {
            e.add(field, REQUIRED);
            None
        }
        Some(v) => Amount::from_json(v)
            .map_err(|err| e.add(field, err.message()))
            .ok(),
    }
}

fn string_field(obj: &Object, field: &str, e: &mut Errors) -> Option<String> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            e.add(field, "This field may not be blank.");
            None
        }
        None | Some(Value::Null) => {
            e.add(field, REQUIRED);
            None
        }
        Some(_) => {
            e.add(field, "Not a valid string.");
            None
        }
    }
}

/// An optional datetime field; `Ok(None)` when absent.
fn date_field(world: &World, obj: &Object, e: &mut Errors) -> Option<Option<i64>> {
    match obj.get("date") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => {
            match clock::parse_datetime(s, world.data.settings.utc_offset_minutes) {
                Some(t) => Some(Some(t)),
                None => {
                    e.add("date", DATETIME_FORMAT_MESSAGE);
                    None
                }
            }
        }
        Some(_) => {
            e.add("date", DATETIME_FORMAT_MESSAGE);
            None
        }
    }
}

struct UsageItem {
    component_type: String,
    amount: Amount,
    description: String,
    recurring: bool,
}

struct UserUsageItem {
    username: String,
    usage: Amount,
    user: Option<String>,
    date: Option<i64>,
}

impl World {
    /// `POST /api/marketplace-component-usages/set_usage/`.
    pub fn set_usage(&mut self, body: &Object, caller_is_staff: bool) -> ApiResult<()> {
        // Field-level validation first, all errors at once (as DRF does).
        let mut errors = Errors::default();
        let items = each_item(body, "usages", &mut errors, |obj, e| {
            let component_type = string_field(obj, "type", e);
            let amount = amount_field(obj, "amount", e);
            Some(UsageItem {
                component_type: component_type?,
                amount: amount?,
                description: obj
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                recurring: obj
                    .get("recurring")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        });
        let resource = match body.get("resource") {
            None | Some(Value::Null) => {
                errors.add("resource", REQUIRED);
                None
            }
            Some(v) => {
                let raw = v.as_str().unwrap_or_default();
                let found = ids::normalize(raw).filter(|u| self.resource(u).is_some());
                if found.is_none() {
                    errors.add(
                        "resource",
                        &format!("Object with uuid={raw} does not exist."),
                    );
                }
                found
            }
        };
        let date = date_field(self, body, &mut errors);
        errors.into_result()?;
        let (Some(resource_uuid), Some(date)) = (resource, date) else {
            return Err(ApiError::non_field("Invalid data."));
        };

        // Object-level rules, in Mastermind's order.
        let resource = self
            .resource(&resource_uuid)
            .ok_or_else(ApiError::not_found)?;
        if !["OK", "Updating", "Terminating"].contains(&resource.state.as_str()) {
            return Err(ApiError::field(
                "resource",
                "Resource is not in valid state.",
            ));
        }
        let now = self.now_micros();
        let date = date.unwrap_or(now);
        if date > now {
            return Err(ApiError::field(
                "date",
                "Cannot submit usage for future dates",
            ));
        }
        let offering = self
            .offering(&resource.offering)
            .ok_or_else(ApiError::not_found)?;
        let billed = |ty: &str| {
            offering.components.iter().find(|c| {
                c.component_type == ty && ["usage", "limit"].contains(&c.billing_type.as_str())
            })
        };
        let invalid: Vec<&str> = items
            .iter()
            .map(|i| i.component_type.as_str())
            .filter(|t| billed(t).is_none())
            .collect();
        if !invalid.is_empty() {
            let msg = format!("These components are invalid: {}.", invalid.join(", "));
            return Err(ApiError::non_field(&msg));
        }
        let offset = self.data.settings.utc_offset_minutes;
        let period = clock::month_start(date, offset);
        let backfilling = period < clock::month_start(now, offset);
        let usage_billed = items
            .iter()
            .any(|i| billed(&i.component_type).is_some_and(|c| c.billing_type == "usage"));
        if backfilling && usage_billed && !caller_is_staff {
            return Err(ApiError::field("date", BACKFILL_MESSAGE));
        }

        let (date, stamp) = (clock::format_datetime(date), self.now());
        for item in items {
            let existing = self.data.component_usages.iter_mut().find(|cu| {
                cu.resource == resource_uuid
                    && cu.component_type == item.component_type
                    && cu.billing_period == period
            });
            match existing {
                Some(cu) => {
                    cu.usage = item.amount;
                    cu.date = date.clone();
                    cu.description = item.description;
                    cu.recurring = item.recurring;
                    cu.modified = stamp.clone();
                }
                None => self.data.component_usages.push(ComponentUsage {
                    uuid: ids::new_uuid(),
                    resource: resource_uuid.clone(),
                    component_type: item.component_type,
                    billing_period: period.clone(),
                    usage: item.amount,
                    date: date.clone(),
                    description: item.description,
                    recurring: item.recurring,
                    created: stamp.clone(),
                    modified: stamp.clone(),
                    user_usages: Vec::new(),
                }),
            }
        }
        Ok(())
    }

    /// `POST /api/marketplace-component-usages/{uuid}/set_user_usages/`:
    /// upsert by username under one aggregate record.
    pub fn set_user_usages(&mut self, usage_uuid: &str, body: &Object) -> ApiResult<()> {
        if self.usage(usage_uuid).is_none() {
            return Err(ApiError::not_found());
        }
        let mut errors = Errors::default();
        let items = each_item(body, "usages", &mut errors, |obj, e| {
            self.user_usage_item(obj, e)
        });
        errors.into_result()?;
        self.store_user_usages(usage_uuid, items);
        Ok(())
    }

    /// `POST /api/marketplace-component-usages/{uuid}/set_user_usage/` (single item).
    pub fn set_user_usage(&mut self, usage_uuid: &str, body: &Object) -> ApiResult<()> {
        if self.usage(usage_uuid).is_none() {
            return Err(ApiError::not_found());
        }
        let mut errors = Errors::default();
        let item = self.user_usage_item(body, &mut errors);
        errors.into_result()?;
        self.store_user_usages(usage_uuid, item.into_iter().collect());
        Ok(())
    }

    fn user_usage_item(&self, obj: &Object, e: &mut Errors) -> Option<UserUsageItem> {
        let username = string_field(obj, "username", e);
        let usage = amount_field(obj, "usage", e);
        let date = date_field(self, obj, e);
        // `user` is an offering-user hyperlink; a bare UUID is tolerated too.
        let user = match obj.get("user") {
            None | Some(Value::Null) => Some(None),
            Some(v) => {
                let last_segment = v
                    .as_str()
                    .unwrap_or("")
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next();
                let found = last_segment
                    .and_then(ids::normalize)
                    .filter(|u| self.offering_user(u).is_some());
                if found.is_none() {
                    e.add("user", "Invalid hyperlink - Object does not exist.");
                }
                found.map(Some)
            }
        };
        Some(UserUsageItem {
            username: username?,
            usage: usage?,
            user: user?,
            date: date?,
        })
    }

    fn store_user_usages(&mut self, usage_uuid: &str, items: Vec<UserUsageItem>) {
        let stamp = self.now();
        let Some(cu) = self
            .data
            .component_usages
            .iter_mut()
            .find(|c| c.uuid == usage_uuid)
        else {
            return;
        };
        for item in items {
            let date = item
                .date
                .map_or_else(|| stamp.clone(), clock::format_datetime);
            match cu
                .user_usages
                .iter_mut()
                .find(|u| u.username == item.username)
            {
                Some(uu) => {
                    uu.usage = item.usage;
                    uu.user = item.user.or(uu.user.take());
                    uu.date = date;
                    uu.modified = stamp.clone();
                }
                None => cu.user_usages.push(UserUsage {
                    uuid: ids::new_uuid(),
                    username: item.username,
                    usage: item.usage,
                    user: item.user,
                    date,
                    created: stamp.clone(),
                    modified: stamp.clone(),
                }),
            }
        }
    }
}
