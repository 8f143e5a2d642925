//! `backend_components`: one entry per TRES, with its unit, accounting type, limit and
//! `target_components`.

use indexmap::IndexMap;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::leaves::line_of;
use super::Validator;
use crate::raw::RawComponent;
use crate::types::{AccountingType, Component};

/// Largest `unit_factor` accepted: far above any real unit (a PB-hour of memory is
/// 6.4e10 MB-minutes), far below factors that would put every limit past what the agent
/// writes.
const MAX_UNIT_FACTOR: f64 = 1e12;

impl Validator<'_> {
    /// `{p}.backend_components`, `line` being the offering's.
    pub(super) fn backend_components(
        &mut self,
        raw: Option<Spanned<IndexMap<String, Spanned<RawComponent>>>>,
        p: &str,
        line: Option<u64>,
    ) -> IndexMap<String, Component> {
        let mut components = IndexMap::new();
        match raw {
            None => self.error(
                &format!("{p}.backend_components"),
                line,
                "required key is missing: list at least one component",
            ),
            Some(comps) => {
                for (key, c) in comps.value {
                    let cp = format!("{p}.backend_components.{key}");
                    if !key
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "_-/".contains(ch))
                        || key.is_empty()
                    {
                        self.error(
                            &cp,
                            line_of(&c),
                            "component name must be a TRES name such as cpu, mem or gres/gpu",
                        );
                    }
                    let cl = line_of(&c);
                    components.insert(key.clone(), self.component(&c.value, &cp, cl));
                }
            }
        }
        components
    }

    fn component(&mut self, raw: &RawComponent, p: &str, line: Option<u64>) -> Component {
        let measured_unit = self
            .string(&raw.measured_unit, &format!("{p}.measured_unit"))
            .unwrap_or_default();
        let label = self
            .string(&raw.label, &format!("{p}.label"))
            .unwrap_or_default();
        let unit_factor = self
            .number(&raw.unit_factor, &format!("{p}.unit_factor"))
            .unwrap_or(1.0);
        if unit_factor <= 0.0 || !unit_factor.is_finite() {
            let l = raw.unit_factor.as_ref().and_then(line_of);
            self.error(&format!("{p}.unit_factor"), l, "must be a positive number");
        } else if unit_factor > MAX_UNIT_FACTOR {
            // Not an error per resource (that would err every order for a typo here).
            let l = raw.unit_factor.as_ref().and_then(line_of);
            self.error(
                &format!("{p}.unit_factor"),
                l,
                format!("{unit_factor:e} TRES-minutes per Waldur unit is more than {MAX_UNIT_FACTOR:e} (a PB-hour of memory is 6.4e10)"),
            );
        }
        let accounting_type = match self
            .string(&raw.accounting_type, &format!("{p}.accounting_type"))
            .as_deref()
        {
            Some("usage") => AccountingType::Usage,
            Some("limit") => AccountingType::Limit,
            Some("one") => AccountingType::One,
            None => {
                self.error(
                    &format!("{p}.accounting_type"),
                    line,
                    "required key is missing (usage, limit or one)",
                );
                AccountingType::Usage
            }
            Some(other) => {
                let l = raw.accounting_type.as_ref().and_then(line_of);
                self.error(
                    &format!("{p}.accounting_type"),
                    l,
                    format!("{other:?} is not one of usage, limit, one"),
                );
                AccountingType::Usage
            }
        };
        let limit = self.number(&raw.limit, &format!("{p}.limit"));
        if limit.is_some_and(|l| l < 0.0) {
            let l = raw.limit.as_ref().and_then(line_of);
            self.error(&format!("{p}.limit"), l, "must not be negative");
        }
        let target_components = raw
            .target_components
            .as_ref()
            .and_then(|s| self.targets(s, &format!("{p}.target_components")));
        Component {
            measured_unit,
            label,
            unit_factor,
            accounting_type,
            limit,
            target_components,
        }
    }

    /// `target_components: {cpu: {factor: 64}, gres/gpu: {factor: 8}}`.
    fn targets(&mut self, s: &Spanned<Value>, p: &str) -> Option<IndexMap<String, f64>> {
        let Value::Object(map) = &s.value else {
            if !s.value.is_null() {
                self.error(
                    p,
                    line_of(s),
                    "expected a mapping of TRES name to {factor: N}",
                );
            }
            return None;
        };
        let mut out = IndexMap::new();
        for (tres, spec) in map {
            match spec.get("factor").and_then(Value::as_f64) {
                Some(f) if f > 0.0 => {
                    out.insert(tres.clone(), f);
                }
                _ => self.error(
                    &format!("{p}.{tres}"),
                    line_of(s),
                    "needs a positive factor, e.g. {factor: 64}",
                ),
            }
        }
        Some(out)
    }
}
