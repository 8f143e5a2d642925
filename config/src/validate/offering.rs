//! One entry of `offerings:`: name, Waldur URL, offering UUID, backend type and flags. Its
//! token, `backend_settings` and `backend_components` have their own files.

use super::leaves::line_of;
use super::Validator;
use crate::raw::{Leaf, RawOffering};
use crate::types::Offering;

impl Validator<'_> {
    pub(super) fn offering(
        &mut self,
        raw: RawOffering,
        p: &str,
        line: Option<u64>,
    ) -> Option<Offering> {
        let name = self.required_string(&raw.name, &format!("{p}.name"), line);
        let mut api_url =
            self.required_string(&raw.waldur_api_url, &format!("{p}.waldur_api_url"), line);
        if !(api_url.is_empty()
            || api_url.starts_with("http://")
            || api_url.starts_with("https://"))
        {
            let l = raw.waldur_api_url.as_ref().and_then(line_of);
            self.error(
                &format!("{p}.waldur_api_url"),
                l,
                "must start with http:// or https://",
            );
        }
        let tail = api_url.split(['?', '#']).next().unwrap_or("");
        if !api_url.is_empty() && !tail.trim_end_matches('/').ends_with("/api") {
            let l = raw.waldur_api_url.as_ref().and_then(line_of);
            self.error(
                &format!("{p}.waldur_api_url"),
                l,
                "must end with /api/ (the API root, e.g. https://waldur.example.org/api/)",
            );
        }
        if !plain_url(&api_url) {
            let l = raw.waldur_api_url.as_ref().and_then(line_of);
            self.error(
                &format!("{p}.waldur_api_url"),
                l,
                "must not contain spaces or control characters",
            );
        }
        if has_userinfo(&api_url) {
            // The URL is not repeated: what precedes the @ is probably a secret.
            let l = raw.waldur_api_url.as_ref().and_then(line_of);
            self.error(
                &format!("{p}.waldur_api_url"),
                l,
                "must not carry user:password@ (the token goes in waldur_api_token or waldur_api_token_file)",
            );
            api_url.clear();
        }
        if plain_http_off_host(&api_url) {
            let l = raw.waldur_api_url.as_ref().and_then(line_of);
            self.warn(
                &format!("{p}.waldur_api_url"),
                l,
                "plain http:// to another host: the API token crosses the network readable; use https://",
            );
        }
        if !api_url.ends_with('/') {
            api_url.push('/');
        }
        let api_token = self.token(&raw, p, line);
        let uuid_raw = self.required_string(
            &raw.waldur_offering_uuid,
            &format!("{p}.waldur_offering_uuid"),
            line,
        );
        let uuid = uuid_raw.replace('-', "").to_ascii_lowercase();
        if !uuid_raw.is_empty()
            && (uuid.len() != 32 || !uuid.chars().all(|c| c.is_ascii_hexdigit()))
        {
            let l = raw.waldur_offering_uuid.as_ref().and_then(line_of);
            self.error(&format!("{p}.waldur_offering_uuid"), l, format!("{uuid_raw:?} is not a UUID (32 hex digits, dashes allowed; quote it so YAML does not read it as a number)"));
        }
        let backend_type = self
            .required_string(&raw.backend_type, &format!("{p}.backend_type"), line)
            .to_lowercase();
        if !backend_type.is_empty() && backend_type != "slurm" {
            let l = raw.backend_type.as_ref().and_then(line_of);
            self.error(
                &format!("{p}.backend_type"),
                l,
                format!(
                    "{backend_type:?} is not supported: this agent serves SLURM offerings only"
                ),
            );
        }
        let verify_ssl = self.bool(&raw.verify_ssl, &format!("{p}.verify_ssl"), true);
        let mut enabled = |leaf: &Leaf, key: &str| {
            let v = self.string(leaf, &format!("{p}.{key}")).unwrap_or_default();
            !v.is_empty()
        };
        let order_processing = enabled(&raw.order_processing_backend, "order_processing_backend");
        let membership_sync = enabled(&raw.membership_sync_backend, "membership_sync_backend");
        let reporting = enabled(&raw.reporting_backend, "reporting_backend");
        let events = self.events(&raw, p, &api_url, verify_ssl, membership_sync);
        let _ = self.string(
            &raw.username_management_backend,
            &format!("{p}.username_management_backend"),
        );
        let slurm = self.backend_settings(raw.backend_settings.as_ref(), p, line);
        let components = self.backend_components(raw.backend_components, p, line);
        Some(Offering {
            name,
            api_url,
            api_token,
            uuid,
            verify_ssl,
            order_processing,
            membership_sync,
            reporting,
            slurm,
            components,
            events,
            ignored: Vec::new(),
        })
    }
}

/// No whitespace or control character: URL parsers drop tabs and line breaks silently,
/// so the URL used would not be the one shown.
pub fn plain_url(url: &str) -> bool {
    !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `user@host:port` of `scheme://user@host:port/path…`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

/// Whether `scheme://user[:pass]@host…` carries credentials before the host.
pub fn has_userinfo(url: &str) -> bool {
    authority(url).contains('@')
}

/// `http://` to a host other than this one (loopback is where a local proxy or a test
/// Waldur listens).
fn plain_http_off_host(url: &str) -> bool {
    if !url.starts_with("http://") {
        return false;
    }
    let host = match authority(url).strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority(url).split(':').next().unwrap_or(""),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}
