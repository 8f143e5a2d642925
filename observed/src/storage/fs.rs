//! `lstat` of one path: symbolic links are reported as links, never followed.

use std::os::unix::fs::MetadataExt;

use agent_reconcile::storage::{FileKind, Lookup, PathState};

pub fn lstat(path: &str) -> Lookup<PathState> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => {
            let t = m.file_type();
            let kind = if t.is_symlink() {
                FileKind::Symlink
            } else if t.is_dir() {
                FileKind::Directory
            } else if t.is_file() {
                FileKind::File
            } else {
                FileKind::Other
            };
            Lookup::Found(PathState {
                kind,
                uid: m.uid(),
                gid: m.gid(),
                mode: m.mode() & 0o7777,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Lookup::Missing,
        Err(e) => Lookup::Failed(format!("lstat {path}: {e}")),
    }
}
