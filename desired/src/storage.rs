//! The storage side of the desired state, from the offering's storage settings and the
//! SLURM side already built: a home for every user the agent associates (or, for
//! `agent create-homedirs`, for every OK offering user), and a project directory for
//! every allocation it keeps. Pure; passwd homes are looked up by the observer.

use std::collections::BTreeMap;

use agent_config::{
    HomeQuota, HomeSettings, Offering as OfferingConfig, ProjectDirectory, ProjectGroup,
    QuotaLimit, QuotaProvider,
};
use agent_reconcile::names;
use agent_reconcile::plan::{Diagnostic, Reason};
use agent_reconcile::state::{Desired, Tier};
use agent_reconcile::storage::{
    HomeSpec, ProjectDirSpec, ProjectQuotaSpec, Provider, QuotaField, QuotaSpec, QuotaValues,
    StorageDesired,
};

/// Homes for the users of `desired`'s associations and project directories for its
/// allocations, as the offering configures them.
pub fn for_desired(cfg: &OfferingConfig, desired: &Desired) -> StorageDesired {
    let mut out = StorageDesired::default();
    if let Some(homes) = &cfg.slurm.storage.homes {
        for key in desired.associations.keys() {
            out.homes
                .entry(key.user.clone())
                .or_insert_with(|| home(homes, &key.user))
                .accounts
                .insert(key.account.clone());
        }
    }
    if let Some(pd) = &cfg.slurm.storage.project_directory {
        for spec in desired.accounts.values() {
            if spec.tier != Tier::Allocation || desired.conflicts.contains(&spec.name) {
                continue;
            }
            out.projects.insert(
                spec.name.clone(),
                project(pd, &spec.name, &spec.reason.text),
            );
        }
    }
    out
}

/// Homes for these offering users (`agent create-homedirs`); an invalid name is reported
/// and skipped.
pub fn for_users<'a>(
    cfg: &OfferingConfig,
    users: impl IntoIterator<Item = &'a str>,
) -> StorageDesired {
    let mut out = StorageDesired::default();
    let Some(homes) = &cfg.slurm.storage.homes else {
        return out;
    };
    for raw in users {
        match names::user(raw) {
            Ok(user) => {
                out.homes
                    .entry(user.clone())
                    .or_insert_with(|| home(homes, &user));
            }
            Err(e) => out.diagnostics.push(Diagnostic::error(
                "invalid_name",
                format!(
                    "offering {:?}: offering user {e}; no home directory is made",
                    cfg.name
                ),
            )),
        }
    }
    out
}

fn home(settings: &HomeSettings, user: &str) -> HomeSpec {
    HomeSpec {
        user: user.to_string(),
        accounts: Default::default(),
        base: settings.base_path.clone(),
        umask: settings.umask,
        quota: settings.quota.as_ref().map(quota),
    }
}

fn field(limit: QuotaLimit) -> QuotaField {
    match limit {
        QuotaLimit::MaxBytes => QuotaField::MaxBytes,
        QuotaLimit::MaxFiles => QuotaField::MaxFiles,
        QuotaLimit::BlockSoft => QuotaField::BlockSoft,
        QuotaLimit::BlockHard => QuotaField::BlockHard,
        QuotaLimit::InodeSoft => QuotaField::InodeSoft,
        QuotaLimit::InodeHard => QuotaField::InodeHard,
    }
}

fn limits(list: &[(QuotaLimit, u64)]) -> QuotaValues {
    list.iter()
        .map(|(l, v)| (field(*l), *v))
        .collect::<BTreeMap<_, _>>()
}

fn quota(q: &HomeQuota) -> QuotaSpec {
    QuotaSpec {
        provider: match &q.provider {
            QuotaProvider::CephXattr => Provider::CephXattr,
            QuotaProvider::Xfs { mount_point } => Provider::Xfs {
                mount_point: mount_point.clone(),
            },
            QuotaProvider::Lustre { mount_point } => Provider::Lustre {
                mount_point: mount_point.clone(),
            },
        },
        limits: limits(&q.limits),
    }
}

fn project(pd: &ProjectDirectory, account: &str, why: &str) -> ProjectDirSpec {
    let setgid = if pd.set_gid { 0o2000 } else { 0 };
    ProjectDirSpec {
        account: account.to_string(),
        base: pd.base_path.clone(),
        owner: pd.owner.clone(),
        group: match &pd.group {
            ProjectGroup::Account => account.to_string(),
            ProjectGroup::Named(g) => g.clone(),
        },
        mode: pd.permissions | setgid,
        acl: pd.set_acl,
        quota: pd.lustre_quota.as_ref().map(|q| ProjectQuotaSpec {
            mount_point: q.mount_point.clone(),
            limits: limits(&q.limits),
        }),
        reason: Reason::new(
            "project_directory",
            format!("the shared directory of {account}, the {why}"),
        ),
    }
}
