//! The storage side of the observed state: what the desired state's homes and project
//! directories need, read once per cycle.
//!
//! Order of reads: the passwd and group entries (`getent`, many names a call), then
//! `lstat` of every base, home and project directory (links are never followed), then
//! the quotas, with each provider's own tool and in bulk where it allows:
//! `getfattr` for many CephFS homes at once, one `xfs_quota report` per mount, `lfs quota`
//! per uid or project id (it takes one), `getfacl` and `lfs project -d` for many
//! directories. Every answer becomes a [`Lookup`]; a failed read is kept as such, so the
//! planner skips what it was about.
//!
//! - [`reads`]: the argv of every read;
//! - [`parse`](mod@parse): their parsers;
//! - [`fs`]: `lstat` of one path;
//! - [`snapshot`]: the same reads answered from a recorded directory.

pub mod fs;
pub mod parse;
pub mod reads;
pub mod snapshot;

use std::collections::{BTreeMap, BTreeSet};

use agent_reconcile::storage::{
    FileKind, HomeSpec, Lookup, PasswdEntry, ProjectDirSpec, Provider, QuotaField, QuotaTarget,
    QuotaValues, StorageDesired, StorageObserved, MIN_UID,
};
use futures::future::BoxFuture;
use futures::StreamExt;

use crate::runner::RunOutput;

/// How many `lfs quota` calls run at once.
const CONCURRENT_QUOTA_READS: usize = 8;

/// What the observer reads through: programs and `lstat`. Live, recorded, or fake.
pub trait Tools: Send + Sync {
    /// Runs a read-only program; `Err` when it could not run at all.
    fn run<'a>(&'a self, argv: Vec<String>) -> BoxFuture<'a, Result<RunOutput, String>>;
    fn lstat(&self, path: &str) -> Lookup<agent_reconcile::storage::PathState>;
}

/// Reads everything `want` needs.
pub async fn observe(tools: &dyn Tools, want: &StorageDesired) -> StorageObserved {
    let mut out = StorageObserved::default();
    if want.is_empty() {
        return out;
    }
    let mut users: BTreeSet<&str> = want.homes.keys().map(String::as_str).collect();
    users.extend(want.projects.values().map(|p| p.owner.as_str()));
    out.users = database(tools, Db::Passwd, &users).await;
    let groups: BTreeSet<&str> = want.projects.values().map(|p| p.group.as_str()).collect();
    let gids = database(tools, Db::Group, &groups).await;
    out.groups = gids;

    let users = out.users.clone();
    let homes = usable_homes(want, &users);
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for (spec, _, path) in &homes {
        paths.insert(spec.parent_of(path).to_string());
        paths.insert(path.clone());
    }
    for p in want.projects.values() {
        paths.insert(p.base.clone());
        paths.insert(p.path());
    }
    for p in paths {
        let state = tools.lstat(&p);
        out.paths.insert(p, state);
    }
    home_quotas(tools, &homes, &mut out).await;
    project_reads(tools, want, &mut out).await;
    out
}

