//! The argv vectors of storage writes. Programs are found through `PATH`, as the Python
//! agent finds them, except mkhomedir_helper (its fixed path). Every path is a checked
//! base joined with a validated name; ids are numbers; nothing passes through a shell.
//! Where a tool would follow a symbolic link, its no-follow option is given (`-h`, `-P`).

use super::model::{QuotaField, QuotaValues};
use super::size;

/// Where the storage tools are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageTools {
    pub mkhomedir_helper: String,
    pub mkdir: String,
    pub chown: String,
    pub chmod: String,
    pub setfacl: String,
    pub setfattr: String,
    pub xfs_quota: String,
    pub lfs: String,
}

impl Default for StorageTools {
    fn default() -> Self {
        StorageTools {
            mkhomedir_helper: "/sbin/mkhomedir_helper".into(),
            mkdir: "mkdir".into(),
            chown: "chown".into(),
            chmod: "chmod".into(),
            setfacl: "setfacl".into(),
            setfattr: "setfattr".into(),
            xfs_quota: "xfs_quota".into(),
            lfs: "lfs".into(),
        }
    }
}

/// The skeleton copied into new homes.
pub const SKELETON: &str = "/etc/skel";

fn argv(program: &str, rest: &[&str]) -> Vec<String> {
    std::iter::once(program)
        .chain(rest.iter().copied())
        .map(str::to_string)
        .collect()
}

/// A mode as chmod and mkdir read it: five octal digits, so that a clear setgid bit is
/// cleared too (GNU chmod keeps a directory's setgid bit for a shorter numeric mode).
pub fn octal(mode: u32) -> String {
    format!("{mode:05o}")
}

impl StorageTools {
    /// `mkhomedir_helper USER UMASK /etc/skel`: the passwd home, owned by the user and
    /// their primary group, mode `0777 & !umask`, the skeleton copied with the umask
    /// applied; nothing when it exists.
    pub fn make_home(&self, user: &str, umask: u32) -> Vec<String> {
        argv(
            &self.mkhomedir_helper,
            &[user, &format!("{umask:04o}"), SKELETON],
        )
    }

    /// `mkdir -m 00700 PATH`: private to root until owner, ACL and mode are set.
    pub fn make_dir(&self, path: &str) -> Vec<String> {
        argv(&self.mkdir, &["-m", "00700", path])
    }

    /// `chown -h UID:GID PATH` (a symbolic link itself, never its target).
    pub fn chown(&self, path: &str, uid: u32, gid: u32) -> Vec<String> {
        argv(&self.chown, &["-h", &format!("{uid}:{gid}"), path])
    }

    pub fn chmod(&self, path: &str, mode: u32) -> Vec<String> {
        argv(&self.chmod, &[&octal(mode), path])
    }

    /// `setfacl -P -m group:GID:rwx,default:group:GID:rwx PATH` (`-P`: a symbolic link is
    /// skipped). The directory itself only: a user's files below are theirs.
    pub fn group_acl(&self, path: &str, gid: u32) -> Vec<String> {
        argv(
            &self.setfacl,
            &[
                "-P",
                "-m",
                &format!("group:{gid}:rwx,default:group:{gid}:rwx"),
                path,
            ],
        )
    }

    /// `setfattr -h -n ceph.quota.max_bytes -v N PATH`, one per differing attribute.
    pub fn ceph_quota(&self, path: &str, field: QuotaField, value: u64) -> Vec<String> {
        argv(
            &self.setfattr,
            &["-h", "-n", field.name(), "-v", &value.to_string(), path],
        )
    }

    /// `xfs_quota -x -c 'limit -u bsoft=900g ... UID' MOUNT`: the differing limits only.
    pub fn xfs_limit(&self, mount: &str, uid: u32, values: &QuotaValues) -> Vec<String> {
        let mut cmd = vec!["limit".to_string(), "-u".to_string()];
        for (field, value) in values {
            let (key, text) = match field {
                QuotaField::BlockSoft => ("bsoft", size::kib(*value)),
                QuotaField::BlockHard => ("bhard", size::kib(*value)),
                QuotaField::InodeSoft => ("isoft", value.to_string()),
                QuotaField::InodeHard => ("ihard", value.to_string()),
                QuotaField::MaxBytes | QuotaField::MaxFiles => continue,
            };
            cmd.push(format!("{key}={text}"));
        }
        cmd.push(uid.to_string());
        argv(&self.xfs_quota, &["-x", "-c", &cmd.join(" "), mount])
    }

    /// `lfs setquota -u UID|-p ID [-b KiB] [-B KiB] [-i N] [-I N] MOUNT`.
    pub fn lfs_setquota(
        &self,
        kind: LustreId,
        id: u32,
        mount: &str,
        values: &QuotaValues,
    ) -> Vec<String> {
        let flag = match kind {
            LustreId::User => "-u",
            LustreId::Project => "-p",
        };
        let mut args = vec![flag.to_string(), id.to_string()];
        for (field, value) in values {
            let opt = match field {
                QuotaField::BlockSoft => "-b",
                QuotaField::BlockHard => "-B",
                QuotaField::InodeSoft => "-i",
                QuotaField::InodeHard => "-I",
                QuotaField::MaxBytes | QuotaField::MaxFiles => continue,
            };
            args.push(opt.to_string());
            args.push(value.to_string());
        }
        args.push(mount.to_string());
        let mut out = argv(&self.lfs, &["setquota"]);
        out.extend(args);
        out
    }

    /// `lfs project -p ID -r -s PATH`: the tree gets the project id, new files inherit it.
    pub fn lfs_project(&self, path: &str, id: u32) -> Vec<String> {
        argv(
            &self.lfs,
            &["project", "-p", &id.to_string(), "-r", "-s", path],
        )
    }
}

/// Whose Lustre quota `lfs setquota` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LustreId {
    User,
    Project,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_shapes() {
        let t = StorageTools::default();
        assert_eq!(
            t.make_home("alice", 0o077),
            ["/sbin/mkhomedir_helper", "alice", "0077", "/etc/skel"]
        );
        assert_eq!(t.chmod("/p/a", 0o2770), ["chmod", "02770", "/p/a"]);
        assert_eq!(t.chmod("/p/a", 0o770), ["chmod", "00770", "/p/a"]);
        let values = QuotaValues::from([
            (QuotaField::BlockSoft, 900 << 20),
            (QuotaField::InodeHard, 100_000),
        ]);
        assert_eq!(
            t.xfs_limit("/home", 1001, &values),
            [
                "xfs_quota",
                "-x",
                "-c",
                "limit -u bsoft=900g ihard=100000 1001",
                "/home"
            ]
        );
        assert_eq!(
            t.lfs_setquota(LustreId::User, 1001, "/lustre", &values),
            [
                "lfs",
                "setquota",
                "-u",
                "1001",
                "-b",
                "943718400",
                "-I",
                "100000",
                "/lustre"
            ]
        );
    }
}
