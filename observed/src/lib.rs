//! The observed side: what SLURM holds.
//!
//! - [`reads`]: the fixed set of bulk `sacctmgr show ... -P` queries, one per object type,
//!   whatever the number of accounts; and the by-name reads of a scoped pass;
//! - [`parse`]: their parsers, strict about column counts, into [`agent_reconcile::Observed`];
//! - [`runner`]: runs SLURM programs (argv only, `LANG=C`, a timeout, call counters);
//! - [`answers`]: what sacctmgr's answers to a write mean (no-op, failure class);
//! - [`snapshot`]: the same outputs read from a recorded snapshot directory;
//! - [`plausible`]: whether a read can be true (a cluster always has its root account);
//! - [`sacct`]: one billing period's usage from one `sacct` call, summed exactly;
//! - [`storage`]: the filesystem and quota reads the desired homes and project
//!   directories need (getent, lstat, getfattr, xfs_quota, lfs, getfacl), and their
//!   recorded form.

pub mod answers;
pub mod parse;
pub mod plausible;
pub mod reads;
pub mod runner;
pub mod sacct;
pub mod snapshot;
pub mod storage;

pub use parse::{ParseError, RawOutputs};
pub use runner::{RunError, RunOutput, Runner};

use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::scope::Scope;
use agent_reconcile::Observed;

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Observes the cluster with the fixed set of bulk reads, run concurrently.
pub async fn observe(runner: &Runner, target: &SlurmTarget) -> Result<Observed, ObserveError> {
    let q = reads::Queries::new(target);
    let (assoc, accounts, users, qos, tres) = tokio::try_join!(
        runner.read(&q.associations),
        runner.read(&q.accounts),
        runner.read(&q.users),
        runner.read(&q.qos),
        runner.read(&q.tres),
    )?;
    let outputs = RawOutputs {
        associations: (q.associations.join(" "), assoc),
        accounts: (q.accounts.join(" "), accounts),
        users: (q.users.join(" "), users),
        qos: (q.qos.join(" "), qos),
        tres: (q.tres.join(" "), tres),
    };
    Ok(parse::observed(&outputs, target.cluster.as_deref())?)
}

/// Observes what a scoped pass needs ([`Scope`]), by name (the account records whole): the
/// scope's accounts with their user associations, the anchors' own rows, QoS and TRES;
/// then the users found on the scope's accounts or named by the desired state, with every
/// association they have. Five reads, then two, however large the cluster. Names from
/// SLURM go into the second round's argv only when they are names the agent writes; a
/// user left out is one the planner would not touch anyway.
pub async fn observe_scoped(
    runner: &Runner,
    target: &SlurmTarget,
    scope: &Scope,
) -> Result<Observed, ObserveError> {
    let q = reads::Queries::new(target);
    let s = reads::ScopedQueries::new(target, &scope.accounts, &scope.anchors);
    // `account=` with nothing after it would be no filter at all.
    let unless_empty = |names: &std::collections::BTreeSet<String>, argv: Vec<String>| {
        let empty = names.is_empty();
        async move {
            if empty {
                Ok(String::new())
            } else {
                runner.read(&argv).await
            }
        }
    };
    let (assoc, anchors, accounts, qos, tres) = tokio::try_join!(
        unless_empty(&scope.accounts, s.associations.clone()),
        unless_empty(&scope.anchors, s.anchors.clone()),
        runner.read(&s.accounts),
        runner.read(&q.qos),
        runner.read(&q.tres),
    )?;
    let none = || ("-".to_string(), String::new());
    let mut observed = parse::observed(
        &RawOutputs {
            associations: (s.associations.join(" "), assoc),
            accounts: (s.accounts.join(" "), accounts.clone()),
            users: none(),
            qos: (q.qos.join(" "), qos),
            tres: (q.tres.join(" "), tres),
        },
        target.cluster.as_deref(),
    )?;
    let roots = parse::observed(
        &RawOutputs {
            associations: (s.anchors.join(" "), anchors),
            accounts: (s.accounts.join(" "), accounts),
            users: none(),
            qos: none(),
            tres: none(),
        },
        target.cluster.as_deref(),
    )?;
    if observed.cluster.is_empty() {
        observed.cluster = roots.cluster.clone();
    }
    observed.accounts.extend(roots.accounts);
    let users = scope.users_read(&observed);
    if users.is_empty() {
        return Ok(observed);
    }
    let u = reads::UserQueries::new(target, &users);
    let (assoc, user_rows) = tokio::try_join!(runner.read(&u.associations), runner.read(&u.users))?;
    let theirs = parse::observed(
        &RawOutputs {
            associations: (u.associations.join(" "), assoc),
            accounts: none(),
            users: (u.users.join(" "), user_rows),
            qos: none(),
            tres: none(),
        },
        Some(observed.cluster.as_str()),
    )?;
    observed.associations.extend(theirs.associations);
    observed.users = theirs.users;
    Ok(observed)
}