/// Homes whose owner is a Linux user past the system range and whose path is plain:
/// (spec, passwd entry, path). The planner reports the others.
fn usable_homes<'a>(
    want: &'a StorageDesired,
    users: &'a BTreeMap<String, Lookup<PasswdEntry>>,
) -> Vec<(&'a HomeSpec, &'a PasswdEntry, String)> {
    want.homes
        .values()
        .filter_map(|spec| {
            let entry = users.get(&spec.user)?.found()?;
            let path = spec.path(entry).ok()?;
            (entry.uid >= MIN_UID).then_some((spec, entry, path))
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Db {
    Passwd,
    Group,
}

/// Entries of the passwd or group database by name (`getent`, up to
/// [`reads::PER_CALL`] names a call; exit 2 means some names are unknown).
async fn database<T: Clone>(
    tools: &dyn Tools,
    db: Db,
    names: &BTreeSet<&str>,
) -> BTreeMap<String, Lookup<T>>
where
    Db: Parse<T>,
{
    let mut out = BTreeMap::new();
    let names: Vec<&str> = names.iter().copied().collect();
    for chunk in names.chunks(reads::PER_CALL) {
        let argv = match db {
            Db::Passwd => reads::getent_passwd(chunk),
            Db::Group => reads::getent_group(chunk),
        };
        let parsed = match tools.run(argv).await {
            Ok(o) if o.status == 0 || o.status == 2 => db.parse(&o.stdout),
            Ok(o) => Err(format!("getent exited {}: {}", o.status, o.message())),
            Err(e) => Err(e),
        };
        for name in chunk {
            let value = match &parsed {
                Ok(found) => found
                    .get(*name)
                    .cloned()
                    .map_or(Lookup::Missing, Lookup::Found),
                Err(e) => Lookup::Failed(e.clone()),
            };
            out.insert(name.to_string(), value);
        }
    }
    out
}

/// The parser of one database's `getent` lines.
trait Parse<T> {
    fn parse(&self, text: &str) -> Result<BTreeMap<String, T>, String>;
}

impl Parse<PasswdEntry> for Db {
    fn parse(&self, text: &str) -> Result<BTreeMap<String, PasswdEntry>, String> {
        parse::passwd(text)
    }
}

impl Parse<u32> for Db {
    fn parse(&self, text: &str) -> Result<BTreeMap<String, u32>, String> {
        parse::group(text)
    }
}

fn is_dir(out: &StorageObserved, path: &str) -> bool {
    matches!(out.paths.get(path), Some(Lookup::Found(s)) if s.kind == FileKind::Directory)
}

fn exists_or_missing(out: &StorageObserved, path: &str) -> bool {
    is_dir(out, path) || matches!(out.paths.get(path), Some(Lookup::Missing))
}

async fn home_quotas(
    tools: &dyn Tools,
    homes: &[(&HomeSpec, &PasswdEntry, String)],
    out: &mut StorageObserved,
) {
    let mut ceph: BTreeMap<QuotaField, Vec<&str>> = BTreeMap::new();
    let mut xfs: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let mut lustre: Vec<(String, u32)> = Vec::new();
    for (spec, entry, path) in homes {
        let Some(q) = &spec.quota else { continue };
        match &q.provider {
            // A CephFS quota lives on the directory: only existing homes have one.
            Provider::CephXattr if is_dir(out, path) => {
                for field in q.limits.keys() {
                    ceph.entry(*field).or_default().push(path);
                }
            }
            Provider::Xfs { mount_point } if exists_or_missing(out, path) => {
                xfs.entry(mount_point).or_default().push(entry.uid)
            }
            Provider::Lustre { mount_point } if exists_or_missing(out, path) => {
                lustre.push((mount_point.clone(), entry.uid))
            }
            _ => {}
        }
    }
    for (field, paths) in ceph {
        for chunk in paths.chunks(reads::PER_CALL) {
            let got = match tools.run(reads::getfattr(field.name(), chunk)).await {
                Ok(o) => parse::getfattr(&o.stdout, &o.stderr, field.name(), chunk),
                Err(e) => chunk
                    .iter()
                    .map(|p| (p.to_string(), Err(e.clone())))
                    .collect(),
            };
            for (path, value) in got {
                merge(out, QuotaTarget::Directory(path), field, value);
            }
        }
    }
    for (mount, uids) in xfs {
        let rows = match tools.run(reads::xfs_report(mount)).await {
            Ok(o) if o.status == 0 && o.stderr.trim().is_empty() => parse::xfs_report(&o.stdout),
            Ok(o) => Err(format!("xfs_quota exited {}: {}", o.status, o.message())),
            Err(e) => Err(e),
        };
        let provider = Provider::Xfs {
            mount_point: mount.to_string(),
        };
        for uid in uids {
            let value = match &rows {
                // No row: no quota record, so no limits.
                Ok(rows) => Lookup::Found(rows.get(&uid).cloned().unwrap_or_default()),
                Err(e) => Lookup::Failed(e.clone()),
            };
            let target = QuotaTarget::User {
                provider: provider.clone(),
                uid,
            };
            out.quotas.insert(target, value);
        }
    }
    // Owned inputs: a stream of futures borrowing from a local would not be Send.
    let lustre_reads = lustre.into_iter().map(|(mount, uid)| async move {
        let value = lfs_quota(tools, false, uid, &mount).await;
        let target = QuotaTarget::User {
            provider: Provider::Lustre { mount_point: mount },
            uid,
        };
        (target, value)
    });
    let results: Vec<_> = futures::stream::iter(lustre_reads)
        .buffer_unordered(CONCURRENT_QUOTA_READS)
        .collect()
        .await;
    out.quotas.extend(results);
}

/// Adds one field's read to a CephFS directory's quota; any failed field fails it.
fn merge(
    out: &mut StorageObserved,
    target: QuotaTarget,
    field: QuotaField,
    value: Result<u64, String>,
) {
    let entry = out
        .quotas
        .entry(target)
        .or_insert_with(|| Lookup::Found(QuotaValues::new()));
    match (entry, value) {
        (Lookup::Found(values), Ok(v)) => {
            values.insert(field, v);
        }
        (entry @ Lookup::Found(_), Err(e)) => *entry = Lookup::Failed(e),
        _ => {}
    }
}

async fn lfs_quota(tools: &dyn Tools, project: bool, id: u32, mount: &str) -> Lookup<QuotaValues> {
    match tools.run(reads::lfs_quota(project, id, mount)).await {
        Ok(o) if o.status == 0 => match parse::lfs_quota(&o.stdout, project, id, mount) {
            Ok(v) => Lookup::Found(v),
            Err(e) => Lookup::Failed(e),
        },
        Ok(o) => Lookup::Failed(format!("lfs quota exited {}: {}", o.status, o.message())),
        Err(e) => Lookup::Failed(e),
    }
}

/// ACLs of existing project directories, their Lustre project ids and project quotas.
async fn project_reads(tools: &dyn Tools, want: &StorageDesired, out: &mut StorageObserved) {
    let existing: Vec<(&ProjectDirSpec, String)> = want
        .projects
        .values()
        .map(|p| (p, p.path()))
        .filter(|(_, path)| is_dir(out, path))
        .collect();
    let with_acl: Vec<&str> = existing
        .iter()
        .filter(|(p, _)| p.acl)
        .map(|(_, path)| path.as_str())
        .collect();
    for chunk in with_acl.chunks(reads::PER_CALL) {
        let got = match tools.run(reads::getfacl(chunk)).await {
            Ok(o) => parse::getfacl(&o.stdout, &o.stderr, chunk),
            Err(e) => chunk
                .iter()
                .map(|p| (p.to_string(), Err(e.clone())))
                .collect(),
        };
        for (path, acl) in got {
            out.acls
                .insert(path, acl.map_or_else(Lookup::Failed, Lookup::Found));
        }
    }
    // A project quota needs the group's GID as project id; without one it is not read.
    let gid = |p: &ProjectDirSpec| out.groups.get(&p.group).and_then(Lookup::found).copied();
    let with_project: Vec<&str> = existing
        .iter()
        .filter(|(p, _)| p.quota.is_some() && gid(p).is_some())
        .map(|(_, path)| path.as_str())
        .collect();
    let project_quotas: BTreeSet<(String, u32)> = want
        .projects
        .values()
        .filter_map(|p| Some((p.quota.as_ref()?.mount_point.clone(), gid(p)?)))
        .collect();
    for chunk in with_project.chunks(reads::PER_CALL) {
        let got = match tools.run(reads::lfs_project(chunk)).await {
            Ok(o) => parse::lfs_project(&o.stdout, chunk),
            Err(e) => chunk
                .iter()
                .map(|p| (p.to_string(), Err(e.clone())))
                .collect(),
        };
        for (path, attr) in got {
            out.projects
                .insert(path, attr.map_or_else(Lookup::Failed, Lookup::Found));
        }
    }
    for (mount, id) in project_quotas {
        let value = lfs_quota(tools, true, id, &mount).await;
        out.quotas.insert(
            QuotaTarget::Project {
                mount_point: mount,
                id,
            },
            value,
        );
    }
}
