//! Plan addresses: what a change is about.
//!
//! Rendered (JSON and text alike) as `account/NAME`, `association/ACCOUNT/USER[/PARTITION]`,
//! `user/NAME`, `periodic/NAME`, `raw_usage/NAME/PERIOD`, `waldur/CALL-ID`, `directory/home/USER`,
//! `directory/project/ACCOUNT`, `quota/home/USER` and `quota/project/ACCOUNT`. Code works with the variants; the string form exists
//! only at the edges (rendering, and reading a plan back from JSON).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::plan::Kind;
use crate::state::AssocKey;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    Account(String),
    Association(AssocKey),
    /// A SLURM user record (its default account).
    User(String),
    /// The fields Waldur's periodic policy owns on an account (fairshare, limit entries).
    Periodic(String),
    /// The RawUsage reset of an account for one policy period.
    RawUsage(String, String),
    /// A Waldur call, by its stable id (`order/<uuid>/set_state_done`).
    Waldur(String),
    /// A home or project directory.
    Directory(StorageKey),
    /// The quota of a home or project directory.
    Quota(StorageKey),
}

/// Whose directory a storage change is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StorageKey {
    /// A user's home.
    Home(String),
    /// An allocation's project directory.
    Project(String),
}

impl fmt::Display for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageKey::Home(u) => write!(f, "home/{u}"),
            StorageKey::Project(a) => write!(f, "project/{a}"),
        }
    }
}

impl StorageKey {
    fn parse(text: &str) -> Option<StorageKey> {
        let (kind, name) = text.split_once('/')?;
        if name.is_empty() || name.contains('/') {
            return None;
        }
        match kind {
            "home" => Some(StorageKey::Home(name.to_string())),
            "project" => Some(StorageKey::Project(name.to_string())),
            _ => None,
        }
    }
}

impl Address {
    pub fn kind(&self) -> Kind {
        match self {
            Address::Account(_) | Address::Periodic(_) | Address::RawUsage(..) => Kind::Account,
            Address::Association(_) => Kind::Association,
            Address::User(_) => Kind::User,
            Address::Waldur(_) => Kind::Waldur,
            Address::Directory(_) => Kind::Directory,
            Address::Quota(_) => Kind::Quota,
        }
    }

    /// The SLURM account this address belongs to: the account itself or the account of
    /// an association.
    pub fn account(&self) -> Option<&str> {
        match self {
            Address::Account(a) | Address::Periodic(a) | Address::RawUsage(a, _) => Some(a),
            Address::Association(k) => Some(&k.account),
            Address::Directory(StorageKey::Project(a)) | Address::Quota(StorageKey::Project(a)) => {
                Some(a)
            }
            Address::User(_)
            | Address::Waldur(_)
            | Address::Directory(StorageKey::Home(_))
            | Address::Quota(StorageKey::Home(_)) => None,
        }
    }

    pub fn is_waldur(&self) -> bool {
        matches!(self, Address::Waldur(_))
    }

    /// The user whose home this address is about.
    pub fn home_user(&self) -> Option<&str> {
        match self {
            Address::Directory(StorageKey::Home(u)) | Address::Quota(StorageKey::Home(u)) => {
                Some(u)
            }
            _ => None,
        }
    }

    /// Reads the rendered form back (plan JSON).
    pub fn parse(text: &str) -> Result<Address, String> {
        let bad = || format!("{text:?} is not a plan address");
        let (kind, rest) = text.split_once('/').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        match kind {
            "account" => Ok(Address::Account(rest.to_string())),
            "user" => Ok(Address::User(rest.to_string())),
            "waldur" => Ok(Address::Waldur(rest.to_string())),
            "directory" => StorageKey::parse(rest)
                .map(Address::Directory)
                .ok_or_else(bad),
            "quota" => StorageKey::parse(rest).map(Address::Quota).ok_or_else(bad),
            "periodic" => Ok(Address::Periodic(rest.to_string())),
            "raw_usage" => {
                let (account, period) = rest.split_once('/').ok_or_else(bad)?;
                if account.is_empty() || period.is_empty() {
                    return Err(bad());
                }
                Ok(Address::RawUsage(account.to_string(), period.to_string()))
            }
            "association" => {
                let mut parts = rest.splitn(3, '/');
                let account = parts.next().unwrap_or_default();
                let user = parts.next().ok_or_else(bad)?;
                let partition = parts.next().unwrap_or_default();
                Ok(Address::Association(AssocKey::new(
                    account, user, partition,
                )))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Account(a) => write!(f, "account/{a}"),
            Address::Association(k) if k.partition.is_empty() => {
                write!(f, "association/{}/{}", k.account, k.user)
            }
            Address::Association(k) => {
                write!(f, "association/{}/{}/{}", k.account, k.user, k.partition)
            }
            Address::User(u) => write!(f, "user/{u}"),
            Address::Periodic(a) => write!(f, "periodic/{a}"),
            Address::RawUsage(a, p) => write!(f, "raw_usage/{a}/{p}"),
            Address::Waldur(id) => write!(f, "waldur/{id}"),
            Address::Directory(k) => write!(f, "directory/{k}"),
            Address::Quota(k) => write!(f, "quota/{k}"),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Address::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Address {
    // The schema is a plain string, as the plan format always had it.
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "String".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_forms_read_back() {
        for text in [
            "account/a_x",
            "association/a_x/ann",
            "association/a_x/ann/gpu",
            "user/ann",
            "periodic/a_x",
            "raw_usage/a_x/2026-Q2",
            "waldur/order/0123/set_state_done",
            "directory/home/ann",
            "directory/project/a_x",
            "quota/home/ann",
            "quota/project/a_x",
        ] {
            assert_eq!(Address::parse(text).unwrap().to_string(), text);
        }
        assert!(Address::parse("account/").is_err());
        assert!(Address::parse("thing/x").is_err());
        assert!(Address::parse("association/a_x").is_err());
        assert!(Address::parse("directory/home/").is_err());
        assert!(Address::parse("directory/other/x").is_err());
        assert!(Address::parse("quota/home/a/b").is_err());
        assert!(Address::parse("raw_usage/a_x").is_err());
        assert_eq!(
            Address::parse("raw_usage/a_x/2026").unwrap().account(),
            Some("a_x")
        );
    }
}
