//! Storage: the user database, the filesystem's answers, the quota tool's output and the
//! storage config keys. A bad config value is an error naming its key and line; a bad
//! read skips the home or quota it was about (never a write on a guess); nothing reaches
//! a path outside the configured bases, a symlink or a `..`.

use crate::case::Case;
use crate::fixture::{line_of, Fixture};

const PASSWD: &str = "snap/storage/passwd";
const PATHS: &str = "snap/storage/paths.txt";
const COMMANDS: &str = "snap/storage/commands.json";

fn edit(name: &str, file: &'static str, from: &'static str, to: &'static str) -> Case {
    Case::new("storage", format!("storage {name}"), move |f: &Fixture| {
        f.replace(file, from, to)
    })
}

fn config(name: &str, from: &'static str, to: &'static str) -> Case {
    Case::new(
        "storage",
        format!("storage config {name}"),
        move |f: &Fixture| f.config(from, to),
    )
}

/// The xfs_quota report with the row of uid 1001 replaced by `row`.
fn report_row(name: &str, row: &'static str) -> Case {
    Case::new("storage", format!("storage xfs report {name}"), move |f| {
        let text = f.read(COMMANDS);
        let start = text.find("#1001 ").expect("uid 1001 in the report");
        let end = start + text[start..].find("\\n").unwrap();
        f.write(
            COMMANDS,
            &format!("{}{row}{}", &text[..start], &text[end..]),
        );
    })
}

