//! Parsers of the storage tools' answers, strict: a line that does not have the shape the
//! tool prints is an error for what it was about, never a default. Every tool prints
//! paths back as given; the agent only asks about plain paths (see
//! `agent_reconcile::storage::paths`), which no tool escapes.

use std::collections::BTreeMap;

use agent_reconcile::storage::{Acl, PasswdEntry, ProjectAttr, QuotaField, QuotaValues};

/// `getent passwd` lines: name -> entry.
pub fn passwd(text: &str) -> Result<BTreeMap<String, PasswdEntry>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let f: Vec<&str> = line.split(':').collect();
        let bad = || {
            format!(
                "passwd line {}: expected name:x:uid:gid:gecos:home:shell",
                i + 1
            )
        };
        if f.len() != 7 {
            return Err(bad());
        }
        let uid = f[2].parse().map_err(|_| bad())?;
        let gid = f[3].parse().map_err(|_| bad())?;
        out.insert(
            f[0].to_string(),
            PasswdEntry {
                uid,
                gid,
                home: f[5].to_string(),
            },
        );
    }
    Ok(out)
}

/// `getent group` lines: name -> gid.
pub fn group(text: &str) -> Result<BTreeMap<String, u32>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let f: Vec<&str> = line.split(':').collect();
        let bad = || format!("group line {}: expected name:x:gid:members", i + 1);
        if f.len() != 4 {
            return Err(bad());
        }
        out.insert(f[0].to_string(), f[2].parse().map_err(|_| bad())?);
    }
    Ok(out)
}

/// One attribute of many paths from `getfattr --absolute-names -e text -n ATTR`: values
/// from stdout (`# file: P` then `ATTR="N"`), per-path errors from stderr (`P: ATTR: why`).
/// "No such attribute" is an unset quota (0); a path neither answers is an error.
pub fn getfattr(
    stdout: &str,
    stderr: &str,
    attr: &str,
    paths: &[&str],
) -> BTreeMap<String, Result<u64, String>> {
    let mut out: BTreeMap<String, Result<u64, String>> = BTreeMap::new();
    let mut file: Option<&str> = None;
    for line in stdout.lines() {
        if let Some(p) = line.strip_prefix("# file: ") {
            file = Some(p);
        } else if let (Some(p), Some(v)) = (file, line.strip_prefix(&format!("{attr}="))) {
            let value = v
                .trim_matches('"')
                .parse::<u64>()
                .map_err(|_| format!("{attr} of {p} is {v}, not a number"));
            out.insert(p.to_string(), value);
        }
    }
    for line in stderr.lines() {
        let line = line.strip_prefix("getfattr: ").unwrap_or(line);
        let Some((path, rest)) = line.split_once(": ") else {
            continue;
        };
        if !paths.contains(&path) {
            continue;
        }
        let value = if rest == format!("{attr}: No such attribute") {
            Ok(0)
        } else {
            Err(format!("getfattr: {rest}"))
        };
        out.insert(path.to_string(), value);
    }
    for p in paths {
        out.entry(p.to_string())
            .or_insert_with(|| Err("getfattr did not answer for it".into()));
    }
    out
}

/// The Warn/Grace column of `xfs_quota report`: `[--------]`, `[--none--]`, `[7 days]`,
/// `[12:34:56]`; it may hold spaces, so it is read up to its closing bracket.
fn skip_grace<'a>(tokens: &mut impl Iterator<Item = &'a str>) -> Option<()> {
    let first = tokens.next()?;
    if !first.starts_with('[') {
        return None;
    }
    let mut t = first;
    while !t.ends_with(']') {
        t = tokens.next()?;
    }
    Some(())
}

/// `xfs_quota -x -c 'report -u -b -i -n -N' MOUNT`: `#UID used soft hard warns [grace]`
/// for blocks (KiB) then inodes. Every user with a quota record is listed (the owner of
/// the filesystem's root at least), so no row at all means the report did not come from
/// a filesystem with user quotas on.
pub fn xfs_report(text: &str) -> Result<BTreeMap<u32, QuotaValues>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = || {
            format!(
                "xfs_quota report line {}: {line:?} is not `#UID used soft hard warns [grace] ...`",
                i + 1
            )
        };
        let mut t = line.split_whitespace();
        let uid: u32 = t
            .next()
            .and_then(|id| id.strip_prefix('#'))
            .and_then(|id| id.parse().ok())
            .ok_or_else(bad)?;
        let numbers = |t: &mut std::str::SplitWhitespace| -> Option<(u64, u64)> {
            let _used: u64 = t.next()?.parse().ok()?;
            let soft = t.next()?.parse().ok()?;
            let hard = t.next()?.parse().ok()?;
            let _warns: u64 = t.next()?.parse().ok()?;
            skip_grace(t)?;
            Some((soft, hard))
        };
        let (bsoft, bhard) = numbers(&mut t).ok_or_else(bad)?;
        let (isoft, ihard) = numbers(&mut t).ok_or_else(bad)?;
        if t.next().is_some() {
            return Err(bad());
        }
        out.insert(
            uid,
            QuotaValues::from([
                (QuotaField::BlockSoft, bsoft),
                (QuotaField::BlockHard, bhard),
                (QuotaField::InodeSoft, isoft),
                (QuotaField::InodeHard, ihard),
            ]),
        );
    }
    if out.is_empty() {
        return Err("xfs_quota reported no user at all: are user quotas on for this mount?".into());
    }
    Ok(out)
}

