//! What the filesystem should hold ([`StorageDesired`]) and what it holds
//! ([`StorageObserved`]): home directories, per-user home quotas, project directories and
//! their Lustre project quotas.
//!
//! Every observed value is a [`Lookup`]: found, known to be absent, or a read that failed.
//! A key that is not in a map was not read; the planner treats that like a failed read
//! (nothing is done on a guess).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::explain::{Diagnostic, Reason};

/// The storage side of the desired state, by user and by allocation account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StorageDesired {
    pub homes: BTreeMap<String, HomeSpec>,
    pub projects: BTreeMap<String, ProjectDirSpec>,
    /// Problems found while building it (two offerings wanting one home differently).
    pub diagnostics: Vec<Diagnostic>,
}

impl StorageDesired {
    pub fn is_empty(&self) -> bool {
        self.homes.is_empty() && self.projects.is_empty()
    }

    /// Merges another offering's storage wishes: the first definition of a home or a
    /// project directory wins, a differing second one is reported.
    pub fn merge(&mut self, other: StorageDesired) {
        for (user, mut spec) in other.homes {
            match self.homes.get_mut(&user) {
                None => {
                    self.homes.insert(user, spec);
                }
                Some(have) => {
                    let accounts = std::mem::take(&mut spec.accounts);
                    let mut mine = have.clone();
                    mine.accounts.clear();
                    if mine != spec {
                        self.diagnostics.push(Diagnostic::warning(
                            "conflicting_home_settings",
                            format!(
                                "the home directory of {user} is configured differently by two offerings; the first offering's settings are used"
                            ),
                        ));
                    }
                    have.accounts.extend(accounts);
                }
            }
        }
        for (account, spec) in other.projects {
            self.projects.entry(account).or_insert(spec);
        }
        self.diagnostics.extend(other.diagnostics);
    }
}

/// The home directory of one user the agent associates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HomeSpec {
    pub user: String,
    /// Accounts the user is associated with (the home serves them).
    pub accounts: BTreeSet<String>,
    /// `homedir_base_path`: the home is `<base>/<user>` and the passwd entry must say so.
    /// `None`: the home is wherever the passwd entry says.
    pub base: Option<String>,
    /// `default_homedir_umask`: the home's mode is `0777 & !umask`, as mkhomedir_helper
    /// makes it.
    pub umask: u32,
    pub quota: Option<QuotaSpec>,
}

/// Codes of the diagnostics the storage pass writes (for `agent diagnose`, which shows
/// those about an account's users).
pub const DIAGNOSTIC_CODES: &[&str] = &[
    "linux_user_missing",
    "system_account",
    "unsafe_home_path",
    "home_not_a_directory",
    "storage_read_failed",
    "storage_base_unusable",
    "project_owner_missing",
    "project_group_missing",
    "project_dir_not_a_directory",
];

/// Lowest uid whose home the agent manages: below it are system accounts, whose passwd
/// homes (`/var/spool/lpd`, `/usr/sbin`) must never be created or given a skeleton.
pub const MIN_UID: u32 = 1000;

impl HomeSpec {
    /// Where the home is, from the passwd entry: `<base>/<user>` when a base is set (and
    /// the passwd entry must agree, since mkhomedir_helper creates the passwd home), else
    /// the passwd home. Refused when the path is not a plain absolute path.
    pub fn path(&self, entry: &PasswdEntry) -> Result<String, String> {
        let home = crate::storage::paths::check(&entry.home)
            .map_err(|e| format!("its passwd home {e}"))?;
        match &self.base {
            Some(base) => {
                let expected = crate::storage::paths::join(base, &self.user);
                if home == expected {
                    Ok(home)
                } else {
                    Err(format!(
                        "its passwd home is {home}, not {expected} under homedir_base_path (mkhomedir_helper creates the passwd home)"
                    ))
                }
            }
            None => match crate::storage::paths::parent(&home) {
                Some(_) => Ok(home),
                None => Err(format!("its passwd home {home} is a top-level directory")),
            },
        }
    }

    /// The directory the home is made in.
    pub fn parent_of<'a>(&'a self, path: &'a str) -> &'a str {
        match &self.base {
            Some(base) => base,
            None => crate::storage::paths::parent(path).unwrap_or("/"),
        }
    }
}

/// Which tool keeps a quota.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// CephFS directory quotas in `ceph.quota.*` extended attributes of the home itself.
    CephXattr,
    /// XFS user quotas of the filesystem mounted at `mount_point`.
    Xfs { mount_point: String },
    /// Lustre user (or project) quotas of the filesystem mounted at `mount_point`.
    Lustre { mount_point: String },
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::CephXattr => "ceph_xattr",
            Provider::Xfs { .. } => "xfs",
            Provider::Lustre { .. } => "lustre",
        }
    }
}

/// One quota limit. Values are held in the unit the provider's own tool reads back:
/// bytes for `ceph.quota.max_bytes`, KiB for block limits (xfs_quota report, lfs quota),
/// a count for files and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaField {
    MaxBytes,
    MaxFiles,
    BlockSoft,
    BlockHard,
    InodeSoft,
    InodeHard,
}

/// The unit of a [`QuotaField`]'s value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaUnit {
    Bytes,
    KiB,
    Count,
}

