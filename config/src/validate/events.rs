//! An offering's event-stream keys: `stomp_enabled`, `stomp_membership_sync_enabled`,
//! `stomp_ws_host`, `stomp_ws_port`, `stomp_ws_path`, `websocket_use_tls`.
//!
//! The port keeps the Python agent's default, 443 when `verify_ssl` is true and 80 when
//! it is false — tied to certificate checking, not to `websocket_use_tls` — so a file that
//! works there connects to the same place here. When that default and the TLS setting
//! disagree (TLS on port 80, plain text on 443), a warning says so and names the
//! override: `stomp_ws_port`.

use super::leaves::line_of;
use super::{Problem, Validator};
use crate::raw::RawOffering;
use crate::types::Events;

/// Where Waldur's reverse proxy serves RabbitMQ's web-STOMP in production.
pub const DEFAULT_WS_PATH: &str = "/rmqws-stomp";

impl Validator<'_> {
    pub(super) fn events(
        &mut self,
        raw: &RawOffering,
        p: &str,
        api_url: &str,
        verify_ssl: bool,
        membership_sync: bool,
    ) -> Events {
        let enabled = self.bool(&raw.stomp_enabled, &format!("{p}.stomp_enabled"), false);
        let membership = self.bool(
            &raw.stomp_membership_sync_enabled,
            &format!("{p}.stomp_membership_sync_enabled"),
            true,
        ) && membership_sync;
        let tls = self.bool(
            &raw.websocket_use_tls,
            &format!("{p}.websocket_use_tls"),
            true,
        );
        let host_path = format!("{p}.stomp_ws_host");
        let host = match self.string(&raw.stomp_ws_host, &host_path) {
            Some(h) if valid_host(&h) => h,
            Some(h) => {
                let line = raw.stomp_ws_host.as_ref().and_then(line_of);
                self.error(
                    &host_path,
                    line,
                    format!(
                        "{:?} is not a host name or address (no scheme, port or path: those are websocket_use_tls, stomp_ws_port and stomp_ws_path)",
                        h.escape_debug().to_string()
                    ),
                );
                String::new()
            }
            None => api_host(api_url).unwrap_or_default(),
        };
        let quirk = if verify_ssl { 443 } else { 80 };
        let port_path = format!("{p}.stomp_ws_port");
        let explicit = raw
            .stomp_ws_port
            .as_ref()
            .is_some_and(|s| !s.value.is_null());
        let port = self.uint(&raw.stomp_ws_port, &port_path, 1..=65535, quirk) as u16;
        let ws_path = format!("{p}.stomp_ws_path");
        let path = match self.string(&raw.stomp_ws_path, &ws_path) {
            Some(s) if s.starts_with('/') && !s.contains(char::is_whitespace) => s,
            Some(s) => {
                let line = raw.stomp_ws_path.as_ref().and_then(line_of);
                self.error(
                    &ws_path,
                    line,
                    format!(
                        "{:?} must be a URL path starting with / (e.g. /ws)",
                        s.escape_debug().to_string()
                    ),
                );
                DEFAULT_WS_PATH.to_string()
            }
            None => DEFAULT_WS_PATH.to_string(),
        };
        if enabled && !explicit && (port == 443) != tls {
            self.warnings.push(Problem {
                path: port_path,
                line: None,
                message: format!(
                    "not set, so the event stream uses port {port} (the Python agent's rule: 443 when verify_ssl is true, else 80) with TLS {}; set stomp_ws_port to the port the broker serves",
                    if tls { "on" } else { "off" }
                ),
            });
        }
        if !enabled {
            let set = |leaf: &crate::raw::Leaf| leaf.as_ref().is_some_and(|s| !s.value.is_null());
            for (key, leaf) in [
                (
                    "stomp_membership_sync_enabled",
                    &raw.stomp_membership_sync_enabled,
                ),
                ("stomp_ws_host", &raw.stomp_ws_host),
                ("stomp_ws_port", &raw.stomp_ws_port),
                ("stomp_ws_path", &raw.stomp_ws_path),
                ("websocket_use_tls", &raw.websocket_use_tls),
            ] {
                if set(leaf) {
                    self.warnings.push(Problem {
                        path: format!("{p}.{key}"),
                        line: leaf.as_ref().and_then(line_of),
                        message: "has no effect while stomp_enabled is not true".into(),
                    });
                }
            }
        }
        if enabled && host.is_empty() {
            self.error(
                &host_path,
                None,
                "the event stream needs a host: set stomp_ws_host (waldur_api_url has none)",
            );
        }
        Events {
            enabled,
            membership,
            host,
            port,
            path,
            tls,
        }
    }
}