/// `lfs quota -u UID MOUNT` (or `-p ID`): the title naming the id, the column header,
/// then the mount (on its own line when long) and `used[*] soft hard grace files[*] soft
/// hard grace`, block values in KiB. Values in `[]` are inaccurate (a target did not
/// answer): an error, as is the "Some errors happened" note.
pub fn lfs_quota(text: &str, project: bool, id: u32, mount: &str) -> Result<QuotaValues, String> {
    let title = if project {
        format!("Disk quotas for prj {id} (pid {id}):")
    } else {
        format!("(uid {id}):")
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().ok_or("lfs quota printed nothing")?;
    if !(first.starts_with("Disk quotas for ") && first.trim_end().ends_with(&title)) {
        return Err(format!("lfs quota title {first:?} does not name id {id}"));
    }
    let mut tokens: Vec<&str> = Vec::new();
    for line in lines {
        let l = line.trim();
        if l.starts_with("Filesystem") || l.contains("is using default") {
            continue;
        }
        if l.starts_with("Some errors happened") {
            return Err(format!("lfs quota: {l}"));
        }
        tokens.extend(l.split_whitespace());
    }
    if tokens.len() != 9 || tokens[0] != mount {
        return Err(format!(
            "lfs quota row {:?} is not `{mount} used soft hard grace files soft hard grace`",
            tokens.join(" ")
        ));
    }
    let num = |t: &str| -> Result<u64, String> {
        if t.starts_with('[') {
            return Err(format!("lfs quota value {t} is marked inaccurate"));
        }
        t.trim_end_matches('*')
            .parse()
            .map_err(|_| format!("lfs quota value {t:?} is not a number"))
    };
    num(tokens[1])?;
    num(tokens[5])?;
    Ok(QuotaValues::from([
        (QuotaField::BlockSoft, num(tokens[2])?),
        (QuotaField::BlockHard, num(tokens[3])?),
        (QuotaField::InodeSoft, num(tokens[6])?),
        (QuotaField::InodeHard, num(tokens[7])?),
    ]))
}

/// `lfs project -d PATH...`: `ID P|- PATH` per path.
pub fn lfs_project(stdout: &str, paths: &[&str]) -> BTreeMap<String, Result<ProjectAttr, String>> {
    let mut out = BTreeMap::new();
    for line in stdout.lines() {
        let mut t = line.split_whitespace();
        let (Some(id), Some(flag), Some(path), None) = (t.next(), t.next(), t.next(), t.next())
        else {
            continue;
        };
        let (Ok(id), true) = (id.parse(), flag == "P" || flag == "-") else {
            continue;
        };
        out.insert(
            path.to_string(),
            Ok(ProjectAttr {
                id,
                inherit: flag == "P",
            }),
        );
    }
    for p in paths {
        out.entry(p.to_string())
            .or_insert_with(|| Err("lfs project did not answer for it".into()));
    }
    out
}

/// `getfacl -n --absolute-names PATH...`: blocks of `# file: P` and entries; the
/// `group:GID:rwx` and `default:group:GID:rwx` entries of each path (effective-rights
/// comments ignored: the entry is what was set). Errors on stderr name their path.
pub fn getfacl(
    stdout: &str,
    stderr: &str,
    paths: &[&str],
) -> BTreeMap<String, Result<Acl, String>> {
    let mut out: BTreeMap<String, Result<Acl, String>> = BTreeMap::new();
    let mut current: Option<(String, Acl)> = None;
    let flush = |c: &mut Option<(String, Acl)>, out: &mut BTreeMap<String, Result<Acl, String>>| {
        if let Some((p, acl)) = c.take() {
            out.insert(p, Ok(acl));
        }
    };
    for line in stdout.lines() {
        if let Some(p) = line.strip_prefix("# file: ") {
            flush(&mut current, &mut out);
            current = Some((p.to_string(), Acl::default()));
            continue;
        }
        let entry = line.split(['\t', '#']).next().unwrap_or("").trim();
        let Some((_, acl)) = current.as_mut() else {
            continue;
        };
        let (set, rest) = match entry.strip_prefix("default:") {
            Some(rest) => (&mut acl.default_groups, rest),
            None => (&mut acl.groups, entry),
        };
        let mut f = rest.split(':');
        if let (Some("group"), Some(id), Some("rwx")) = (f.next(), f.next(), f.next()) {
            if let Ok(gid) = id.parse() {
                set.insert(gid);
            }
        }
    }
    flush(&mut current, &mut out);
    for line in stderr.lines() {
        let rest = line.strip_prefix("getfacl: ").unwrap_or(line);
        if let Some((path, why)) = rest.split_once(": ") {
            if paths.contains(&path) {
                out.insert(path.to_string(), Err(format!("getfacl: {why}")));
            }
        }
    }
    for p in paths {
        out.entry(p.to_string())
            .or_insert_with(|| Err("getfacl did not answer for it".into()));
    }
    out
}

#[cfg(test)]
mod tests;
