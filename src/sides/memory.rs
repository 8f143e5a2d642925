//! Every system held in memory, for in-process tests of the executor, the cycle and the
//! daemon: SLURM applies each change's effect to an [`Observed`] (as the planner's own
//! simulation does) and can be told to fail chosen changes; Waldur serves fixed documents
//! and applies the calls the agent makes to them (orders done or erred, backend ids and
//! metadata set), recording every call; storage holds a [`StorageObserved`] and applies
//! storage changes to it the same way.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use agent_config::Offering;
use agent_desired::waldur::{hex, OrderState};
use agent_desired::WaldurDocs;
use agent_observed::answers::FailureClass;
use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::plan::Change;
use agent_reconcile::storage::{StorageDesired, StorageObserved};
use agent_reconcile::{simulate, Observed};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;

use super::{
    Failure, LongRun, SlurmReads, SlurmWrites, StorageReads, StorageWrites, WaldurReads,
    WaldurWrites,
};

/// One log both in-memory systems can write to, so a test sees the order of work across
/// them: `slurm <address>` and `waldur <METHOD> <path>` lines.
pub type Journal = Arc<Mutex<Vec<String>>>;

fn note(journal: &Option<Journal>, line: String) {
    if let Some(j) = journal {
        j.lock().expect("lock").push(line);
    }
}

/// A SLURM cluster in memory.
#[derive(Default)]
pub struct MemorySlurm {
    state: Mutex<Observed>,
    journal: Option<Journal>,
    /// Changes (by address) that fail, with the failure, how many more times.
    failing: Mutex<BTreeMap<String, (Failure, usize)>>,
    applied: Mutex<Vec<String>>,
    observations: Mutex<u64>,
    /// Sessions and loads stop at their timeout, having applied nothing.
    long_runs_time_out: Mutex<bool>,
}

impl MemorySlurm {
    pub fn new(state: Observed) -> Self {
        MemorySlurm {
            state: Mutex::new(state),
            ..MemorySlurm::default()
        }
    }

    /// Also writes every applied change to `journal`.
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    pub fn state(&self) -> Observed {
        self.state.lock().expect("lock").clone()
    }

    /// Changes the cluster behind the agent's back (drift made by hand).
    pub fn edit(&self, f: impl FnOnce(&mut Observed)) {
        f(&mut self.state.lock().expect("lock"));
    }

    /// The change at `address` fails the next `times` times it is applied.
    pub fn fail(&self, address: &str, class: FailureClass, message: &str, times: usize) {
        self.failing
            .lock()
            .expect("lock")
            .insert(address.to_string(), (Failure::new(class, message), times));
    }

    /// From now on every session and load runs past its timeout.
    pub fn time_out_long_runs(&self) {
        *self.long_runs_time_out.lock().expect("lock") = true;
    }

    fn long_run_times_out(&self) -> bool {
        *self.long_runs_time_out.lock().expect("lock")
    }

    /// Addresses of the changes applied so far, in order.
    pub fn applied(&self) -> Vec<String> {
        self.applied.lock().expect("lock").clone()
    }

    fn apply_one(&self, change: &Change) -> Result<(), Failure> {
        let address = change.address.to_string();
        if let Some((failure, left)) = self.failing.lock().expect("lock").get_mut(&address) {
            if *left > 0 {
                *left -= 1;
                return Err(failure.clone());
            }
        }
        simulate::apply_change(&mut self.state.lock().expect("lock"), change);
        note(&self.journal, format!("slurm {address}"));
        self.applied.lock().expect("lock").push(address);
        Ok(())
    }
}

impl SlurmReads for MemorySlurm {
    fn observe<'a>(&'a self, _target: &'a SlurmTarget) -> BoxFuture<'a, anyhow::Result<Observed>> {
        *self.observations.lock().expect("lock") += 1;
        let state = self.state();
        async move { Ok(state) }.boxed()
    }

    fn processes(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([(
            "observe".to_string(),
            *self.observations.lock().expect("lock"),
        )])
    }
}

impl SlurmWrites for MemorySlurm {
    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), Failure>> {
        let result = self.apply_one(change);
        async move { result }.boxed()
    }

    /// Like a real session, a failing line does not stop the others and is not reported.
    fn apply_session<'a>(&'a self, changes: &'a [&'a Change]) -> BoxFuture<'a, LongRun> {
        if self.long_run_times_out() {
            return async { LongRun::TimedOut("the session timed out".into()) }.boxed();
        }
        for change in changes {
            let _ = self.apply_one(change);
        }
        async { LongRun::Ended }.boxed()
    }

    /// Like `sacctmgr load`: each carried change takes effect unless told to fail, and
    /// nothing is reported.
    fn apply_load<'a>(
        &'a self,
        file: &'a agent_reconcile::load::LoadFile,
        changes: &'a [&'a Change],
    ) -> BoxFuture<'a, LongRun> {
        note(
            &self.journal,
            format!("slurm load of {} lines", file.lines.len()),
        );
        if self.long_run_times_out() {
            return async { LongRun::TimedOut("the load timed out".into()) }.boxed();
        }
        for change in changes {
            let _ = self.apply_one(change);
        }
        async { LongRun::Ended }.boxed()
    }
}

/// One call the agent made.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub offering: String,
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
}

/// Waldur in memory: documents per offering UUID.
#[derive(Default)]
pub struct MemoryWaldur {
    docs: Mutex<BTreeMap<String, WaldurDocs>>,
    journal: Option<Journal>,
    calls: Mutex<Vec<Call>>,
    /// Calls whose path contains the key fail with the failure.
    failing: Mutex<Vec<(String, Failure)>>,
}

