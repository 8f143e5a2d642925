//! Recorded storage, `DIR/storage/`: the same reads answered from files.
//!
//! - `passwd`, `group`: database lines as `getent` prints them; `getent` is answered from
//!   them (exit 2 when a name is unknown, as the real one);
//! - `paths.txt`: `TYPE UID GID MODE PATH` per existing path (`d` directory, `l` link,
//!   `f` file, `o` other; mode in octal); a path not listed does not exist;
//! - `commands.json` (optional): `[{"argv": [...], "stdout": "...", "stderr": "",
//!   "status": 0}]`, the recorded answers of the quota tools; a read not recorded fails
//!   (and the planner leaves what it was about alone).

use std::collections::BTreeMap;
use std::path::Path;

use agent_reconcile::storage::{FileKind, Lookup, PathState};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Deserialize;

use super::Tools;
use crate::parse::ParseError;
use crate::runner::RunOutput;

#[derive(Debug, Clone, Deserialize)]
pub struct RecordedCommand {
    pub argv: Vec<String>,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub status: i32,
}

/// A recorded filesystem and user database.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    passwd: String,
    group: String,
    paths: BTreeMap<String, PathState>,
    commands: Vec<RecordedCommand>,
}

fn read(path: &Path) -> Result<String, ParseError> {
    std::fs::read_to_string(path).map_err(|e| ParseError {
        source_name: path.display().to_string(),
        line: 0,
        message: format!("cannot read: {e}"),
    })
}

/// Reads `dir` (the snapshot's `storage/`).
pub fn load(dir: &Path) -> Result<Recorded, ParseError> {
    let passwd = read(&dir.join("passwd"))?;
    let group = read(&dir.join("group"))?;
    let name = dir.join("paths.txt");
    let paths = parse_paths(&name.display().to_string(), &read(&name)?)?;
    let cmds = dir.join("commands.json");
    let commands = if cmds.exists() {
        serde_json::from_str(&read(&cmds)?).map_err(|e| ParseError {
            source_name: cmds.display().to_string(),
            line: e.line(),
            message: e.to_string(),
        })?
    } else {
        Vec::new()
    };
    // The databases are checked now, so a bad line names its file.
    type Parser = fn(&str) -> Result<(), String>;
    let passwd_ok: Parser = |t| super::parse::passwd(t).map(drop);
    let group_ok: Parser = |t| super::parse::group(t).map(drop);
    for (file, text, parse) in [("passwd", &passwd, passwd_ok), ("group", &group, group_ok)] {
        if let Err(message) = parse(text) {
            // The first line that does not parse on its own is the one to name.
            let line = text
                .lines()
                .position(|l| parse(l).is_err())
                .map_or(0, |i| i + 1);
            return Err(ParseError {
                source_name: dir.join(file).display().to_string(),
                line,
                message,
            });
        }
    }
    Ok(Recorded {
        passwd,
        group,
        paths,
        commands,
    })
}

fn parse_paths(source: &str, text: &str) -> Result<BTreeMap<String, PathState>, ParseError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = || ParseError {
            source_name: source.to_string(),
            line: i + 1,
            message: format!(
                "expected `TYPE UID GID MODE PATH` (TYPE d, l, f or o), found {line:?}"
            ),
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let [kind, uid, gid, mode, path] = f.as_slice() else {
            return Err(err());
        };
        let kind = match *kind {
            "d" => FileKind::Directory,
            "l" => FileKind::Symlink,
            "f" => FileKind::File,
            "o" => FileKind::Other,
            _ => return Err(err()),
        };
        let state = PathState {
            kind,
            uid: uid.parse().map_err(|_| err())?,
            gid: gid.parse().map_err(|_| err())?,
            mode: u32::from_str_radix(mode, 8).map_err(|_| err())?,
        };
        out.insert(path.to_string(), state);
    }
    Ok(out)
}

impl Recorded {
    /// What `getent DB NAME...` would print: the lines of the names found, exit 2 when
    /// one is not.
    fn getent(&self, argv: &[String]) -> Option<RunOutput> {
        let text = match argv.get(1).map(String::as_str) {
            Some("passwd") => &self.passwd,
            Some("group") => &self.group,
            _ => return None,
        };
        let mut stdout = String::new();
        let mut all = true;
        for name in &argv[2..] {
            match text.lines().find(|l| l.split(':').next() == Some(name)) {
                Some(line) => {
                    stdout.push_str(line);
                    stdout.push('\n');
                }
                None => all = false,
            }
        }
        Some(RunOutput {
            status: if all { 0 } else { 2 },
            stdout,
            stderr: String::new(),
        })
    }
}

impl Tools for Recorded {
    fn run<'a>(&'a self, argv: Vec<String>) -> BoxFuture<'a, Result<RunOutput, String>> {
        let answer = if argv.first().map(String::as_str) == Some("getent") {
            self.getent(&argv)
                .ok_or_else(|| format!("unknown database in {argv:?}"))
        } else {
            self.commands
                .iter()
                .find(|c| c.argv == argv)
                .map(|c| RunOutput {
                    status: c.status,
                    stdout: c.stdout.clone(),
                    stderr: c.stderr.clone(),
                })
                .ok_or_else(|| {
                    format!(
                        "the snapshot has no recorded output of `{}` (storage/commands.json)",
                        argv.join(" ")
                    )
                })
        };
        async move { answer }.boxed()
    }

    fn lstat(&self, path: &str) -> Lookup<PathState> {
        self.paths
            .get(path)
            .cloned()
            .map_or(Lookup::Missing, Lookup::Found)
    }
}
