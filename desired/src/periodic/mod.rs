//! Waldur's periodic usage policies, as pure functions.
//!
//! - [`period`]: which policy period a month is in (`2026-04`, `2026-Q2`, `2026`, `total`),
//!   the one before it and its months;
//! - [`policy`]: the policy document and its parameters with Mastermind's defaults;
//! - [`math`]: Mastermind's computation (base, carry-over, fairshare, TRES minutes, the
//!   weighted `billing` TRES, grace, thresholds) and the legacy decay variant;
//! - [`published`]: the settings Waldur published for a resource, as the agent stores
//!   them, and the part of them it applies.

pub mod math;
pub mod period;
pub mod policy;
pub mod published;

#[cfg(test)]
mod tests;

pub use period::{Period, PeriodKind, YearMonth};
pub use policy::{Policy, PolicyParams};
pub use published::StoredSettings;

use crate::waldur::OfferingComponent;

/// The period a policy counts in: the `limit_period` of the offering's limit-billed
/// components when they agree on one, else the policy's own `period` (as Mastermind
/// decides it).
pub fn effective_kind(policy: PeriodKind, components: &[OfferingComponent]) -> PeriodKind {
    let mut periods: Vec<&str> = components
        .iter()
        .filter(|c| c.billing_type.as_deref() == Some("limit"))
        .filter_map(|c| c.limit_period.as_deref())
        .filter(|p| !p.is_empty())
        .collect();
    periods.sort_unstable();
    periods.dedup();
    match periods.as_slice() {
        [one] => PeriodKind::from_limit_period(one).unwrap_or(policy),
        _ => policy,
    }
}

/// A stored message with the month it was received in (the configured time zone).
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub stored: StoredSettings,
    pub month: YearMonth,
}

/// Component usage of the offering's resources: resource UUID (hex) -> billing month ->
/// component type -> amount.
pub type Usages =
    std::collections::BTreeMap<String, std::collections::BTreeMap<YearMonth, Vec<(String, f64)>>>;
