//! Builds the exact argv vectors the executor runs. Every value has been validated or
//! normalised before it gets here; argv elements are never passed through a shell.

use crate::state::{AccountField, AssocKey, Value};
use crate::tres::{self, TresMap};

/// Where the SLURM programs are and which cluster they act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmTarget {
    /// Path of sacctmgr (`/usr/bin/sacctmgr`, or a bare name resolved through PATH).
    pub sacctmgr: String,
    pub scancel: String,
    /// `cluster=` token / `--cluster=` flag when set.
    pub cluster: Option<String>,
}

impl SlurmTarget {
    pub fn new(bin_dir: &str, cluster: Option<&str>) -> Self {
        let prog = |name: &str| {
            if bin_dir.is_empty() {
                name.to_string()
            } else {
                format!("{}/{}", bin_dir.trim_end_matches('/'), name)
            }
        };
        SlurmTarget {
            sacctmgr: prog("sacctmgr"),
            scancel: prog("scancel"),
            cluster: cluster.map(str::to_string),
        }
    }

    fn write(&self, words: &[&str]) -> Vec<String> {
        let mut argv = vec![self.sacctmgr.clone(), "-i".to_string()];
        argv.extend(words.iter().map(|w| w.to_string()));
        argv
    }

    fn cluster_token(&self) -> Option<String> {
        self.cluster.as_ref().map(|c| format!("cluster={c}"))
    }

    /// `sacctmgr -i add account NAME cluster=C k=v...` with every managed field.
    pub fn add_account(&self, name: &str, sets: &[(AccountField, Value)]) -> Vec<String> {
        let mut argv = self.write(&["add", "account", name]);
        argv.extend(self.cluster_token());
        argv.extend(
            sets.iter()
                .filter_map(|(f, v)| set_token(*f, v, &TresMap::new())),
        );
        argv
    }

    /// `sacctmgr -i modify account where name=NAME cluster=C set k=v...`.
    pub fn modify_account(&self, name: &str, sets: &[(AccountField, Value, Value)]) -> Vec<String> {
        let name_cond = format!("name={name}");
        let mut argv = self.write(&["modify", "account", "where", &name_cond]);
        argv.extend(self.cluster_token());
        argv.push("set".to_string());
        for (field, wanted, current) in sets {
            let current_tres = match current {
                Value::Tres(m) => m.clone(),
                _ => TresMap::new(),
            };
            argv.extend(set_token(*field, wanted, &current_tres));
        }
        argv
    }

    /// `sacctmgr -i modify account where name=NAME cluster=C set KEY=VALUE`: one setting
    /// per command (the periodic fields: fairshare, one TRES entry, RawUsage).
    pub fn modify_account_one(&self, name: &str, setting: &str) -> Vec<String> {
        let name_cond = format!("name={name}");
        let mut argv = self.write(&["modify", "account", "where", &name_cond]);
        argv.extend(self.cluster_token());
        argv.push("set".to_string());
        argv.push(setting.to_string());
        argv
    }

    /// `sacctmgr -i remove account where name=NAME cluster=C`.
    pub fn remove_account(&self, name: &str) -> Vec<String> {
        let name_cond = format!("name={name}");
        let mut argv = self.write(&["remove", "account", "where", &name_cond]);
        argv.extend(self.cluster_token());
        argv
    }

    /// `sacctmgr -i remove user where account=NAME cluster=C`: every user of the account.
    pub fn remove_all_users(&self, account: &str) -> Vec<String> {
        let cond = format!("account={account}");
        let mut argv = self.write(&["remove", "user", "where", &cond]);
        argv.extend(self.cluster_token());
        argv
    }

    /// `sacctmgr -i add user U account=A cluster=C [partition=P] [DefaultAccount=D] ...`.
    pub fn add_user(
        &self,
        key: &AssocKey,
        default_account: Option<&str>,
        qos: Option<(&str, Option<&str>)>,
        max_tres_mins: Option<&TresMap>,
    ) -> Vec<String> {
        let mut argv = self.write(&["add", "user", &key.user]);
        argv.push(format!("account={}", key.account));
        argv.extend(self.cluster_token());
        if !key.partition.is_empty() {
            argv.push(format!("partition={}", key.partition));
        }
        if let Some(d) = default_account {
            argv.push(format!("DefaultAccount={d}"));
        }
        if let Some((levels, default)) = qos {
            argv.push(format!("qos={levels}"));
            if let Some(d) = default {
                argv.push(format!("DefaultQOS={d}"));
            }
        }
        if let Some(m) = max_tres_mins.filter(|m| !m.is_empty()) {
            argv.push(format!("MaxTRESMins={}", tres::render(m)));
        }
        argv.push("fairshare=parent".to_string());
        argv
    }