/// The host of `scheme://host[:port]/...` (IPv6 without its brackets).
fn api_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    Some(host.to_string()).filter(|h| valid_host(h))
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

#[cfg(test)]
mod tests {
    use crate::load_str;

    fn offering(extra: &str) -> String {
        format!(
            r#"
offerings:
  - name: c
    waldur_api_url: https://waldur.example.com:8443/api/
    waldur_api_token: t
    waldur_offering_uuid: "0ff00000000000000000000000000001"
    backend_type: slurm
    membership_sync_backend: slurm
    backend_settings: {{default_account: root}}
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
{extra}"#
        )
    }

    #[test]
    fn defaults_follow_the_python_agent() {
        let loaded =
            load_str("c.yaml", &offering("    stomp_enabled: true\n"), None, None).unwrap();
        let e = &loaded.config.offerings[0].events;
        assert!(e.enabled && e.membership && e.tls);
        assert_eq!(e.url(), "wss://waldur.example.com:443/rmqws-stomp");
        assert!(loaded.warnings.iter().all(|w| !w.path.contains("stomp")));
    }

    #[test]
    fn the_port_quirk_is_named_and_the_override_wins() {
        // verify_ssl false -> port 80, but TLS is on: warned, with the key to set.
        let text = offering("    stomp_enabled: true\n    verify_ssl: false\n");
        let loaded = load_str("c.yaml", &text, None, None).unwrap();
        assert_eq!(loaded.config.offerings[0].events.port, 80);
        let w = loaded
            .warnings
            .iter()
            .find(|w| w.path == "offerings[0].stomp_ws_port")
            .expect("warned");
        assert!(w.message.contains("set stomp_ws_port"), "{w}");

        let text = offering(
            "    stomp_enabled: true\n    verify_ssl: false\n    stomp_ws_port: 15674\n    stomp_ws_path: /ws\n    websocket_use_tls: false\n    stomp_ws_host: 127.0.0.1\n    stomp_membership_sync_enabled: false\n",
        );
        let loaded = load_str("c.yaml", &text, None, None).unwrap();
        let e = &loaded.config.offerings[0].events;
        assert_eq!(e.url(), "ws://127.0.0.1:15674/ws");
        assert!(!e.membership);
        assert!(loaded.warnings.iter().all(|w| !w.path.contains("stomp")));
    }

    #[test]
    fn event_keys_without_events_are_named() {
        let loaded = load_str(
            "c.yaml",
            &offering("    stomp_ws_port: 15674\n"),
            None,
            None,
        )
        .unwrap();
        let w = loaded
            .warnings
            .iter()
            .find(|w| w.path == "offerings[0].stomp_ws_port")
            .expect("warned");
        assert!(w.message.contains("stomp_enabled"), "{w}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_key() {
        for (extra, key) in [
            ("    stomp_ws_port: 70000\n", "stomp_ws_port"),
            ("    stomp_ws_port: eighty\n", "stomp_ws_port"),
            ("    stomp_ws_path: ws\n", "stomp_ws_path"),
            ("    stomp_ws_host: wss://h/ws\n", "stomp_ws_host"),
            ("    websocket_use_tls: maybe\n", "websocket_use_tls"),
            ("    stomp_enabled: yes please\n", "stomp_enabled"),
        ] {
            let Err(err) = load_str("c.yaml", &offering(extra), None, None) else {
                panic!("{extra}: accepted");
            };
            assert!(err.to_string().contains(key), "{extra}: {err}");
        }
    }
}
