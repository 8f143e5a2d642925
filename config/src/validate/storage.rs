//! The storage keys of `backend_settings`: `enable_user_homedir_account_creation`,
//! `default_homedir_umask`, `homedir_base_path`, `homedir_quota` and `project_directory`.
//!
//! Sizes are a whole number in the provider's own unit (bytes for CephFS `max_bytes` and
//! XFS, KiB for Lustre, as their tools read a bare number) or a string with a binary unit
//! `k`, `m`, `g`, `t`, `p`, `e` (`900g`, `1t`), as xfs_quota and lfs read them. Each is
//! held in the unit the provider's tool reports back, so the agent compares exactly; a
//! value that unit cannot hold (an XFS limit that is not a whole KiB) is an error.

use serde_json::Value;
use serde_saphyr::Spanned;

use super::leaves::{kind, line_of};
use super::Validator;
use crate::raw::{Leaf, RawBackendSettings, RawHomedirQuota, RawLustreQuota, RawProjectDirectory};
use crate::types::*;
use agent_reconcile::{names, storage::paths};

/// What a bare number means.
#[derive(Clone, Copy)]
enum Bare {
    Bytes,
    KiB,
}

impl Validator<'_> {
    pub(super) fn storage(&mut self, raw: &RawBackendSettings, p: &str) -> StorageSettings {
        let enabled = self.bool(
            &raw.enable_user_homedir_account_creation,
            &format!("{p}.enable_user_homedir_account_creation"),
            true,
        );
        let umask = self.umask(
            &raw.default_homedir_umask,
            &format!("{p}.default_homedir_umask"),
        );
        let base_path = self.path(&raw.homedir_base_path, &format!("{p}.homedir_base_path"));
        let quota = raw
            .homedir_quota
            .as_ref()
            .and_then(|q| self.homedir_quota(q, &format!("{p}.homedir_quota")));
        let project_directory = raw
            .project_directory
            .as_ref()
            .and_then(|d| self.project_directory(d, &format!("{p}.project_directory")));
        StorageSettings {
            homes: enabled.then_some(HomeSettings {
                umask,
                base_path,
                quota,
            }),
            project_directory,
        }
    }

    /// An octal umask given as a string (`"0077"`); `0o077` when absent.
    fn umask(&mut self, leaf: &Leaf, path: &str) -> u32 {
        let Some(s) = leaf.as_ref().filter(|s| !s.value.is_null()) else {
            return 0o077;
        };
        let parsed = match &s.value {
            Value::String(t) => octal(t).filter(|m| *m <= 0o777),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            let shown = match &s.value {
                Value::String(t) => format!("{t:?}"),
                other => kind(other).to_string(),
            };
            self.error(
                path,
                line_of(s),
                format!("{shown} is not an octal umask up to 0777; write it quoted, e.g. \"0077\" (an unquoted 0077 is read as a number)"),
            );
            0o077
        })
    }

    /// An absolute, normalised path of plain characters, or `None` when unset or empty.
    fn path(&mut self, leaf: &Leaf, path: &str) -> Option<String> {
        let text = self.string(leaf, path).filter(|t| !t.is_empty())?;
        match paths::check(&text) {
            Ok(p) => Some(p),
            Err(e) => {
                let line = leaf.as_ref().and_then(line_of);
                self.error(path, line, e.to_string());
                None
            }
        }
    }

    fn required_path(&mut self, leaf: &Leaf, path: &str, line: Option<u64>) -> Option<String> {
        if leaf.as_ref().is_none_or(|s| s.value.is_null()) {
            self.error(path, line, "required key is missing");
            return None;
        }
        self.path(leaf, path)
    }

    fn homedir_quota(&mut self, raw: &Spanned<RawHomedirQuota>, p: &str) -> Option<HomeQuota> {
        let line = line_of(raw);
        let q = &raw.value;
        let provider = match self
            .string(&q.provider, &format!("{p}.provider"))
            .as_deref()
        {
            Some("ceph_xattr") => QuotaProvider::CephXattr,
            Some(name @ ("xfs" | "lustre")) => {
                // Without a mount point the rest is still checked, then nothing is kept.
                let mount = self
                    .required_path(&q.mount_point, &format!("{p}.mount_point"), line)
                    .unwrap_or_default();
                if name == "xfs" {
                    QuotaProvider::Xfs { mount_point: mount }
                } else {
                    QuotaProvider::Lustre { mount_point: mount }
                }
            }
            Some(other) => {
                let l = q.provider.as_ref().and_then(line_of);
                self.error(
                    &format!("{p}.provider"),
                    l,
                    format!("{other:?} is not one of ceph_xattr, xfs, lustre"),
                );
                return None;
            }
            None => {
                self.error(
                    &format!("{p}.provider"),
                    line,
                    "required key is missing (ceph_xattr, xfs or lustre)",
                );
                return None;
            }
        };
        let ceph = matches!(provider, QuotaProvider::CephXattr);
        let foreign: &[(&str, &Leaf)] = if ceph {
            &[
                ("mount_point", &q.mount_point),
                ("block_softlimit", &q.block_softlimit),
                ("block_hardlimit", &q.block_hardlimit),
                ("inode_softlimit", &q.inode_softlimit),
                ("inode_hardlimit", &q.inode_hardlimit),
            ]
        } else {
            &[("max_bytes", &q.max_bytes), ("max_files", &q.max_files)]
        };
        for (key, leaf) in foreign {
            if let Some(s) = leaf.as_ref().filter(|s| !s.value.is_null()) {
                self.error(
                    &format!("{p}.{key}"),
                    line_of(s),
                    format!(
                        "is not a setting of the {} provider",
                        provider_name(&provider)
                    ),
                );
            }
        }
        let limits = if ceph {
            let mut l = Vec::new();
            if let Some(b) = self.size(&q.max_bytes, &format!("{p}.max_bytes"), Bare::Bytes) {
                l.push((QuotaLimit::MaxBytes, b));
            }
            if let Some(n) = self.count(&q.max_files, &format!("{p}.max_files")) {
                l.push((QuotaLimit::MaxFiles, n));
            }
            l
        } else {
            let bare = match provider {
                QuotaProvider::Xfs { .. } => Bare::Bytes,
                _ => Bare::KiB,
            };
            self.block_and_inode_limits(
                [
                    &q.block_softlimit,
                    &q.block_hardlimit,
                    &q.inode_softlimit,
                    &q.inode_hardlimit,
                ],
                p,
                bare,
            )
        };
        if limits.is_empty() {
            self.warnings.push(super::Problem {
                path: p.to_string(),
                line,
                message: "sets no limit, so no quota is written".into(),
            });
        }
        let unusable = matches!(&provider, QuotaProvider::Xfs { mount_point } | QuotaProvider::Lustre { mount_point } if mount_point.is_empty());
        (!unusable).then_some(HomeQuota { provider, limits })
    }

    /// `block_softlimit`, `block_hardlimit`, `inode_softlimit`, `inode_hardlimit` under
    /// `p`, block limits held in KiB; a soft limit above its hard limit is an error.
    fn block_and_inode_limits(
        &mut self,
        leaves: [&Leaf; 4],
        p: &str,
        bare: Bare,
    ) -> Vec<(QuotaLimit, u64)> {
        let mut out = Vec::new();
        for (limit, key, leaf) in [
            (QuotaLimit::BlockSoft, "block_softlimit", leaves[0]),
            (QuotaLimit::BlockHard, "block_hardlimit", leaves[1]),
        ] {
            let path = format!("{p}.{key}");
            let Some(bytes) = self.size(leaf, &path, bare) else {
                continue;
            };
            if bytes % 1024 != 0 {
                let line = leaf.as_ref().and_then(line_of);
                self.error(
                    &path,
                    line,
                    format!("{bytes} bytes is not a whole number of KiB, the unit the quota is read back in"),
                );
                continue;
            }
            out.push((limit, bytes / 1024));
        }
        for (limit, key, leaf) in [
            (QuotaLimit::InodeSoft, "inode_softlimit", leaves[2]),
            (QuotaLimit::InodeHard, "inode_hardlimit", leaves[3]),
        ] {
            if let Some(n) = self.count(leaf, &format!("{p}.{key}")) {
                out.push((limit, n));
            }
        }
        let get = |l: QuotaLimit| out.iter().find(|(k, _)| *k == l).map(|(_, v)| *v);
        for (soft, hard, what) in [
            (QuotaLimit::BlockSoft, QuotaLimit::BlockHard, "block"),
            (QuotaLimit::InodeSoft, QuotaLimit::InodeHard, "inode"),
        ] {
            if let (Some(s), Some(h)) = (get(soft), get(hard)) {
                if h != 0 && s > h {
                    self.error(
                        &format!("{p}.{what}_softlimit"),
                        None,
                        format!("is above {what}_hardlimit"),
                    );
                }
            }
        }
        out
    }

    /// A size in bytes: a whole number in `bare`'s unit, or `N` with a binary unit.
    fn size(&mut self, leaf: &Leaf, path: &str, bare: Bare) -> Option<u64> {
        let s = leaf.as_ref().filter(|s| !s.value.is_null())?;
        let scale = |n: u64| match bare {
            Bare::Bytes => Some(n),
            Bare::KiB => n.checked_mul(1024),
        };
        let parsed = match &s.value {
            Value::Number(n) => n.as_u64().and_then(scale),
            Value::String(t) => parse_size(t.trim(), scale),
            _ => None,
        };
        if parsed.is_none() {
            let unit = match bare {
                Bare::Bytes => "bytes",
                Bare::KiB => "KiB",
            };
            self.error(
                path,
                line_of(s),
                format!("expected a size: a whole number of {unit}, or a number with k, m, g, t, p or e (binary units), e.g. \"900g\""),
            );
        }
        parsed
    }

    /// A count: a whole number, or a string holding one.
    fn count(&mut self, leaf: &Leaf, path: &str) -> Option<u64> {
        let s = leaf.as_ref().filter(|s| !s.value.is_null())?;
        let parsed = match &s.value {
            Value::Number(n) => n.as_u64(),
            Value::String(t) => t.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.error(path, line_of(s), "expected a whole number");
        }
        parsed
    }

    fn project_directory(
        &mut self,
        raw: &Spanned<RawProjectDirectory>,
        p: &str,
    ) -> Option<ProjectDirectory> {
        let d = &raw.value;
        let enabled = self.bool(&d.enabled, &format!("{p}.enabled"), false);
        // Validated when off too, so a mistake shows before it is switched on.
        let base_path = self
            .path(&d.base_path, &format!("{p}.base_path"))
            .unwrap_or_else(|| "/valhalla/projects".into());
        let owner = self.posix_name(&d.owner, &format!("{p}.owner"), "nobody");
        let permissions = self.permissions(&d.permissions, &format!("{p}.permissions"));
        let set_gid = self.bool(&d.set_gid, &format!("{p}.set_gid"), true);
        let set_acl = self.bool(&d.set_acl, &format!("{p}.set_acl"), true);
        let source = self.string(&d.group_owner_source, &format!("{p}.group_owner_source"));
        let group = match source.as_deref() {
            None | Some("project_id") => ProjectGroup::Account,
            // As the Python agent: the named group, or the account's when none is named.
            Some("group_name") => match self.string(&d.group_name, &format!("{p}.group_name")) {
                Some(g) if !g.is_empty() => ProjectGroup::Named(self.posix_name(
                    &d.group_name,
                    &format!("{p}.group_name"),
                    &g,
                )),
                _ => ProjectGroup::Account,
            },
            Some(other) => {
                let l = d.group_owner_source.as_ref().and_then(line_of);
                self.error(
                    &format!("{p}.group_owner_source"),
                    l,
                    format!("{other:?} is not one of project_id, group_name"),
                );
                ProjectGroup::Account
            }
        };
        let lustre_quota = d
            .lustre_quota
            .as_ref()
            .map(|q| self.lustre_quota(q, &format!("{p}.lustre_quota")));
        enabled.then_some(ProjectDirectory {
            base_path,
            owner,
            permissions,
            set_gid,
            set_acl,
            group,
            lustre_quota,
        })
    }

    fn lustre_quota(&mut self, raw: &Spanned<RawLustreQuota>, p: &str) -> LustreProjectQuota {
        let q = &raw.value;
        let mount_point = self
            .path(&q.mount_point, &format!("{p}.mount_point"))
            .unwrap_or_else(|| "/valhalla".into());
        let limits = self.block_and_inode_limits(
            [
                &q.block_softlimit,
                &q.block_hardlimit,
                &q.inode_softlimit,
                &q.inode_hardlimit,
            ],
            p,
            Bare::KiB,
        );
        if limits.is_empty() {
            self.warnings.push(super::Problem {
                path: p.to_string(),
                line: line_of(raw),
                message: "sets no limit, so no project quota is written".into(),
            });
        }
        LustreProjectQuota {
            mount_point,
            limits,
        }
    }

    /// Octal permission bits up to `777`, as a string or the digits of a number (`770`).
    fn permissions(&mut self, leaf: &Leaf, path: &str) -> u32 {
        let Some(s) = leaf.as_ref().filter(|s| !s.value.is_null()) else {
            return 0o770;
        };
        let text = match &s.value {
            Value::String(t) => Some(t.clone()),
            Value::Number(n) => n.as_u64().map(|n| n.to_string()),
            _ => None,
        };
        match text.as_deref().and_then(octal) {
            Some(m) if m <= 0o777 => m,
            _ => {
                self.error(
                    path,
                    line_of(s),
                    "expected octal permission bits up to 777, e.g. \"770\" (setgid is set_gid)",
                );
                0o770
            }
        }
    }

    /// A user or group name as the system database holds it.
    fn posix_name(&mut self, leaf: &Leaf, path: &str, default: &str) -> String {
        let Some(text) = self.string(leaf, path).filter(|t| !t.is_empty()) else {
            return default.to_string();
        };
        match names::user(&text) {
            Ok(n) if n == text => n,
            _ => {
                let line = leaf.as_ref().and_then(line_of);
                self.error(
                    path,
                    line,
                    format!("{text:?} is not a valid lower-case user or group name"),
                );
                default.to_string()
            }
        }
    }
}

