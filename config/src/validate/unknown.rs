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
                    self.unknown_in(
                        bs,
                        &format!("{p}.backend_settings"),
                        known::BACKEND_SETTINGS,
                    );
                    if let Some(Value::Object(pl)) = bs.get("periodic_limits") {
                        self.unknown_in(
                            pl,
                            &format!("{p}.backend_settings.periodic_limits"),
                            known::PERIODIC_LIMITS,
                        );
                    }
                }
                if let Some(Value::Object(comps)) = o.get("backend_components") {
                    for (name, c) in comps {
                        if let Value::Object(c) = c {
                            self.unknown_in(
                                c,
                                &format!("{p}.backend_components.{name}"),
                                known::COMPONENT,
                            );
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