pub fn cases() -> Vec<Case> {
    let quota_line = |key: &str| line_of(key, 0);
    vec![
        // The user database.
        edit("passwd home outside the base", PASSWD, "/home/alice:", "/etc/alice:")
            .skipped(&["home directory of alice is left alone", "not /home/alice"])
            .forbid(&["directory/home/alice", "quota/home/alice"]),
        edit("passwd home with ..", PASSWD, "/home/alice:", "/home/../etc:")
            .skipped(&["home directory of alice is left alone", ". or .. component"])
            .forbid(&["directory/home/alice", "quota/home/alice"]),
        edit("passwd uid not a number", PASSWD, "alice:x:1001:", "alice:x:10o1:")
            .refused(&["snap/storage/passwd, line 1"])
            .forbid(&["directory/home/alice", "quota/home/alice"]),
        edit("passwd line cut", PASSWD, "alice:x:1001:1001:Alice:/home/alice:/bin/bash", "alice:x:1001")
            .refused(&["snap/storage/passwd, line 1"])
            .forbid(&["directory/home/alice", "quota/home/alice"]),
        edit("passwd name with ESC", PASSWD, "bob:x:1002", "b\u{1b}[8mob:x:1002")
            .allow(&["directory/home/bob"]),
        edit("passwd uid 0", PASSWD, "alice:x:1001:1001", "alice:x:0:0")
            .skipped(&["alice is a system account"])
            .forbid(&["quota/home/alice"]),
        // The filesystem.
        edit("home is a symlink", PATHS, "d 1001 1001 0700 /home/alice", "l 0 0 0777 /home/alice")
            .skipped(&["/home/alice, is a symbolic link"])
            .forbid(&["directory/home/alice"]),
        edit("home is a file", PATHS, "d 1001 1001 0700 /home/alice", "f 1001 1001 0600 /home/alice")
            .skipped(&["/home/alice"])
            .forbid(&["directory/home/alice"]),
        edit("base is a symlink", PATHS, "d 0 0 0755 /home", "l 0 0 0777 /home")
            .skipped(&["homedir_base_path /home is a symbolic link"])
            .forbid(&["directory/home/"]),
        edit("paths line garbled", PATHS, "d 1001 1001 0700 /home/alice", "d 1001 x")
            .refused(&["paths.txt"]),
        // The quota tool.
        Case::new("storage", "storage quota answers not JSON", |f| {
            f.write(COMMANDS, "[{\"argv\": ")
        })
        .refused(&["commands.json"]),
        Case::new("storage", "storage xfs_quota fails", |f| {
            f.replace(COMMANDS, "\"stdout\"", "\"status\": 1, \"stderr\": \"xfs_quota: cannot setup path for mount /home\", \"stdout\"")
        })
        .skipped(&["home quota of alice could not be read"])
        .forbid(&["quota/home/"]),
        Case::new("storage", "storage xfs_quota prints nothing", |f| {
            let text = f.read(COMMANDS);
            let start = text.find("\"stdout\": \"").unwrap() + "\"stdout\": \"".len();
            let end = start + text[start..].find('"').unwrap();
            f.write(COMMANDS, &format!("{}{}", &text[..start], &text[end..]));
        })
        .skipped(&["home quota of alice could not be read"])
        .forbid(&["quota/home/"]),
        report_row("row with a huge number", "#1001           102400  99999999999999999999999 1073741824     00 [--------]        300      90000     100000     00 [--------]")
            .skipped(&["home quota of alice could not be read"])
            .forbid(&["quota/home/alice"]),
        report_row("row with a negative number", "#1001           102400  -5 1073741824     00 [--------]        300      90000     100000     00 [--------]")
            .skipped(&["home quota of alice could not be read"])
            .forbid(&["quota/home/alice"]),
        report_row("row with too few columns", "#1001           102400")
            .skipped(&["home quota of alice could not be read"])
            .forbid(&["quota/home/alice"]),
        // The warning flags are not read: the numbers are right, so the row is used.
        report_row("row with a control character", "#1001           102400  943718400 1073741824     00 [--\\u0007------]        300      90000     100000     00 [--------]")
            .accepted(),
        // The config keys.
        config("quota size negative", "block_hardlimit: \"1t\"", "block_hardlimit: \"-1t\"")
            .refused(&["homedir_quota.block_hardlimit", &quota_line("block_hardlimit: \"1t\"")]),
        config("quota size huge", "block_hardlimit: \"1t\"", "block_hardlimit: \"99999999999999999999t\"")
            .refused(&["homedir_quota.block_hardlimit", &quota_line("block_hardlimit: \"1t\"")]),
        config("quota size unknown unit", "block_hardlimit: \"1t\"", "block_hardlimit: \"1 parsec\"")
            .refused(&["homedir_quota.block_hardlimit", &quota_line("block_hardlimit: \"1t\"")]),
        config("quota inode limit text", "inode_hardlimit: 100000", "inode_hardlimit: many")
            .refused(&["homedir_quota.inode_hardlimit", &quota_line("inode_hardlimit: 100000")]),
        config("quota provider unknown", "provider: \"xfs\"", "provider: \"zfs\"")
            .refused(&["homedir_quota.provider", &quota_line("provider: \"xfs\"")]),
        config("quota mount point relative", "mount_point: \"/home\"", "mount_point: \"home\"")
            .refused(&["homedir_quota.mount_point", &quota_line("mount_point: \"/home\"")]),
        config("quota mount point with a newline", "mount_point: \"/home\"", "mount_point: \"/home\\n/etc\"")
            .refused(&["homedir_quota.mount_point", &quota_line("mount_point: \"/home\"")]),
        config("homedir base with ..", "homedir_base_path: \"/home\"", "homedir_base_path: \"/home/../etc\"")
            .refused(&["homedir_base_path", &quota_line("homedir_base_path: \"/home\"")]),
        config("homedir base relative", "homedir_base_path: \"/home\"", "homedir_base_path: \"home\"")
            .refused(&["homedir_base_path", &quota_line("homedir_base_path: \"/home\"")]),
        config("umask not octal", "default_homedir_umask: \"0077\"", "default_homedir_umask: \"0099\"")
            .refused(&["default_homedir_umask", &quota_line("default_homedir_umask: \"0077\"")]),
        config("umask with a newline", "default_homedir_umask: \"0077\"", "default_homedir_umask: \"0077\\nrm\"")
            .refused(&["default_homedir_umask", &quota_line("default_homedir_umask: \"0077\"")]),
        config("project directory base relative", "      homedir_base_path: \"/home\"\n", "      homedir_base_path: \"/home\"\n      project_directory:\n        enabled: true\n        base_path: \"projects\"\n")
            .refused(&["project_directory.base_path"]),
        config("project directory permissions bad", "      homedir_base_path: \"/home\"\n", "      homedir_base_path: \"/home\"\n      project_directory:\n        enabled: true\n        base_path: \"/projects\"\n        permissions: \"rwx\"\n")
            .refused(&["project_directory.permissions"]),
        config("project directory owner with :", "      homedir_base_path: \"/home\"\n", "      homedir_base_path: \"/home\"\n      project_directory:\n        enabled: true\n        base_path: \"/projects\"\n        owner: \"root:root\"\n")
            .refused(&["project_directory.owner"]),
        config("project group source unknown", "      homedir_base_path: \"/home\"\n", "      homedir_base_path: \"/home\"\n      project_directory:\n        enabled: true\n        base_path: \"/projects\"\n        group_owner_source: \"guess\"\n")
            .refused(&["project_directory.group_owner_source"]),
    ]
}
