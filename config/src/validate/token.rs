//! An offering's API token: `waldur_api_token`, else `waldur_api_token_file`, else the
//! environment variable. No message ever quotes the token.

use std::path::Path;

use serde_json::Value;

use super::leaves::line_of;
use super::{Validator, TOKEN_ENV};
use crate::raw::RawOffering;
use crate::Secret;

impl Validator<'_> {
    pub(super) fn token(&mut self, raw: &RawOffering, p: &str, line: Option<u64>) -> Secret {
        // Never echo the token: only its shape is checked.
        if let Some(s) = raw.waldur_api_token.as_ref() {
            match &s.value {
                Value::String(t) if !t.trim().is_empty() => {
                    self.inline_token = true;
                    return Secret::new(t.trim());
                }
                Value::String(_) | Value::Null => {}
                _ => {
                    self.error(
                        &format!("{p}.waldur_api_token"),
                        line_of(s),
                        "expected a string",
                    );
                    return Secret::default();
                }
            }
        }
        if let Some(file) = self.string(
            &raw.waldur_api_token_file,
            &format!("{p}.waldur_api_token_file"),
        ) {
            let path = match self.base_dir {
                Some(b) if Path::new(&file).is_relative() => b.join(&file),
                _ => Path::new(&file).to_path_buf(),
            };
            if super::readable_by_others(&path) {
                self.warnings.push(super::Problem {
                    path: format!("{p}.waldur_api_token_file"),
                    line: raw.waldur_api_token_file.as_ref().and_then(line_of),
                    message: format!(
                        "{} holds the API token and every user of this host can read it: chmod 600 it",
                        path.display()
                    ),
                });
            }
            return match std::fs::read_to_string(&path) {
                Ok(t) if !t.trim().is_empty() => Secret::new(t.trim()),
                Ok(_) => {
                    let l = raw.waldur_api_token_file.as_ref().and_then(line_of);
                    self.error(
                        &format!("{p}.waldur_api_token_file"),
                        l,
                        format!("{} is empty", path.display()),
                    );
                    Secret::default()
                }
                Err(e) => {
                    let l = raw.waldur_api_token_file.as_ref().and_then(line_of);
                    self.error(
                        &format!("{p}.waldur_api_token_file"),
                        l,
                        format!("cannot read {}: {e}", path.display()),
                    );
                    Secret::default()
                }
            };
        }
        match self.env_token {
            Some(t) => Secret::new(t.trim()),
            None => {
                self.error(
                    &format!("{p}.waldur_api_token"),
                    line,
                    format!("no API token: set waldur_api_token, waldur_api_token_file or the {TOKEN_ENV} environment variable"),
                );
                Secret::default()
            }
        }
    }
}