impl MemoryWaldur {
    pub fn new(docs: BTreeMap<String, WaldurDocs>) -> Self {
        MemoryWaldur {
            docs: Mutex::new(docs),
            ..MemoryWaldur::default()
        }
    }

    /// Also writes every call to `journal`.
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Changes what Waldur holds (a new order, a new member).
    pub fn edit(&self, offering: &str, f: impl FnOnce(&mut WaldurDocs)) {
        if let Some(d) = self.docs.lock().expect("lock").get_mut(offering) {
            f(d);
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    pub fn fail(&self, path_part: &str, class: FailureClass, message: &str) {
        self.failing
            .lock()
            .expect("lock")
            .push((path_part.to_string(), Failure::new(class, message)));
    }

    /// What Mastermind does with the calls the agent makes, as far as the next read
    /// shows it.
    fn apply_call(docs: &mut WaldurDocs, path: &str, body: Option<&Value>) {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (uuid, action) = match parts.as_slice() {
            [_, _, uuid, action] => (*uuid, *action),
            _ => return,
        };
        match action {
            "approve_by_provider" => docs
                .orders
                .iter_mut()
                .filter(|o| hex(&o.uuid) == uuid)
                .for_each(|o| o.state = OrderState::Executing),
            "set_state_done" | "set_state_erred" => docs.orders.retain(|o| hex(&o.uuid) != uuid),
            "set_backend_id" => {
                let id = body.and_then(|b| b["backend_id"].as_str()).unwrap_or("");
                for r in docs.resources.iter_mut().filter(|r| hex(&r.uuid) == uuid) {
                    r.backend_id = Some(id.to_string());
                    r.state = "OK".into();
                }
            }
            "set_backend_metadata" => {
                if let Some(Value::Object(m)) = body.map(|b| &b["backend_metadata"]) {
                    for r in docs.resources.iter_mut().filter(|r| hex(&r.uuid) == uuid) {
                        r.backend_metadata = m.clone().into_iter().collect();
                    }
                }
            }
            "set_as_ok" => docs
                .resources
                .iter_mut()
                .filter(|r| hex(&r.uuid) == uuid)
                .for_each(|r| r.state = "OK".into()),
            _ => {}
        }
    }
}

impl WaldurReads for MemoryWaldur {
    fn docs<'a>(&'a self, offering: &'a Offering) -> BoxFuture<'a, anyhow::Result<WaldurDocs>> {
        let docs = self.docs.lock().expect("lock").get(&offering.uuid).cloned();
        async move {
            docs.ok_or_else(|| anyhow::anyhow!("offering {:?} is not in memory", offering.name))
        }
        .boxed()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn requests(&self) -> u64 {
        self.calls.lock().expect("lock").len() as u64
    }
}

impl WaldurWrites for MemoryWaldur {
    fn call<'a>(
        &'a self,
        offering: &'a str,
        method: &'a str,
        path: &'a str,
        body: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        let failure = self
            .failing
            .lock()
            .expect("lock")
            .iter()
            .find(|(part, _)| path.contains(part.as_str()))
            .map(|(_, f)| f.clone());
        let result = match failure {
            Some(f) => Err(f),
            None => {
                note(&self.journal, format!("waldur {method} {path}"));
                self.calls.lock().expect("lock").push(Call {
                    offering: offering.to_string(),
                    method: method.to_string(),
                    path: path.to_string(),
                    body: body.cloned(),
                });
                if let Some(d) = self.docs.lock().expect("lock").get_mut(offering) {
                    Self::apply_call(d, path, body);
                }
                Ok(())
            }
        };
        async move { result }.boxed()
    }
}

/// Storage in memory: the lookups it holds are what every read returns; applied changes
/// change them as the filesystem would.
#[derive(Default)]
pub struct MemoryStorage {
    state: Mutex<StorageObserved>,
    applied: Mutex<Vec<String>>,
    /// Changes (by address) that fail, with the failure.
    failing: Mutex<BTreeMap<String, Failure>>,
}

impl MemoryStorage {
    pub fn new(state: StorageObserved) -> Self {
        MemoryStorage {
            state: Mutex::new(state),
            ..MemoryStorage::default()
        }
    }

    pub fn state(&self) -> StorageObserved {
        self.state.lock().expect("lock").clone()
    }

    /// Addresses of the storage changes applied so far, in order.
    pub fn applied(&self) -> Vec<String> {
        self.applied.lock().expect("lock").clone()
    }

    /// The change at `address` fails.
    pub fn fail(&self, address: &str, class: FailureClass, message: &str) {
        self.failing
            .lock()
            .expect("lock")
            .insert(address.to_string(), Failure::new(class, message));
    }
}

impl StorageReads for MemoryStorage {
    fn observe<'a>(
        &'a self,
        _want: &'a StorageDesired,
    ) -> BoxFuture<'a, anyhow::Result<StorageObserved>> {
        let state = self.state();
        async move { Ok(state) }.boxed()
    }
}

impl StorageWrites for MemoryStorage {
    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), Failure>> {
        let address = change.address.to_string();
        let result = match self.failing.lock().expect("lock").get(&address) {
            Some(f) => Err(f.clone()),
            None => {
                let mut observed = Observed {
                    storage: self.state(),
                    ..Observed::default()
                };
                simulate::apply_change(&mut observed, change);
                *self.state.lock().expect("lock") = observed.storage;
                self.applied.lock().expect("lock").push(address);
                Ok(())
            }
        };
        async move { result }.boxed()
    }
}
