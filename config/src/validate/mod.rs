//! Raw -> validated, collecting every problem with its key path and line.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::raw::RawConfig;
use crate::types::*;
use leaves::line_of;

mod agent;
mod backend;
mod components;
mod events;
mod ignored;
mod leaves;
mod offering;
mod storage;
mod token;
mod unknown;

/// Environment variable that supplies the API token when the file gives none.
pub const TOKEN_ENV: &str = "WALDUR_API_TOKEN";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path, e.g. `offerings[0].backend_settings.default_account_policy`.
    pub path: String,
    pub line: Option<u64>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// The file could not be used; every problem found is listed.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration {} ({} problem(s)):",
            self.file,
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// A loaded configuration and the warnings (unknown keys) found on the way.
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Problem>,
    /// The file holds an API token itself (so who may read it matters).
    pub inline_token: bool,
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        problems: vec![Problem {
            path: "(file)".into(),
            line: None,
            message: format!("cannot read: {e}"),
        }],
    })?;
    let env_token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty());
    let mut loaded = load_str(&file, &text, env_token.as_deref(), path.parent())?;
    if loaded.inline_token && readable_by_others(path) {
        loaded.warnings.push(Problem {
            path: "(file)".into(),
            line: None,
            message: "holds an API token and every user of this host can read it: chmod 600 it, or move the token to waldur_api_token_file"
                .into(),
        });
    }
    Ok(loaded)
}

/// Whether users other than the owner and group may read `path`.
pub(crate) fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

/// Validates configuration text. `env_token` stands for the environment variable and
/// `base_dir` resolves relative `waldur_api_token_file` paths.
pub fn load_str(
    file: &str,
    text: &str,
    env_token: Option<&str>,
    base_dir: Option<&Path>,
) -> Result<Loaded, ConfigError> {
    let fail = |problems| ConfigError {
        file: file.to_string(),
        problems,
    };
    let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        // The parser's message may quote the offending value, and its later lines show
        // the source around it (an unquoted token two lines up included): keep only the
        // first line, up to any quote, so a token cannot leak.
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("");
        fail(vec![Problem {
            path: "(document)".into(),
            line,
            message: format!("not valid YAML for this schema: {}", redact(first)),
        }])
    })?;
    let tree: Value = serde_saphyr::from_str(text).unwrap_or(Value::Null);
    let mut v = Validator {
        errors: Vec::new(),
        warnings: Vec::new(),
        env_token,
        base_dir,
        inline_token: false,
    };
    v.unknown_keys(&tree);
    let mut config = v.config(raw);
    v.ignored_keys(&tree, &mut config.offerings);
    // Whatever a message quotes (an unknown key, a misplaced value), never a token.
    let tokens: Vec<&str> = config
        .offerings
        .iter()
        .map(|o| o.api_token.expose())
        .chain(env_token)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    for p in v.errors.iter_mut().chain(v.warnings.iter_mut()) {
        for t in &tokens {
            p.path = hide_token(&p.path, t);
            p.message = hide_token(&p.message, t);
        }
    }
    if v.errors.is_empty() {
        Ok(Loaded {
            config,
            warnings: v.warnings,
            inline_token: v.inline_token,
        })
    } else {
        Err(fail(v.errors))
    }
}

/// `text` with each whole-word occurrence of `token` as `***`. Whole words only: a
/// short token (`t`) must not turn `stomp_ws_port` into `s***omp_ws_por***`, while a
/// token quoted, pasted as a key or inside a URL is still a word of its own.
fn hide_token(text: &str, token: &str) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(token) {
        let before = rest[..i].chars().next_back();
        let after = rest[i + token.len()..].chars().next();
        let bounded = !before.is_some_and(word) && !after.is_some_and(word);
        out.push_str(&rest[..i]);
        if bounded {
            out.push_str("***");
            rest = &rest[i + token.len()..];
        } else {
            let step = rest[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[i..i + step]);
            rest = &rest[i + step..];
        }
    }
    out.push_str(rest);
    out
}

fn redact(message: &str) -> String {
    // The parser's advice is for programmers using it, not for the file's author.
    let message = message
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(message);
    // Cut everything after a quote: serde messages put values in quotes or backticks.
    match message.find(['"', '`', '\'']) {
        Some(i) => format!("{}…", &message[..i]),
        None => message.to_string(),
    }
}

/// One pass over the raw tree. Its methods are spread over the child modules, one per
/// section, so that each key is validated in the file named after its section.
struct Validator<'a> {
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
    env_token: Option<&'a str>,
    base_dir: Option<&'a Path>,
    /// Some offering has its token in the file itself.
    inline_token: bool,
}

impl Validator<'_> {
    fn warn(&mut self, path: &str, line: Option<u64>, message: impl Into<String>) {
        self.warnings.push(Problem {
            path: path.to_string(),
            line,
            message: message.into(),
        });
    }

    fn error(&mut self, path: &str, line: Option<u64>, message: impl Into<String>) {
        self.errors.push(Problem {
            path: path.to_string(),
            line,
            message: message.into(),
        });
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let timezone = self
            .string(&raw.timezone, "timezone")
            .unwrap_or_else(|| "UTC".into());
        if !timezone_looks_valid(&timezone) {
            let line = raw.timezone.as_ref().and_then(line_of);
            self.error(
                "timezone",
                line,
                format!("{timezone:?} is not an IANA time zone name such as UTC or Europe/Tallinn"),
            );
        }
        let log_level = self
            .string(&raw.log_level, "log_level")
            .unwrap_or_else(|| "INFO".into());
        if !["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
            .contains(&log_level.to_uppercase().as_str())
        {
            let line = raw.log_level.as_ref().and_then(line_of);
            self.error(
                "log_level",
                line,
                "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
            );
        }
        let reporting_periods =
            self.uint(&raw.reporting_periods, "reporting_periods", 1..=12, 2) as u8;
        let expose_error_details = self.bool(
            &raw.expose_backend_error_details,
            "expose_backend_error_details",
            true,
        );
        let agent = match &raw.agent {
            Some(a) => self.agent(&a.value),
            None => AgentSettings::default(),
        };
        let mut offerings = Vec::new();
        match raw.offerings {
            None => self.error(
                "offerings",
                None,
                "required key is missing: list the Waldur offerings to serve",
            ),
            Some(list) => {
                if list.value.is_empty() {
                    self.error(
                        "offerings",
                        line_of(&list),
                        "must list at least one offering",
                    );
                }
                for (i, o) in list.value.into_iter().enumerate() {
                    let line = line_of(&o);
                    if let Some(offering) = self.offering(o.value, &format!("offerings[{i}]"), line)
                    {
                        offerings.push(offering);
                    }
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for o in &offerings {
            if !seen.insert(o.uuid.clone()) {
                self.error(
                    "offerings",
                    None,
                    format!("offering {} is listed twice", o.uuid),
                );
            }
        }
        Config {
            offerings,
            timezone,
            reporting_periods,
            log_level,
            expose_error_details,
            agent,
        }
    }
}

/// IANA names are Area/Location or a few bare names, looked up in the system's tz
/// database as the usage reporter will: a typo fails at load, not at the first report.
fn timezone_looks_valid(tz: &str) -> bool {
    let shaped = tz == "UTC"
        || tz == "GMT"
        || (tz.contains('/')
            && tz
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c)));
    // Without any tz database on the host, the shape is all that can be checked here.
    let db = jiff::tz::db();
    shaped && (db.is_definitively_empty() || db.get(tz).is_ok())
}

#[cfg(test)]
mod tests;
