//! Mastermind's computation of a resource's SLURM settings (site-agent spec §4.3), in the
//! same floating-point steps so the integers agree exactly, and the legacy decay variant.
//!
//! Input: the resource's Waldur limits (hours) and, for carry-over, its component usage
//! in the previous period. Output: fairshare, the TRES-minute limits (grace included),
//! the thresholds (informational), and a sentence per value saying how it was reached.

use std::collections::BTreeMap;

use super::policy::{Carryover, PolicyParams};
use crate::limits::MAX_TRES_MINUTES;

/// What one component contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentTotal {
    pub component: String,
    /// The Waldur limit (hours).
    pub base: f64,
    /// Usage in the previous period (`None`: no carry-over considered).
    pub previous_usage: Option<f64>,
    /// Added to the base.
    pub carryover: f64,
    pub total: f64,
}

/// The computed settings of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub components: Vec<ComponentTotal>,
    pub fairshare: u64,
    pub fairshare_why: String,
    /// TRES -> minutes after grace, with how each was reached.
    pub limits: BTreeMap<String, (u64, String)>,
    /// `billing`/`node` -> minutes: the allocation (`qos_threshold`) and its grace limit.
    pub qos_threshold: (String, u64),
    pub grace_limit: (String, u64),
}

/// Shortest decimal form of a float (`1500`, `0.015625`), as a person writes it.
fn num(x: f64) -> String {
    format!("{x}")
}

/// Python's `a // b` for floats (floor of the exact quotient, corrected the way CPython
/// corrects it), so fairshare matches Mastermind's even where `a / b` rounds up.
fn floordiv(a: f64, b: f64) -> f64 {
    let m = a % b;
    let div = (a - m) / b;
    let mut fd = div.floor();
    if div - fd > 0.5 {
        fd += 1.0;
    }
    fd
}

/// `int(x)` of Python for a non-negative float, refusing what no allocation can be.
fn whole(what: &str, x: f64) -> Result<u64, String> {
    if !(0.0..=MAX_TRES_MINUTES).contains(&x) {
        return Err(format!(
            "{what} comes to {x}, more than any real allocation (a limit or weight error)"
        ));
    }
    Ok(x.trunc() as u64)
}

/// The per-component totals: base plus carry-over.
fn totals(
    p: &PolicyParams,
    base: &BTreeMap<String, f64>,
    previous: Option<&BTreeMap<String, f64>>,
) -> Vec<ComponentTotal> {
    base.iter()
        .map(|(c, &b)| {
            let used = previous.map(|u| u.get(c).copied().unwrap_or(0.0));
            let carryover = match (p.carryover, used) {
                (Carryover::Capped(factor), Some(used)) => {
                    let unused = (b - used).max(0.0);
                    let cap = f64::from(factor) / 100.0 * b;
                    unused.min(cap)
                }
                (Carryover::Decay { half_life_days }, Some(used)) => {
                    let days = p.period.days().unwrap_or(0.0);
                    let effective = used * 2f64.powf(-days / half_life_days);
                    (b - effective).max(0.0)
                }
                _ => 0.0,
            };
            ComponentTotal {
                component: c.clone(),
                base: b,
                previous_usage: used,
                carryover,
                total: b + carryover,
            }
        })
        .collect()
}

fn total_why(p: &PolicyParams, t: &ComponentTotal) -> String {
    match (p.carryover, t.previous_usage) {
        (Carryover::Capped(f), Some(used)) if t.carryover > 0.0 => format!(
            "{} + {} carried over ({} unused of {} in the previous period, {} used; at most {f}%) = {} h",
            num(t.base),
            num(t.carryover),
            num((t.base - used).max(0.0)),
            num(t.base),
            num(used),
            num(t.total)
        ),
        (Carryover::Capped(_), Some(used)) => format!(
            "{} h ({} used in the previous period: nothing to carry over)",
            num(t.base),
            num(used)
        ),
        (Carryover::Decay { half_life_days }, Some(used)) => format!(
            "{} + max(0, {} - {} used × 2^(-{}/{})) = {} h",
            num(t.base),
            num(t.base),
            num(used),
            num(p.period.days().unwrap_or(0.0)),
            num(half_life_days),
            num(t.total)
        ),
        _ => format!("{} h (no carry-over)", num(t.base)),
    }
}