fn provider_name(p: &QuotaProvider) -> &'static str {
    match p {
        QuotaProvider::CephXattr => "ceph_xattr",
        QuotaProvider::Xfs { .. } => "xfs",
        QuotaProvider::Lustre { .. } => "lustre",
    }
}

fn octal(text: &str) -> Option<u32> {
    let ok = !text.is_empty() && text.len() <= 4 && text.chars().all(|c| ('0'..='7').contains(&c));
    ok.then(|| u32::from_str_radix(text, 8).ok()).flatten()
}

/// `N` (scaled by `bare`) or `N` followed by one of `kmgtpe` (either case).
fn parse_size(text: &str, bare: impl Fn(u64) -> Option<u64>) -> Option<u64> {
    let (digits, shift) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_lowercase() {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                'p' => 50,
                'e' => 60,
                _ => return None,
            };
            (&text[..i], Some(shift))
        }
        _ => (text, None),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    match shift {
        Some(s) => n.checked_mul(1u64 << s),
        None => bare(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_exact_binary_units() {
        let bytes = Some;
        assert_eq!(parse_size("900g", bytes), Some(900 << 30));
        assert_eq!(parse_size("1T", bytes), Some(1 << 40));
        assert_eq!(parse_size("1024", bytes), Some(1024));
        assert_eq!(
            parse_size("1024", |n: u64| n.checked_mul(1024)),
            Some(1 << 20)
        );
        for bad in ["", "g", "1.5g", "10gb", "-1", "1 g", "99999999999999999999"] {
            assert_eq!(parse_size(bad, bytes), None, "{bad:?}");
        }
        assert_eq!(parse_size("20e", bytes), None, "overflow");
        assert_eq!(octal("0077"), Some(0o77));
        assert_eq!(octal("8"), None);
        assert_eq!(octal("07777"), None);
    }
}
