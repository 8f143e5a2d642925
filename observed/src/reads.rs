//! The bulk read queries. Each names its columns explicitly (`format=`) because default
//! columns change between SLURM versions, and reads raw values (`WOPLimits`: no limits
//! inherited from parents; `WithRawQOSLevel`: the QoS as set, not as resolved), which is
//! what the agent writes; otherwise inherited values would look like drift forever.

use agent_reconcile::commands::SlurmTarget;

/// Association columns, in order.
pub const ASSOC_FORMAT: &str =
    "Cluster,Account,User,Partition,ParentName,Share,QOS,DefaultQOS,GrpTRESMins,MaxTRESMins,GrpTRES,GrpSubmitJobs";
pub const ASSOC_COLUMNS: usize = 12;
/// Description goes last: a stray `|` or newline in it can then be repaired while parsing.
pub const ACCOUNT_FORMAT: &str = "Account,Organization,Description";
pub const USER_FORMAT: &str = "User,DefaultAccount";
pub const QOS_FORMAT: &str = "Name";
pub const TRES_FORMAT: &str = "Type,Name";

/// The argv of every read.
pub struct Queries {
    pub associations: Vec<String>,
    pub accounts: Vec<String>,
    pub users: Vec<String>,
    pub qos: Vec<String>,
    pub tres: Vec<String>,
}

/// The reads of a scoped pass ([`agent_reconcile::scope`]), by name.
pub struct ScopedQueries {
    /// The account-level rows and user associations of the scope's accounts.
    pub associations: Vec<String>,
    /// The account-level rows only (`user=` with an empty list, SLURM 22.05) of the anchors.
    pub anchors: Vec<String>,
    /// Every account record (see [`ScopedQueries::new`]).
    pub accounts: Vec<String>,
}

/// The argv of the second round of a scoped read: these users and all their associations.
pub struct UserQueries {
    pub associations: Vec<String>,
    pub users: Vec<String>,
}

fn show(target: &SlurmTarget, what: &str) -> Vec<String> {
    vec![
        target.sacctmgr.clone(),
        "--parsable2".into(),
        "--noheader".into(),
        "show".into(),
        what.into(),
    ]
}

/// `show association where [cluster=C] <filter>=a,b,c WOPLimits WithRawQOSLevel format=…`.
fn associations_where(target: &SlurmTarget, filter: Option<(&str, String)>) -> Vec<String> {
    let mut argv = show(target, "association");
    if target.cluster.is_some() || filter.is_some() {
        argv.push("where".into());
    }
    if let Some(c) = &target.cluster {
        argv.push(format!("cluster={c}"));
    }
    if let Some((key, list)) = filter {
        argv.push(format!("{key}={list}"));
    }
    argv.push("WOPLimits".into());
    argv.push("WithRawQOSLevel".into());
    argv.push(format!("format={ASSOC_FORMAT}"));
    argv
}

fn list(names: &std::collections::BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(",")
}

impl ScopedQueries {
    /// Names must be names the agent writes (validated: no `,`, `=` or space).
    pub fn new(
        target: &SlurmTarget,
        accounts: &std::collections::BTreeSet<String>,
        anchors: &std::collections::BTreeSet<String>,
    ) -> Self {
        // The account records (description, organization) are read whole: a small table
        // with no nested set behind it, and slurm-emulator ignores `format=` after a
        // `where` on accounts (it then prints nothing). The parser keeps the records of
        // the accounts the association rows show.
        let mut acc = show(target, "account");
        acc.push(format!("format={ACCOUNT_FORMAT}"));
        let mut anchor_rows = associations_where(target, Some(("account", list(anchors))));
        let at = anchor_rows.len() - 3;
        anchor_rows.insert(at, "user=".into());
        ScopedQueries {
            associations: associations_where(target, Some(("account", list(accounts)))),
            anchors: anchor_rows,
            accounts: acc,
        }
    }
}

impl UserQueries {
    /// `users` must be names the agent writes.
    pub fn new(target: &SlurmTarget, users: &std::collections::BTreeSet<String>) -> Self {
        let mut u = show(target, "user");
        u.push("where".into());
        u.push(format!("name={}", list(users)));
        u.push(format!("format={USER_FORMAT}"));
        UserQueries {
            associations: associations_where(target, Some(("user", list(users)))),
            users: u,
        }
    }
}

impl Queries {
    pub fn new(target: &SlurmTarget) -> Self {
        let associations = associations_where(target, None);
        let with_format = |what: &str, format: &str| {
            let mut argv = show(target, what);
            argv.push(format!("format={format}"));
            argv
        };
        Queries {
            associations,
            accounts: with_format("account", ACCOUNT_FORMAT),
            users: with_format("user", USER_FORMAT),
            qos: with_format("qos", QOS_FORMAT),
            tres: with_format("tres", TRES_FORMAT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn scoped_reads_name_their_accounts_and_users() {
        let t = SlurmTarget::new("/usr/bin", Some("c1"));
        let anchors: BTreeSet<String> = ["root".to_string()].into_iter().collect();
        let names: BTreeSet<String> = ["a_one".to_string()].into_iter().collect();
        let s = ScopedQueries::new(&t, &names, &anchors);
        assert_eq!(
            s.associations.join(" "),
            format!("/usr/bin/sacctmgr --parsable2 --noheader show association where cluster=c1 account=a_one WOPLimits WithRawQOSLevel format={ASSOC_FORMAT}")
        );
        assert_eq!(
            s.anchors.join(" "),
            format!("/usr/bin/sacctmgr --parsable2 --noheader show association where cluster=c1 account=root user= WOPLimits WithRawQOSLevel format={ASSOC_FORMAT}")
        );
        assert_eq!(
            s.accounts.join(" "),
            "/usr/bin/sacctmgr --parsable2 --noheader show account format=Account,Organization,Description"
        );
        let u = UserQueries::new(&t, &["ann".to_string()].into_iter().collect());
        assert!(u.associations.contains(&"user=ann".to_string()));
        assert_eq!(
            u.users[5..],
            ["where", "name=ann", "format=User,DefaultAccount"]
        );
        // The full read is unchanged.
        let q = Queries::new(&t);
        assert_eq!(q.associations[4..7], ["association", "where", "cluster=c1"]);
    }
}
