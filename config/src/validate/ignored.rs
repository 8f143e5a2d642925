//! Keys of the Python agent's file that this agent reads but does not act on. Each one
//! present is named in a warning at load, so no setting silently does nothing; those
//! whose absence of effect changes what happens to SLURM are also recorded on the
//! offering (`Offering::ignored`) for the plan to say so at its top.
//!
//! When a feature lands, its key leaves this table.

use serde_json::Value;

use super::{Problem, Validator};
use crate::raw::known;
use crate::types::Offering;

/// When a key counts as set: some keys are harmless at their default.
#[derive(Clone, Copy)]
enum When {
    /// Present at all.
    Present,
    /// True, or a mapping whose `enabled` is true.
    Enabled,
    /// Anything but this text.
    Not(&'static str),
    /// Absent, null or empty.
    Unset,
}

struct Ignored {
    key: &'static str,
    when: When,
    /// What does not happen, in the warning's words.
    effect: &'static str,
    /// The plan says so too: SLURM or the filesystem ends up other than the Python agent
    /// would leave them.
    affects_slurm: bool,
}

const TOP: &[Ignored] = &[
    Ignored {
        key: "sentry_dsn",
        when: When::Present,
        effect: "errors are not sent to Sentry",
        affects_slurm: false,
    },
    Ignored {
        key: "elastic_apm_server_url",
        when: When::Present,
        effect: "no Elastic APM",
        affects_slurm: false,
    },
    Ignored {
        key: "global_proxy",
        when: When::Present,
        effect: "Waldur is reached directly, not through this proxy",
        affects_slurm: false,
    },
    Ignored {
        key: "log_shipping",
        when: When::Enabled,
        effect: "logs are not shipped to Waldur",
        affects_slurm: false,
    },
];

const OFFERING: &[Ignored] = &[
    Ignored { key: "membership_sync_backend", when: When::Unset, effect: "unset, the Python agent would leave this offering's members, pause/downscale QoS and per-user limits alone; this agent manages them all the same (set it to slurm to silence this)", affects_slurm: true },
    Ignored { key: "username_management_backend", when: When::Not("base"), effect: "usernames are never generated (only `base` is supported)", affects_slurm: false },
    Ignored { key: "resource_import_enabled", when: When::Enabled, effect: "unmanaged SLURM accounts are not offered to Waldur for import", affects_slurm: false },
    Ignored { key: "username_reconciliation_enabled", when: When::Enabled, effect: "username reconciliation is a federation feature this agent does not have", affects_slurm: false },
    Ignored { key: "oidc_token_url", when: When::Present, effect: "OIDC is not supported; the API token is used", affects_slurm: false },
    Ignored { key: "oidc_client_id", when: When::Present, effect: "OIDC is not supported; the API token is used", affects_slurm: false },
    Ignored { key: "oidc_client_secret", when: When::Present, effect: "OIDC is not supported; the API token is used", affects_slurm: false },
    Ignored { key: "mqtt_enabled", when: When::Enabled, effect: "MQTT is not supported", affects_slurm: false },
];

const BACKEND_SETTINGS: &[Ignored] = &[
    Ignored { key: "rest_api", when: When::Present, effect: "slurmrestd is not used; sacctmgr is", affects_slurm: false },
    Ignored { key: "qos_management", when: When::Enabled, effect: "no per-account QoS is created or removed", affects_slurm: true },
    Ignored { key: "ldap", when: When::Present, effect: "no LDAP groups are created or kept in step (project directory groups and Lustre project ids come from the system group database)", affects_slurm: true },
    Ignored { key: "check_backend_id_uniqueness", when: When::Enabled, effect: "Waldur is not asked whether a new name was used before; a taken SLURM name gets a -1 .. -50 suffix", affects_slurm: false },
    Ignored { key: "check_all_offerings", when: When::Enabled, effect: "Waldur is not asked whether a new name was used before", affects_slurm: false },
    Ignored { key: "backend_id_max_retries", when: When::Present, effect: "a taken name gets the first free -1 .. -50 suffix", affects_slurm: false },
];

/// Keys older agents read here; the policy's parameters now live in Waldur's policy.
const PERIODIC_LIMITS: &[Ignored] = &[
    Ignored { key: "tres_billing_enabled", when: When::Present, effect: "Waldur's periodic policy decides it", affects_slurm: false },
    Ignored { key: "tres_billing_weights", when: When::Present, effect: "Waldur's periodic policy decides them", affects_slurm: false },
    Ignored { key: "fairshare_decay_half_life", when: When::Present, effect: "Waldur's periodic policy decides it", affects_slurm: false },
    Ignored { key: "grace_ratio", when: When::Present, effect: "Waldur's periodic policy decides it", affects_slurm: false },
    Ignored { key: "default_grace_ratio", when: When::Present, effect: "Waldur's periodic policy decides it", affects_slurm: false },
    Ignored { key: "carryover_enabled", when: When::Present, effect: "Waldur's periodic policy decides it", affects_slurm: false },
    Ignored { key: "raw_usage_reset", when: When::Present, effect: "Waldur's periodic policy decides it", affects_slurm: false },
    Ignored { key: "qos_levels", when: When::Present, effect: "QoS follows the resource's paused/downscaled flags (qos_default, qos_downscaled, qos_paused)", affects_slurm: false },
    Ignored { key: "api_endpoints", when: When::Present, effect: "only emulator_base_url is used", affects_slurm: false },
];

fn set(value: &Value, when: When) -> bool {
    let enabled = |v: &Value| match v {
        Value::Bool(b) => *b,
        Value::Object(m) => m.get("enabled").is_some_and(|e| e == &Value::Bool(true)),
        Value::Null => false,
        _ => true,
    };
    match when {
        When::Present => !value.is_null(),
        When::Enabled => enabled(value),
        When::Not(text) => !value.is_null() && value.as_str() != Some(text),
        When::Unset => value.is_null() || value.as_str() == Some(""),
    }
}

impl Validator<'_> {
    /// Warns about every ignored key that is set, and records on each offering the ones
    /// the plan must mention.
    pub(super) fn ignored_keys(&mut self, tree: &Value, offerings: &mut [Offering]) {
        let Value::Object(top) = tree else { return };
        self.ignored_in(top, "", TOP);
        let Some(Value::Array(list)) = top.get("offerings") else {
            return;
        };
        for (i, (raw, offering)) in list.iter().zip(offerings.iter_mut()).enumerate() {
            let Value::Object(o) = raw else { continue };
            let p = format!("offerings[{i}]");
            let mut loud = self.ignored_in(o, &p, OFFERING);
            let empty = serde_json::Map::new();
            let bs = match o.get("backend_settings") {
                Some(Value::Object(bs)) => bs,
                _ => &empty,
            };
            loud.extend(self.ignored_in(bs, &format!("{p}.backend_settings"), BACKEND_SETTINGS));
            if let Some(Value::Object(pl)) = bs.get("periodic_limits") {
                loud.extend(self.ignored_in(
                    pl,
                    &format!("{p}.backend_settings.periodic_limits"),
                    PERIODIC_LIMITS,
                ));
            }
            if let Some(Value::Object(comps)) = o.get("backend_components") {
                let mut metadata: Vec<String> = comps
                    .iter()
                    .filter_map(|(name, c)| Some((name, c.as_object()?)))
                    .flat_map(|(name, c)| {
                        c.keys()
                            .filter(|k| known::COMPONENT_METADATA.contains(&k.as_str()))
                            .map(move |k| format!("{name}.{k}"))
                    })
                    .collect();
                metadata.sort();
                if !metadata.is_empty() {
                    self.warnings.push(Problem {
                        path: format!("{p}.backend_components"),
                        line: None,
                        message: format!(
                            "{} have no effect here (only waldur_site_load_components reads them)",
                            metadata.join(", ")
                        ),
                    });
                }
            }
            offering.ignored = loud;
        }
    }

    /// Warns about the set keys of `table` in `map`; returns the warnings of those that
    /// affect SLURM.
    fn ignored_in(
        &mut self,
        map: &serde_json::Map<String, Value>,
        path: &str,
        table: &[Ignored],
    ) -> Vec<String> {
        let mut loud = Vec::new();
        for entry in table {
            let value = map.get(entry.key).unwrap_or(&Value::Null);
            if !set(value, entry.when) {
                continue;
            }
            let full = if path.is_empty() {
                entry.key.to_string()
            } else {
                format!("{path}.{}", entry.key)
            };
            let message = match entry.when {
                When::Unset => format!("is {}", entry.effect),
                _ => format!("has no effect in this agent: {}", entry.effect),
            };
            if entry.affects_slurm {
                loud.push(format!("{full} {message}"));
            }
            self.warnings.push(Problem {
                path: full,
                line: None,
                message,
            });
        }
        loud
    }
}