impl QuotaField {
    /// The name plans show: the config key, or the extended attribute for CephFS.
    pub fn name(self) -> &'static str {
        match self {
            QuotaField::MaxBytes => "ceph.quota.max_bytes",
            QuotaField::MaxFiles => "ceph.quota.max_files",
            QuotaField::BlockSoft => "block_softlimit",
            QuotaField::BlockHard => "block_hardlimit",
            QuotaField::InodeSoft => "inode_softlimit",
            QuotaField::InodeHard => "inode_hardlimit",
        }
    }

    pub fn unit(self) -> QuotaUnit {
        match self {
            QuotaField::MaxBytes => QuotaUnit::Bytes,
            QuotaField::BlockSoft | QuotaField::BlockHard => QuotaUnit::KiB,
            QuotaField::MaxFiles | QuotaField::InodeSoft | QuotaField::InodeHard => {
                QuotaUnit::Count
            }
        }
    }
}

/// Limits by field; 0 means no limit, as every provider reads it.
pub type QuotaValues = BTreeMap<QuotaField, u64>;

/// A quota to keep: the configured limits only (a limit left out of the config is left
/// alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaSpec {
    pub provider: Provider,
    pub limits: QuotaValues,
}

/// Where a project directory's group comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupSource {
    /// The group named like the allocation account (`group_owner_source: project_id`).
    Account,
    /// One configured group (`group_owner_source: group_name`).
    Named(String),
}

/// The shared directory of one allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectDirSpec {
    pub account: String,
    pub base: String,
    /// User name of the owner.
    pub owner: String,
    pub group: String,
    /// Permission bits, setgid included when configured.
    pub mode: u32,
    /// `group:G:rwx` and `default:group:G:rwx` ACL entries.
    pub acl: bool,
    /// Lustre project quota (`lfs setquota -p`), with the group's GID as project id.
    pub quota: Option<ProjectQuotaSpec>,
    pub reason: Reason,
}

impl ProjectDirSpec {
    pub fn path(&self) -> String {
        crate::storage::paths::join(&self.base, &self.account)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectQuotaSpec {
    pub mount_point: String,
    pub limits: QuotaValues,
}

/// One observed value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lookup<T> {
    Found(T),
    /// Known not to exist (no such user, group or path).
    Missing,
    /// The read failed; why.
    Failed(String),
}

impl<T> Lookup<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Lookup::Found(v) => Some(v),
            _ => None,
        }
    }
}

/// A passwd entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswdEntry {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Directory,
    Symlink,
    File,
    Other,
}

/// What `lstat` says about a path (symbolic links are not followed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathState {
    pub kind: FileKind,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits with setuid, setgid and sticky (`& 0o7777`).
    pub mode: u32,
}

/// Whose limits a quota read or write is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaTarget {
    /// The CephFS quota of one directory.
    Directory(String),
    /// A user quota of an XFS or Lustre filesystem.
    User { provider: Provider, uid: u32 },
    /// A Lustre project quota.
    Project { mount_point: String, id: u32 },
}

/// The named-group ACL entries of a directory (numeric GIDs, as `getfacl -n` shows them),
/// access and default, with `rwx`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Acl {
    pub groups: BTreeSet<u32>,
    pub default_groups: BTreeSet<u32>,
}

/// A directory's Lustre project id and inherit flag (`lfs project -d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProjectAttr {
    pub id: u32,
    pub inherit: bool,
}

/// The storage side of the observed state: the lookups the desired state needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StorageObserved {
    /// Set when storage was not read at all (a snapshot without `storage/`): why. Nothing
    /// is planned for storage then.
    pub unread: Option<String>,
    /// passwd entries by user name.
    pub users: BTreeMap<String, Lookup<PasswdEntry>>,
    /// GIDs by group name.
    pub groups: BTreeMap<String, Lookup<u32>>,
    /// `lstat` by path.
    pub paths: BTreeMap<String, Lookup<PathState>>,
    pub quotas: BTreeMap<QuotaTarget, Lookup<QuotaValues>>,
    pub acls: BTreeMap<String, Lookup<Acl>>,
    pub projects: BTreeMap<String, Lookup<ProjectAttr>>,
}

impl StorageObserved {
    /// Storage that was not read, and why.
    pub fn unread(why: impl Into<String>) -> Self {
        StorageObserved {
            unread: Some(why.into()),
            ..StorageObserved::default()
        }
    }
}

/// What a storage change does to the observed model (simulation and the in-memory
/// filesystem of the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageEffect {
    /// A new directory with this owner and mode (and ACL group, for project
    /// directories). A new CephFS directory has no quota.
    MakeDir {
        path: String,
        uid: u32,
        gid: u32,
        mode: u32,
        acl_group: Option<u32>,
    },
    /// An existing directory changed: owner, mode, ACL group (each when given).
    SetDir {
        path: String,
        owner: Option<(u32, u32)>,
        mode: Option<u32>,
        acl_group: Option<u32>,
    },
    /// Limits written (the fields given; others are kept).
    SetQuota {
        target: QuotaTarget,
        values: QuotaValues,
    },
    /// A directory tree given a Lustre project id with inheritance.
    SetProject { path: String, id: u32 },
}
