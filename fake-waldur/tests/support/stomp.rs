//! A minimal STOMP 1.2 client over plain TCP (RabbitMQ's `rabbitmq_stomp` port): enough
//! to log in as the user a registration created and to receive what the fake published.
//! The WebSocket endpoint speaks the same frames; the agent's own client covers that.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Stomp {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Stomp {
    /// Connects and sends `CONNECT`; returns the session and the server's first frame
    /// (`CONNECTED`, or `ERROR` for a bad login).
    pub async fn connect(port: u16, vhost: &str, login: &str, passcode: &str) -> (Stomp, Frame) {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the STOMP port");
        let mut s = Stomp {
            stream,
            buf: Vec::new(),
        };
        let headers = [
            ("accept-version", "1.2"),
            ("host", vhost),
            ("login", login),
            ("passcode", passcode),
            ("heart-beat", "0,0"),
        ];
        s.send("CONNECT", &headers, "").await;
        let first = s
            .next(Duration::from_secs(5))
            .await
            .expect("an answer to CONNECT");
        (s, first)
    }

    pub async fn send(&mut self, command: &str, headers: &[(&str, &str)], body: &str) {
        let mut out = format!("{command}\n");
        for (k, v) in headers {
            out.push_str(&format!("{k}:{v}\n"));
        }
        out.push('\n');
        out.push_str(body);
        out.push('\0');
        self.stream
            .write_all(out.as_bytes())
            .await
            .expect("write a STOMP frame");
    }

    /// The next frame, or `None` on timeout or a closed connection.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        loop {
            // Heart-beat EOLs between frames.
            while matches!(self.buf.first(), Some(b'\n' | b'\r')) {
                self.buf.remove(0);
            }
            if let Some(end) = self.buf.iter().position(|b| *b == 0) {
                let raw: Vec<u8> = self.buf.drain(..=end).collect();
                return Some(parse(&raw[..raw.len() - 1]));
            }
            let mut chunk = [0u8; 4096];
            let n = timeout(wait, self.stream.read(&mut chunk))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn parse(raw: &[u8]) -> Frame {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let command = lines.next().unwrap_or_default().trim().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Frame {
        command,
        headers,
        body: body.to_string(),
    }
}