/// Computes the settings of one resource. `base` holds the resource's non-zero Waldur
/// limits; `previous` its usage per component in the previous period, or `None` when the
/// policy has no carry-over or the period has no predecessor.
pub fn compute(
    p: &PolicyParams,
    base: &BTreeMap<String, f64>,
    previous: Option<&BTreeMap<String, f64>>,
) -> Result<Computed, String> {
    if let Carryover::Decay { .. } = p.carryover {
        return legacy(p, base, previous);
    }
    let comps = totals(p, base, previous);
    let sum: f64 = comps.iter().map(|c| c.total).sum();
    let fairshare = whole("fairshare", floordiv(sum, 3.0))?.max(1);
    let fairshare_why = format!(
        "max(1, floor(({}) / 3)) = {fairshare}",
        comps
            .iter()
            .map(|c| num(c.total))
            .collect::<Vec<_>>()
            .join(" + ")
    );
    let grace = (p.grace_ratio > 0.0).then_some(1.0 + p.grace_ratio);
    let with_grace = |minutes: u64, what: &str| -> Result<(u64, String), String> {
        match grace {
            Some(g) => {
                let v = whole(what, minutes as f64 * g)?;
                Ok((v, format!("{minutes} × {} grace = {v}", num(g))))
            }
            None => Ok((minutes, format!("{minutes} (no grace)"))),
        }
    };
    let mut limits = BTreeMap::new();
    for c in &comps {
        let minutes = whole(&c.component, c.total * 60.0)?;
        let (v, g) = with_grace(minutes, &c.component)?;
        limits.insert(
            c.component.clone(),
            (v, format!("{} × 60 = {g}", total_why(p, c))),
        );
    }
    let mut weighted = 0.0;
    let mut terms = Vec::new();
    for c in &comps {
        let (key, w) = p.weight(&c.component).unwrap_or(("", 0.0));
        weighted += c.total * w;
        if !key.is_empty() {
            terms.push(format!("{} × {} ({key})", num(c.total), num(w)));
        }
    }
    if p.billing && !p.weights.is_empty() {
        let minutes = whole("billing", weighted * 60.0)?;
        let (v, g) = with_grace(minutes, "billing")?;
        let terms = if terms.is_empty() {
            "no component has a weight".to_string()
        } else {
            terms.join(" + ")
        };
        limits.insert("billing".into(), (v, format!("60 × ({terms}) = {g}")));
    }
    let (key, scalar) = if p.billing {
        let s = if p.weights.is_empty() { sum } else { weighted };
        ("billing", s)
    } else {
        ("node", sum)
    };
    Ok(Computed {
        components: comps,
        fairshare,
        fairshare_why,
        limits,
        qos_threshold: (key.into(), whole("qos_threshold", scalar * 60.0)?),
        grace_limit: (
            key.into(),
            whole("grace_limit", scalar * (1.0 + p.grace_ratio) * 60.0)?,
        ),
    })
}

/// Older Mastermind (`fairshare_decay_half_life`, no `carryover_factor`): previous usage
/// decays, the unused rest carries over without a cap; fairshare `T // 3`; one
/// `billing` (or `node`) limit of `T × 60` minutes, no grace on it.
fn legacy(
    p: &PolicyParams,
    base: &BTreeMap<String, f64>,
    previous: Option<&BTreeMap<String, f64>>,
) -> Result<Computed, String> {
    let comps = totals(p, base, previous);
    let sum: f64 = comps.iter().map(|c| c.total).sum();
    let fairshare = whole("fairshare", floordiv(sum, 3.0))?;
    let key = if p.billing { "billing" } else { "node" };
    let minutes = whole(key, sum * 60.0)?;
    let why = comps
        .iter()
        .map(|c| format!("{}: {}", c.component, total_why(p, c)))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Computed {
        fairshare,
        fairshare_why: format!(
            "floor({} / 3) = {fairshare} (legacy decay formula)",
            num(sum)
        ),
        limits: BTreeMap::from([(
            key.to_string(),
            (minutes, format!("{why}; {} h × 60 = {minutes}", num(sum))),
        )]),
        qos_threshold: (key.into(), minutes),
        grace_limit: (
            key.into(),
            whole("grace_limit", sum * (1.0 + p.grace_ratio) * 60.0)?,
        ),
        components: comps,
    })
}
