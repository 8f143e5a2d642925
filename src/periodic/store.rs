//! The settings Waldur published per resource: "the stored settings of resource R".
//! The STOMP listener stores each `resource_periodic_limits` message with
//! [`FileSettings::put`]; every cycle reads them with [`SettingsStore::stored`].

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use agent_desired::periodic::StoredSettings;
use agent_desired::waldur::checked_uuid;
use anyhow::{bail, Context, Result};

use crate::state::write_atomic;

/// Where the desired side gets the settings Waldur published for a resource.
pub trait SettingsStore: Send + Sync {
    /// The last settings stored for `resource_uuid` (hex or dashed), if any. A file that
    /// cannot be read or parsed is an error (the resource's periodic fields are then left
    /// alone), never "nothing stored".
    fn stored(&self, resource_uuid: &str) -> Result<Option<StoredSettings>>;
}

/// What [`FileSettings::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Stored,
    /// The stored message is newer (or the same one): kept.
    KeptNewer,
}

/// One JSON file per resource under `DIR/periodic/settings/`.
pub struct FileSettings {
    dir: PathBuf,
}

impl FileSettings {
    pub fn new(state_dir: &Path) -> Self {
        FileSettings {
            dir: state_dir.join("periodic").join("settings"),
        }
    }

    fn path(&self, resource_uuid: &str) -> Result<PathBuf> {
        let Some(hex) = checked_uuid(resource_uuid) else {
            bail!(
                "{:?} is not a resource UUID",
                agent_reconcile::escape::text(resource_uuid)
            );
        };
        Ok(self.dir.join(format!("{hex}.json")))
    }

    /// Stores a message unless the one stored for its resource is newer. Writers take
    /// `DIR/periodic/settings/.lock` for the compare-and-write.
    pub fn put(&self, settings: &StoredSettings) -> Result<Put> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let lock_path = self.dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("locking {}", lock_path.display()))?;
        if let Some(current) = self.stored(&settings.resource_uuid)? {
            if !settings.is_newer_than(&current) {
                return Ok(Put::KeptNewer);
            }
        }
        let path = self.path(&settings.resource_uuid)?;
        write_atomic(&path, serde_json::to_string_pretty(settings)?.as_bytes())?;
        Ok(Put::Stored)
    }
}

impl SettingsStore for FileSettings {
    fn stored(&self, resource_uuid: &str) -> Result<Option<StoredSettings>> {
        let path = self.path(resource_uuid)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let s: StoredSettings =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if s.format != agent_desired::periodic::published::STORED_FORMAT {
            bail!(
                "{}: format {} is not one this agent reads",
                path.display(),
                s.format
            );
        }
        if checked_uuid(&s.resource_uuid) != checked_uuid(resource_uuid) {
            bail!("{}: holds resource {}", path.display(), s.resource_uuid);
        }
        Ok(Some(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(ts: &str, fairshare: u32) -> StoredSettings {
        StoredSettings::from_message(
            &json!({"resource_uuid": "6f1c0000-0000-0000-0000-000000000001", "backend_id": "a_x",
                    "action": "apply_periodic_settings", "timestamp": ts,
                    "settings": {"fairshare": fairshare}}),
            "2026-04-01T00:00:00Z",
        )
        .unwrap()
    }

    #[test]
    fn an_older_message_never_overwrites_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileSettings::new(dir.path());
        let id = "6f1c0000000000000000000000000001";
        assert_eq!(store.stored(id).unwrap(), None);
        assert_eq!(
            store.put(&message("2026-04-01T00:20:00", 2)).unwrap(),
            Put::Stored
        );
        assert_eq!(
            store.put(&message("2026-04-01T00:10:00", 1)).unwrap(),
            Put::KeptNewer
        );
        assert_eq!(
            store.put(&message("2026-04-01T00:20:00", 2)).unwrap(),
            Put::KeptNewer
        );
        assert_eq!(store.stored(id).unwrap().unwrap().settings["fairshare"], 2);
        assert_eq!(
            store.put(&message("2026-04-01T00:30:00", 3)).unwrap(),
            Put::Stored
        );
        assert_eq!(store.stored(id).unwrap().unwrap().settings["fairshare"], 3);
        // No temporary file is left; a broken file is an error, not "nothing stored".
        let files: Vec<_> = std::fs::read_dir(dir.path().join("periodic/settings"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(files.iter().all(|f| !f.ends_with(".tmp")), "{files:?}");
        std::fs::write(dir.path().join(format!("periodic/settings/{id}.json")), "{").unwrap();
        assert!(store.stored(id).is_err());
        assert!(store.stored("../etc/passwd").is_err());
    }
}
