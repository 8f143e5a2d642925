//! Unknown keys: anything a section does not list in [`crate::raw::known`] is a warning,
//! not an error, so files written for the Python agent still load.

use serde_json::Value;

use super::{Problem, Validator};
use crate::raw::known;

impl Validator<'_> {
    pub(super) fn unknown_keys(&mut self, tree: &Value) {
        let Value::Object(top) = tree else { return };
        self.unknown_in(top, "", known::TOP);
        if let Some(Value::Array(offerings)) = top.get("offerings") {
            for (i, o) in offerings.iter().enumerate() {
                let Value::Object(o) = o else { continue };
                let p = format!("offerings[{i}]");
                self.unknown_in(o, &p, known::OFFERING);
                if let Some(Value::Object(bs)) = o.get("backend_settings") {
                    let bp = format!("{p}.backend_settings");
                    self.unknown_in(bs, &bp, known::BACKEND_SETTINGS);
                    if let Some(Value::Object(q)) = bs.get("homedir_quota") {
                        self.unknown_in(q, &format!("{bp}.homedir_quota"), known::HOMEDIR_QUOTA);
                    }
                    if let Some(Value::Object(pl)) = bs.get("periodic_limits") {
                        self.unknown_in(
                            pl,
                            &format!("{bp}.periodic_limits"),
                            known::PERIODIC_LIMITS,
                        );
                    }
                    if let Some(Value::Object(pd)) = bs.get("project_directory") {
                        let pp = format!("{bp}.project_directory");
                        self.unknown_in(pd, &pp, known::PROJECT_DIRECTORY);
                        if let Some(Value::Object(l)) = pd.get("lustre_quota") {
                            self.unknown_in(l, &format!("{pp}.lustre_quota"), known::LUSTRE_QUOTA);
                        }
                    }
                }
                if let Some(Value::Object(comps)) = o.get("backend_components") {
                    for (name, c) in comps {
                        if let Value::Object(c) = c {
                            let keys = [known::COMPONENT, known::COMPONENT_METADATA].concat();
                            self.unknown_in(c, &format!("{p}.backend_components.{name}"), &keys);
                        }
                    }
                }
            }
        }
        if let Some(Value::Object(agent)) = top.get("agent") {
            self.unknown_in(agent, "agent", known::AGENT);
        }
    }

    fn unknown_in(&mut self, map: &serde_json::Map<String, Value>, path: &str, known: &[&str]) {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                let full = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                self.warnings.push(Problem {
                    path: full,
                    line: None,
                    message: "unknown key, ignored".into(),
                });
            }
        }
    }
}
