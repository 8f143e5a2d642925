//! Paths the agent may create or change. A path is absolute, normalised (no `.`, `..` or
//! empty components), not `/`, and made of characters that need no quoting and that
//! every tool prints back unescaped (ASCII letters, digits and `._-+@`). Homes and project
//! directories are a validated base joined with one validated name, so nothing is built
//! outside a configured base.

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path:?} {why}")]
pub struct PathError {
    pub path: String,
    pub why: &'static str,
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-+@".contains(c)
}

/// Checks a path; a single trailing `/` is accepted and dropped.
pub fn check(raw: &str) -> Result<String, PathError> {
    let err = |why| PathError {
        path: raw.to_string(),
        why,
    };
    let path = match raw.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => raw,
    };
    if !path.starts_with('/') {
        return Err(err("is not an absolute path"));
    }
    if path == "/" {
        return Err(err("is the root directory"));
    }
    for part in path[1..].split('/') {
        match part {
            "" => return Err(err("has an empty component (//)")),
            "." | ".." => return Err(err("has a . or .. component")),
            _ if !part.chars().all(allowed) => return Err(err(
                "has characters other than ASCII letters, digits, '.', '_', '-', '+', '@' and '/'",
            )),
            _ => {}
        }
    }
    Ok(path.to_string())
}

/// Whether `name` can be one component below a base: a validated user or account name
/// always can (it starts with a letter, digit or `_`); this is the last guard.
pub fn component_ok(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.chars().all(allowed)
        && !name.starts_with('-')
}

/// `base/name`; `base` is a checked path, `name` one checked component.
pub fn join(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// The directory that holds `path` (`/home` for `/home/alice`); `None` for a top-level
/// path.
pub fn parent(path: &str) -> Option<&str> {
    let (parent, _) = path.rsplit_once('/')?;
    (!parent.is_empty()).then_some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_absolute_paths() {
        assert_eq!(check("/home/").unwrap(), "/home");
        assert_eq!(check("/srv/home-2/x_y.z").unwrap(), "/srv/home-2/x_y.z");
        for bad in [
            "home",
            "/",
            "/home/../etc",
            "/home/./x",
            "//home",
            "/home//x",
            "/home/a b",
            "/home/a\nb",
            "/home/$(id)",
            "/home/ä",
            "",
        ] {
            assert!(check(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn components_and_parents() {
        assert!(component_ok("alice"));
        assert!(component_ok("john.doe"));
        for bad in ["", ".", "..", "a/b", "-rf", "a b"] {
            assert!(!component_ok(bad), "{bad:?} accepted");
        }
        assert_eq!(join("/home", "alice"), "/home/alice");
        assert_eq!(parent("/home/alice"), Some("/home"));
        assert_eq!(parent("/nonexistent"), None);
    }
}
