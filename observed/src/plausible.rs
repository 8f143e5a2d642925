//! Whether a read of the cluster can be true. Every SLURM cluster has a `root` account
//! association; a read without one is a wrong `cluster_name` or a failed read that
//! still exited 0, and nothing may be planned from it (an order reported done for an
//! account that only looks gone, accounts re-created that exist).

use agent_reconcile::Observed;

pub fn check(observed: &Observed) -> Result<(), String> {
    if observed.accounts.contains_key("root") {
        return Ok(());
    }
    Err(format!(
        "SLURM shows no root account for cluster {:?} ({} account(s), {} association(s)): the cluster name is wrong or the read is incomplete; nothing is planned from it",
        observed.cluster,
        observed.accounts.len(),
        observed.associations.len()
    ))
}
