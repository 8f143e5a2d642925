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

impl Queries {
    pub fn new(target: &SlurmTarget) -> Self {
        let show = |what: &str| -> Vec<String> {
            vec![
                target.sacctmgr.clone(),
                "--parsable2".into(),
                "--noheader".into(),
                "show".into(),
                what.into(),
            ]
        };
        let mut associations = show("association");
        if let Some(c) = &target.cluster {
            associations.push("where".into());
            associations.push(format!("cluster={c}"));
        }
        associations.push("WOPLimits".into());
        associations.push("WithRawQOSLevel".into());
        associations.push(format!("format={ASSOC_FORMAT}"));
        let with_format = |what: &str, format: &str| {
            let mut argv = show(what);
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
