//! systemd's notification protocol (`sd_notify`), the few lines it takes: one datagram
//! per message to the Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the
//! abstract namespace). Outside systemd (no socket) every call does nothing.
//!
//! Used for `Type=notify` (`READY=1` after the first cycle), `ExecReload`
//! (`RELOADING=1` .. `READY=1`), `STATUS=` lines, and the watchdog (`WATCHDOG=1`, every
//! half `WatchdogSec`, only while the loop is live).

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where notifications go, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<String>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment systemd sets for the service. The watchdog applies only to
    /// this process (`WATCHDOG_PID`, when set, must be ours).
    pub fn from_env() -> Self {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty());
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// A notifier to a given socket path (tests).
    pub fn to_socket(path: &str, watchdog: Option<Duration>) -> Self {
        Notifier {
            socket: Some(path.to_string()),
            watchdog,
        }
    }

    /// How often the watchdog wants to hear from us: half of `WatchdogSec`.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// Sends one message (`KEY=VALUE` lines); failures are logged at debug level only:
    /// a missing manager must not stop the daemon.
    pub fn send(&self, message: &str) {
        let Some(path) = &self.socket else { return };
        if let Err(e) = send_to(path, message) {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// (Without `MONOTONIC_USEC`, which only `Type=notify-reload`, systemd 253+, needs.)
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

/// A status line cannot carry a newline (it would start another assignment).
fn one_line(s: &str) -> String {
    agent_reconcile::escape::text(s).into_owned()
}

fn send_to(path: &str, message: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(message.as_bytes(), &addr)?;
    } else {
        sock.send_to(message.as_bytes(), path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_as_datagrams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::to_socket(path.to_str().unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(n.watchdog_every(), Some(Duration::from_secs(30)));
        n.ready("first cycle done\nFORGED=1");
        n.watchdog();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..len]).unwrap(),
            "READY=1\nSTATUS=first cycle done\\u{a}FORGED=1"
        );
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        Notifier::default().ready("nowhere: no socket, no error");
    }
}
