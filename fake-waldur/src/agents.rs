//! Site-agent registration (waldur-api.md §2.1 B6–B10, §3.9): identities are unique by
//! name, services by (identity, name), processors by (service, name); registering an
//! existing service or processor updates it and answers 200 instead of 201.

use crate::clock;
use crate::http::{not_a_list, ApiError, ApiResult};
use crate::ids;
use crate::model::*;
use crate::state::World;
use serde_json::Value;

/// DRF-style access to the fields of a JSON body.
pub(crate) struct Body<'a>(pub &'a Object);

impl Body<'_> {
    /// Absent or null: `None`; not a string: 400.
    pub fn text(&self, key: &str) -> ApiResult<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::field(key, "Not a valid string.")),
        }
    }

    /// A required, non-blank string.
    pub fn required_text(&self, key: &str) -> ApiResult<String> {
        match self.text(key)? {
            None => Err(ApiError::required(key)),
            Some(s) if s.trim().is_empty() => {
                Err(ApiError::field(key, "This field may not be blank."))
            }
            Some(s) => Ok(s),
        }
    }

    /// A required UUID (hex or dashed), normalised to hex.
    pub fn uuid(&self, key: &str) -> ApiResult<String> {
        let raw = self.required_text(key)?;
        ids::normalize(&raw).ok_or_else(|| ApiError::field(key, "Must be a valid UUID."))
    }

    /// One of the observable object types.
    pub fn object_type(&self, key: &str) -> ApiResult<String> {
        let t = self.required_text(key)?;
        if OBSERVABLE_OBJECT_TYPES.contains(&t.as_str()) {
            Ok(t)
        } else {
            Err(ApiError::field(
                key,
                &format!("\"{t}\" is not a valid choice."),
            ))
        }
    }
}

/// The writable fields of an identity (B7/B8 bodies).
struct IdentityFields {
    offering: String,
    name: String,
    version: Option<String>,
    dependencies: Vec<Value>,
    config_file_path: String,
    config_file_content: String,
    last_restarted: Option<String>,
}

impl World {
    /// Validates a B7/B8 body; `this` is the identity being updated (its own name is free).
    fn identity_fields(&self, body: &Object, this: Option<&str>) -> ApiResult<IdentityFields> {
        let b = Body(body);
        let raw_offering = b.required_text("offering")?;
        let offering = ids::normalize(&raw_offering)
            .filter(|o| self.offering(o).is_some())
            .ok_or_else(|| {
                let msg = format!("Object with uuid={raw_offering} does not exist.");
                ApiError::field("offering", &msg)
            })?;
        let name = b.required_text("name")?;
        let taken = (self.data.agent_identities.iter())
            .any(|i| i.name == name && Some(i.uuid.as_str()) != this);
        if taken {
            return Err(ApiError::field(
                "name",
                "Agent identity with this name already exists.",
            ));
        }
        let dependencies = match body.get("dependencies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => return Err(not_a_list("dependencies", other)),
        };
        let offset = self.data.settings.utc_offset_minutes;
        let last_restarted = match b.text("last_restarted")? {
            None => None,
            Some(t) => Some(clock::format_datetime(
                clock::parse_datetime(&t, offset).ok_or_else(|| {
                    ApiError::field(
                        "last_restarted",
                        "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
                    )
                })?,
            )),
        };
        Ok(IdentityFields {
            offering,
            name,
            version: b.text("version")?,
            dependencies,
            config_file_path: b.text("config_file_path")?.unwrap_or_default(),
            config_file_content: b.text("config_file_content")?.unwrap_or_default(),
            last_restarted,
        })
    }

    /// B7; returns the new identity's UUID.
    pub fn create_agent_identity(&mut self, body: &Object, caller: &str) -> ApiResult<String> {
        let f = self.identity_fields(body, None)?;
        let now = self.now();
        let uuid = ids::new_uuid();
        self.data.agent_identities.push(AgentIdentity {
            uuid: uuid.clone(),
            offering: f.offering,
            name: f.name,
            version: f.version,
            dependencies: f.dependencies,
            config_file_path: f.config_file_path,
            config_file_content: f.config_file_content,
            last_restarted: f.last_restarted,
            created_by: Some(caller.to_string()),
            created: now.clone(),
            modified: now,
        });
        Ok(uuid)
    }

    /// B8 (a full update).
    pub fn update_agent_identity(&mut self, uuid: &str, body: &Object) -> ApiResult<()> {
        self.agent_identity(uuid).ok_or_else(ApiError::not_found)?;
        let f = self.identity_fields(body, Some(uuid))?;
        let now = self.now();
        let i = (self.data.agent_identities.iter_mut())
            .find(|i| i.uuid == uuid)
            .ok_or_else(ApiError::not_found)?;
        i.offering = f.offering;
        i.name = f.name;
        i.version = f.version;
        i.dependencies = f.dependencies;
        i.config_file_path = f.config_file_path;
        i.config_file_content = f.config_file_content;
        i.last_restarted = f.last_restarted;
        i.modified = now;
        Ok(())
    }

    /// B9; returns (service UUID, whether it was created). Registration makes it `Active`.
    pub fn register_agent_service(
        &mut self,
        identity: &str,
        body: &Object,
    ) -> ApiResult<(String, bool)> {
        self.agent_identity(identity)
            .ok_or_else(ApiError::not_found)?;
        let b = Body(body);
        let name = b.required_text("name")?;
        let mode = b.text("mode")?;
        let now = self.now();
        let found = (self.data.agent_services.iter_mut())
            .find(|s| s.identity == identity && s.name == name);
        if let Some(s) = found {
            s.mode = mode.or(s.mode.take());
            s.state = "Active".into();
            s.modified = now;
            return Ok((s.uuid.clone(), false));
        }
        let uuid = ids::new_uuid();
        self.data.agent_services.push(AgentService {
            uuid: uuid.clone(),
            identity: identity.to_string(),
            name,
            mode,
            state: "Active".into(),
            created: now.clone(),
            modified: now,
            ..Default::default()
        });
        Ok((uuid, true))
    }

    /// B10; returns (processor UUID, whether it was created).
    pub fn register_agent_processor(
        &mut self,
        service: &str,
        body: &Object,
    ) -> ApiResult<(String, bool)> {
        self.agent_service(service)
            .ok_or_else(ApiError::not_found)?;
        let b = Body(body);
        let name = b.required_text("name")?;
        let backend_type = b.required_text("backend_type")?;
        let backend_version = b.text("backend_version")?;
        let now = self.now();
        let found = (self.data.agent_processors.iter_mut())
            .find(|p| p.service == service && p.name == name);
        if let Some(p) = found {
            p.backend_type = backend_type;
            p.backend_version = backend_version.or(p.backend_version.take());
            p.modified = now;
            return Ok((p.uuid.clone(), false));
        }
        let uuid = ids::new_uuid();
        self.data.agent_processors.push(AgentProcessor {
            uuid: uuid.clone(),
            service: service.to_string(),
            name,
            backend_type,
            backend_version,
            created: now.clone(),
            modified: now,
            ..Default::default()
        });
        Ok((uuid, true))
    }
}
