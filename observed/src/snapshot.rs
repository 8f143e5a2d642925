//! Recorded SLURM output: a directory with one file per bulk read, holding exactly what
//! the read prints (see `reads` for the commands; README documents how to record them).

use std::path::Path;

use agent_reconcile::Observed;

use crate::parse::{self, ParseError, RawOutputs};

pub const FILES: [&str; 5] = [
    "associations.txt",
    "accounts.txt",
    "users.txt",
    "qos.txt",
    "tres.txt",
];

/// Reads `DIR/{associations,accounts,users,qos,tres}.txt`.
pub fn load(dir: &Path, cluster: Option<&str>) -> Result<Observed, ParseError> {
    let read = |name: &str| -> Result<(String, String), ParseError> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| ParseError {
            source_name: path.display().to_string(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        Ok((path.display().to_string(), text))
    };
    let outputs = RawOutputs {
        associations: read(FILES[0])?,
        accounts: read(FILES[1])?,
        users: read(FILES[2])?,
        qos: read(FILES[3])?,
        tres: read(FILES[4])?,
    };
    parse::observed(&outputs, cluster)
}

/// Writes a snapshot directory from an observed state.
pub fn save(dir: &Path, state: &Observed) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let out = parse::render(state);
    for (name, (_, text)) in FILES.iter().zip([
        &out.associations,
        &out.accounts,
        &out.users,
        &out.qos,
        &out.tres,
    ]) {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}
