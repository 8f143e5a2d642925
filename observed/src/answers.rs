//! What sacctmgr's answers to a write mean: a no-op, or a failure of some class. Kept
//! beside the runner because it is knowledge of sacctmgr's wording, measured on real
//! SLURM (and slurm-emulator), not a rule of the agent's.

/// How a failed write is to be handled; Waldur failures are classified the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureClass {
    /// Try again later (database busy, lock, timeout, Waldur 5xx).
    Retryable,
    /// Needs something else first (jobs still running on the association).
    Blocked,
    /// Will not succeed as is (bad value, unknown option, missing parent, Waldur 4xx).
    Fatal,
}

impl FailureClass {
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Retryable => "retryable",
            FailureClass::Blocked => "blocked",
            FailureClass::Fatal => "fatal",
        }
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// sacctmgr's answer when there was nothing to do (it exits 1 for these). It prints the
/// same "Nothing new added." when a referenced account does not exist, with the reason on
/// stderr, so only a clean stderr makes it a no-op.
pub fn is_noop(stdout: &str, stderr: &str) -> bool {
    stderr.trim().is_empty()
        && [
            "Nothing modified",
            "Nothing new added",
            "Nothing deleted",
            // slurm-emulator's answer to adding an account that exists.
            "Already existing account",
        ]
        .iter()
        .any(|m| stdout.contains(m))
}

/// The class of a failed SLURM command, from its message.
pub fn classify(message: &str) -> FailureClass {
    let m = message.to_ascii_lowercase();
    if m.contains("database is busy")
        || m.contains("lock")
        || m.contains("timed out")
        || m.contains("did not finish within")
        || m.contains("unable to connect")
        || m.contains("connection refused")
        // slurmdbd going away in the middle of a request (SLURM's transport errors):
        // nothing says the command was wrong, so the order waits for the next cycle.
        || m.contains("connection reset")
        || m.contains("broken pipe")
        || m.contains("zero bytes were transmitted")
        || m.contains("communication connection failure")
        || m.contains("problem talking to the database")
        || m.contains("persistent connection")
    {
        FailureClass::Retryable
    } else if m.contains("job(s) running")
        || m.contains("jobs running")
        || m.contains("running jobs")
    {
        FailureClass::Blocked
    } else {
        FailureClass::Fatal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            classify("Database is busy or waiting for lock from other user."),
            FailureClass::Retryable
        );
        assert_eq!(
            classify("Job(s) running, cancel job(s) before remove"),
            FailureClass::Blocked
        );
        for transport in [
            "sacctmgr: error: Problem talking to the database: Zero Bytes were transmitted or received",
            "sacctmgr: error: slurmdbd: Communication connection failure",
            "sacctmgr: error: Connection reset by peer",
            "sacctmgr: error: slurm_persist_conn_open_without_init: failed to open persistent connection to host:localhost:6819",
            "write: Broken pipe",
        ] {
            assert_eq!(classify(transport), FailureClass::Retryable, "{transport}");
        }
        assert_eq!(
            classify(" Unknown option: GrpTRESMins=bogus=1"),
            FailureClass::Fatal
        );
        assert!(is_noop(" Nothing modified", ""));
        assert!(is_noop(" Nothing new added.", ""));
        assert!(!is_noop(
            " Nothing new added.",
            "This account 'x' doesn't exist."
        ));
    }
}
