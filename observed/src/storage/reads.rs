//! The argv of every storage read: bulk where the tool allows (getent, getfattr, getfacl,
//! `lfs project -d` take many keys or paths; `xfs_quota report` lists a whole
//! filesystem), one call per id where it does not (`lfs quota`).

/// Most keys or paths one call carries (well inside the kernel's argument limit).
pub const PER_CALL: usize = 500;

fn argv(parts: &[&str], rest: &[&str]) -> Vec<String> {
    parts.iter().chain(rest).map(|s| s.to_string()).collect()
}

/// `getent passwd NAME...` (exit 2 when some are unknown).
pub fn getent_passwd(names: &[&str]) -> Vec<String> {
    argv(&["getent", "passwd"], names)
}

/// `getent group NAME...`.
pub fn getent_group(names: &[&str]) -> Vec<String> {
    argv(&["getent", "group"], names)
}

/// `getfattr --absolute-names -h -e text -n ATTR PATH...`: one attribute of many paths,
/// not following links.
pub fn getfattr(attr: &str, paths: &[&str]) -> Vec<String> {
    argv(
        &[
            "getfattr",
            "--absolute-names",
            "-h",
            "-e",
            "text",
            "-n",
            attr,
        ],
        paths,
    )
}

/// `xfs_quota -x -c 'report -u -b -i -n -N' MOUNT`: every user's limits, by uid, in KiB.
pub fn xfs_report(mount: &str) -> Vec<String> {
    argv(
        &["xfs_quota", "-x", "-c", "report -u -b -i -n -N"],
        &[mount],
    )
}

/// `lfs quota -u UID MOUNT` or `lfs quota -p ID MOUNT`.
pub fn lfs_quota(project: bool, id: u32, mount: &str) -> Vec<String> {
    let flag = if project { "-p" } else { "-u" };
    argv(&["lfs", "quota", flag], &[&id.to_string(), mount])
}

/// `lfs project -d PATH...`: each directory's own project id and inherit flag.
pub fn lfs_project(paths: &[&str]) -> Vec<String> {
    argv(&["lfs", "project", "-d"], paths)
}

/// `getfacl -n --absolute-names PATH...`: numeric ids.
pub fn getfacl(paths: &[&str]) -> Vec<String> {
    argv(&["getfacl", "-n", "--absolute-names"], paths)
}
