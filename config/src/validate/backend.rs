//! `backend_settings`: the SLURM side of an offering (accounts, prefixes, QoS, periodic
//! limits).

use serde_saphyr::Spanned;

use super::leaves::{line_of, MAX_PREFIX_LEN};
use super::Validator;
use crate::raw::{Leaf, RawBackendSettings, RawPeriodicLimits};
use crate::types::{
    DefaultAccountPolicy, LimitType, PeriodicLimits, SlurmSettings, DEFAULT_EMULATOR_URL,
};

impl Validator<'_> {
    /// `{p}.backend_settings`, `line` being the offering's. A missing section is reported and
    /// then read as empty, so the keys it requires are reported too.
    pub(super) fn backend_settings(
        &mut self,
        raw: Option<&Spanned<RawBackendSettings>>,
        p: &str,
        line: Option<u64>,
    ) -> SlurmSettings {
        let p = format!("{p}.backend_settings");
        match raw {
            Some(bs) => self.slurm(&bs.value, &p, line_of(bs)),
            None => {
                self.error(&p, line, "required key is missing");
                self.slurm(&RawBackendSettings::default(), &p, line)
            }
        }
    }

    fn slurm(&mut self, raw: &RawBackendSettings, p: &str, line: Option<u64>) -> SlurmSettings {
        let s = |v: &mut Self, leaf: &Leaf, key: &str| v.string(leaf, &format!("{p}.{key}"));
        let default_account = match s(self, &raw.default_account, "default_account") {
            Some(a) if !a.is_empty() => a,
            _ => {
                self.error(
                    &format!("{p}.default_account"),
                    line,
                    "required key is missing (the account users get as DefaultAccount, e.g. root)",
                );
                "root".into()
            }
        };
        let default_account = self.name(
            default_account.to_lowercase(),
            &format!("{p}.default_account"),
            &raw.default_account,
        );
        let policy = match s(self, &raw.default_account_policy, "default_account_policy").as_deref()
        {
            None | Some("common") => DefaultAccountPolicy::Common,
            Some("individual") => DefaultAccountPolicy::Individual,
            Some("none") => DefaultAccountPolicy::None,
            Some(other) => {
                let l = raw.default_account_policy.as_ref().and_then(line_of);
                self.error(
                    &format!("{p}.default_account_policy"),
                    l,
                    format!("{other:?} is not one of common, individual, none"),
                );
                DefaultAccountPolicy::Common
            }
        };
        let root_account = s(self, &raw.root_account, "root_account")
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| default_account.clone());
        let root_account = self.name(
            root_account.to_lowercase(),
            &format!("{p}.root_account"),
            &raw.root_account,
        );
        let prefix = |v: &mut Self, leaf: &Leaf, key: &str| {
            let value = s(v, leaf, key).unwrap_or_default();
            v.name_of_length(value, &format!("{p}.{key}"), leaf, MAX_PREFIX_LEN)
        };
        let customer_prefix = prefix(self, &raw.customer_prefix, "customer_prefix");
        let project_prefix = prefix(self, &raw.project_prefix, "project_prefix");
        let allocation_prefix = prefix(self, &raw.allocation_prefix, "allocation_prefix");
        let parent_account = s(self, &raw.parent_account, "parent_account")
            .filter(|v| !v.is_empty())
            .map(|v| {
                self.name(
                    v.to_lowercase(),
                    &format!("{p}.parent_account"),
                    &raw.parent_account,
                )
            });
        let cluster_name = s(self, &raw.cluster_name, "cluster_name")
            .filter(|v| !v.is_empty())
            .map(|v| {
                self.name(
                    v.to_lowercase(),
                    &format!("{p}.cluster_name"),
                    &raw.cluster_name,
                )
            });
        let slurm_bin_path =
            s(self, &raw.slurm_bin_path, "slurm_bin_path").unwrap_or_else(|| "/usr/bin".into());
        // The programs run from here, and the dry-run script prints the path in every
        // command line: an absolute directory of printable characters only ("" = $PATH).
        if !(slurm_bin_path.is_empty() || slurm_bin_path.starts_with('/'))
            || slurm_bin_path.chars().any(char::is_control)
        {
            let l = raw.slurm_bin_path.as_ref().and_then(line_of);
            self.error(
                &format!("{p}.slurm_bin_path"),
                l,
                format!(
                    "{:?} is not an absolute directory path without control characters",
                    slurm_bin_path
                ),
            );
        }
        if let Some(mode) = s(self, &raw.execution_mode, "execution_mode") {
            if mode != "cli" {
                let l = raw.execution_mode.as_ref().and_then(line_of);
                self.error(
                    &format!("{p}.execution_mode"),
                    l,
                    format!("{mode:?} is not supported: only cli (sacctmgr) is"),
                );
            }
        }
        let default_partition = s(self, &raw.default_partition, "default_partition")
            .filter(|v| !v.is_empty())
            .map(|v| self.name(v, &format!("{p}.default_partition"), &raw.default_partition));
        let qos = |v: &mut Self, leaf: &Leaf, key: &str| {
            s(v, leaf, key)
                .filter(|q| !q.is_empty())
                .map(|q| v.name(q.to_lowercase(), &format!("{p}.{key}"), leaf))
        };
        let qos_default =
            qos(self, &raw.qos_default, "qos_default").unwrap_or_else(|| "normal".into());
        let qos_downscaled = qos(self, &raw.qos_downscaled, "qos_downscaled");
        let qos_paused = qos(self, &raw.qos_paused, "qos_paused");
        let enforce_offering_partitions = self.bool(
            &raw.enforce_offering_partitions,
            &format!("{p}.enforce_offering_partitions"),
            false,
        );
        let qos_enforcement_enabled = self.bool(
            &raw.qos_enforcement_enabled,
            &format!("{p}.qos_enforcement_enabled"),
            false,
        );
        let enforce_offering_qos = self.opt_bool(
            &raw.enforce_offering_qos,
            &format!("{p}.enforce_offering_qos"),
        );
        let soft_delete = self.bool(&raw.soft_delete, &format!("{p}.soft_delete"), false);
        let periodic_limits = self.periodic_limits(raw.periodic_limits.as_ref(), p);
        let storage = self.storage(raw, p);
        SlurmSettings {
            default_account,
            default_account_policy: policy,
            root_account,
            customer_prefix,
            project_prefix,
            allocation_prefix,
            parent_account,
            cluster_name,
            slurm_bin_path,
            default_partition,
            enforce_offering_partitions,
            qos_default,
            qos_downscaled,
            qos_paused,
            qos_enforcement_enabled,
            enforce_offering_qos,
            soft_delete,
            periodic_limits,
            storage,
        }
    }

    /// `{p}.periodic_limits`; absent means disabled.
    fn periodic_limits(
        &mut self,
        raw: Option<&Spanned<RawPeriodicLimits>>,
        p: &str,
    ) -> PeriodicLimits {
        match raw {
            None => PeriodicLimits {
                enabled: false,
                limit_type: LimitType::GrpTresMins,
                emulator_mode: false,
                emulator_base_url: DEFAULT_EMULATOR_URL.to_string(),
            },
            Some(pl) => {
                let pp = format!("{p}.periodic_limits");
                let enabled = self.bool(&pl.value.enabled, &format!("{pp}.enabled"), false);
                let emulator_mode = self.bool(
                    &pl.value.emulator_mode,
                    &format!("{pp}.emulator_mode"),
                    false,
                );
                let url_key = format!("{pp}.emulator_base_url");
                let emulator_base_url = match self.string(&pl.value.emulator_base_url, &url_key) {
                    None => DEFAULT_EMULATOR_URL.to_string(),
                    Some(u) if super::offering::has_userinfo(&u) => {
                        // Not repeated: what precedes the @ is probably a secret, and the URL
                        // goes into plans.
                        let l = pl.value.emulator_base_url.as_ref().and_then(line_of);
                        self.error(&url_key, l, "must not carry user:password@".to_string());
                        DEFAULT_EMULATOR_URL.to_string()
                    }
                    Some(u) if !super::offering::plain_url(&u) => {
                        let l = pl.value.emulator_base_url.as_ref().and_then(line_of);
                        self.error(
                            &url_key,
                            l,
                            "must not contain spaces or control characters".to_string(),
                        );
                        DEFAULT_EMULATOR_URL.to_string()
                    }
                    Some(u) if u.starts_with("http://") || u.starts_with("https://") => u,
                    Some(u) => {
                        let l = pl.value.emulator_base_url.as_ref().and_then(line_of);
                        self.error(
                            &url_key,
                            l,
                            format!("{u:?} is not an http:// or https:// URL"),
                        );
                        DEFAULT_EMULATOR_URL.to_string()
                    }
                };
                let limit_type = match self
                    .string(&pl.value.limit_type, &format!("{pp}.limit_type"))
                    .as_deref()
                {
                    None | Some("GrpTRESMins") => LimitType::GrpTresMins,
                    Some("MaxTRESMins") => LimitType::MaxTresMins,
                    Some("GrpTRES") => LimitType::GrpTres,
                    Some(other) => {
                        let l = pl.value.limit_type.as_ref().and_then(line_of);
                        self.error(
                            &format!("{pp}.limit_type"),
                            l,
                            format!("{other:?} is not one of GrpTRESMins, MaxTRESMins, GrpTRES"),
                        );
                        LimitType::GrpTresMins
                    }
                };
                PeriodicLimits {
                    enabled,
                    limit_type,
                    emulator_mode,
                    emulator_base_url,
                }
            }
        }
    }
}
