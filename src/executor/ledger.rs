//! What happened to each change of a plan, and the first failure behind each change that
//! did not apply (what a skipped change and an erred order name).

use std::collections::BTreeMap;

use agent_observed::answers::FailureClass;
use agent_reconcile::plan::{Address, Change, Plan};
use serde::Serialize;

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Applied,
    Failed {
        class: FailureClass,
        message: String,
    },
    Skipped {
        because: String,
    },
}

/// Per-change outcome, in plan order.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub statuses: Vec<(Address, Status)>,
}

/// Changes by status, and failures by class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub applied: usize,
    pub failed_retryable: usize,
    pub failed_blocked: usize,
    pub failed_fatal: usize,
    pub skipped: usize,
}

impl Tally {
    pub fn failed(&self) -> usize {
        self.failed_retryable + self.failed_blocked + self.failed_fatal
    }

    pub fn add(&mut self, other: &Tally) {
        self.applied += other.applied;
        self.failed_retryable += other.failed_retryable;
        self.failed_blocked += other.failed_blocked;
        self.failed_fatal += other.failed_fatal;
        self.skipped += other.skipped;
    }
}

impl Outcome {
    /// Changes that did not apply.
    pub fn failed(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(_, s)| !matches!(s, Status::Applied))
            .count()
    }

    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for (_, s) in &self.statuses {
            match s {
                Status::Applied => t.applied += 1,
                Status::Failed { class, .. } => match class {
                    FailureClass::Retryable => t.failed_retryable += 1,
                    FailureClass::Blocked => t.failed_blocked += 1,
                    FailureClass::Fatal => t.failed_fatal += 1,
                },
                Status::Skipped { .. } => t.skipped += 1,
            }
        }
        t
    }
}

/// The first failure behind a change that did not apply: what failed, how, and why.
#[derive(Debug, Clone)]
pub(super) struct RootCause {
    pub address: Address,
    pub class: FailureClass,
    pub message: String,
}

#[derive(Default)]
pub(super) struct Ledger {
    statuses: BTreeMap<Address, Status>,
    causes: BTreeMap<Address, RootCause>,
    /// Commands that ran of a failed change, the failed one included, when known.
    ran: BTreeMap<Address, usize>,
}

impl Ledger {
    pub fn record(&mut self, address: &Address, status: Status, cause: Option<RootCause>) {
        if let Some(c) = cause {
            self.causes.insert(address.clone(), c);
        } else if let Status::Failed { class, message } = &status {
            self.causes.insert(
                address.clone(),
                RootCause {
                    address: address.clone(),
                    class: *class,
                    message: message.clone(),
                },
            );
        }
        self.statuses.insert(address.clone(), status);
    }

    pub fn record_ran(&mut self, address: &Address, ran: Option<usize>) {
        if let Some(n) = ran {
            self.ran.insert(address.clone(), n);
        }
    }

    pub fn status(&self, address: &Address) -> Option<&Status> {
        self.statuses.get(address)
    }

    pub fn ran(&self, address: &Address) -> Option<usize> {
        self.ran.get(address).copied()
    }

    pub fn cause(&self, address: &Address) -> Option<&RootCause> {
        self.causes.get(address)
    }

    /// The first dependency that did not apply, with the failure behind it.
    pub fn unmet(&self, change: &Change) -> Option<RootCause> {
        change
            .depends_on
            .iter()
            .find_map(|d| self.causes.get(d).cloned())
    }

    /// Moves what was recorded for `address` into `other`; false when nothing was.
    pub fn move_to(&mut self, address: &Address, other: &mut Ledger) -> bool {
        let Some(status) = self.statuses.remove(address) else {
            return false;
        };
        other.record(address, status, self.causes.get(address).cloned());
        other.record_ran(address, self.ran.get(address).copied());
        true
    }

    /// The statuses in plan order; a change nothing was recorded for applied.
    pub fn outcome(mut self, plan: &Plan) -> Outcome {
        Outcome {
            statuses: plan
                .changes
                .iter()
                .map(|c| {
                    let status = self.statuses.remove(&c.address).unwrap_or(Status::Applied);
                    (c.address.clone(), status)
                })
                .collect(),
        }
    }
}