    fn user_cond(&self, key: &AssocKey) -> Vec<String> {
        let mut argv = vec![
            "where".to_string(),
            format!("name={}", key.user),
            format!("account={}", key.account),
        ];
        if !key.partition.is_empty() {
            argv.push(format!("partition={}", key.partition));
        }
        argv.extend(self.cluster_token());
        argv
    }

    /// `sacctmgr -i modify user where name=U account=A ... set MaxTRESMins=...`.
    pub fn modify_user_limits(
        &self,
        key: &AssocKey,
        wanted: &TresMap,
        current: &TresMap,
    ) -> Vec<String> {
        let mut argv = self.write(&["modify", "user"]);
        argv.extend(self.user_cond(key));
        argv.push("set".to_string());
        argv.push(format!(
            "MaxTRESMins={}",
            tres::render_assignment(wanted, current)
        ));
        argv
    }

    /// `sacctmgr -i remove user where name=U account=A [partition=P] cluster=C`.
    pub fn remove_user(&self, key: &AssocKey) -> Vec<String> {
        let mut argv = self.write(&["remove", "user"]);
        argv.extend(self.user_cond(key));
        argv
    }

    /// `sacctmgr -i modify user where name=U cluster=C set DefaultAccount=A`.
    pub fn set_default_account(&self, user: &str, account: &str) -> Vec<String> {
        let name_cond = format!("name={user}");
        let mut argv = self.write(&["modify", "user", "where", &name_cond]);
        argv.extend(self.cluster_token());
        argv.push("set".to_string());
        argv.push(format!("DefaultAccount={account}"));
        argv
    }

    /// `scancel [--cluster=C] -A ACCOUNT [-u USER] -f`: cancel running and pending jobs.
    pub fn cancel_jobs(&self, account: &str, user: Option<&str>) -> Vec<String> {
        let mut argv = vec![self.scancel.clone()];
        if let Some(c) = &self.cluster {
            argv.push(format!("--cluster={c}"));
        }
        argv.push("-A".to_string());
        argv.push(account.to_string());
        if let Some(u) = user {
            argv.push("-u".to_string());
            argv.push(u.to_string());
        }
        argv.push("-f".to_string());
        argv
    }
}

/// sacctmgr's keyword for a field.
pub fn keyword(field: AccountField) -> &'static str {
    match field {
        AccountField::Parent => "parent",
        AccountField::Description => "description",
        AccountField::Organization => "organization",
        AccountField::Fairshare => "fairshare",
        AccountField::Qos => "qos",
        AccountField::DefaultQos => "defaultqos",
        AccountField::GrpTresMins => "GrpTRESMins",
        AccountField::MaxTresMins => "MaxTRESMins",
        AccountField::GrpTres => "GrpTRES",
        AccountField::GrpSubmitJobs => "GrpSubmitJobs",
    }
}

/// `key=value` for one field; `None` when there is nothing to write (an empty limit map on
/// a new account).
fn set_token(field: AccountField, wanted: &Value, current: &TresMap) -> Option<String> {
    let value = match wanted {
        Value::Text(s) => s.clone(),
        Value::OptText(Some(s)) => s.clone(),
        Value::OptText(None) => "-1".to_string(),
        Value::Shares(s) => s.render(),
        Value::List(l) => l.iter().cloned().collect::<Vec<_>>().join(","),
        Value::Tres(m) => {
            let s = tres::render_assignment(m, current);
            if s.is_empty() {
                return None;
            }
            s
        }
        Value::Count(Some(n)) => n.to_string(),
        Value::Count(None) => "-1".to_string(),
    };
    Some(format!("{}={}", keyword(field), value))
}
