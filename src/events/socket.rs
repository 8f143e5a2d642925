//! One STOMP session over one WebSocket: connect (TLS by rustls when `wss://`), log in
//! with a `STOMP` frame, subscribe to the pre-declared queue, then hand every `MESSAGE`
//! to the caller until the connection ends, keeping heart-beats both ways. How it ended
//! tells the listener what to do next: log in again, register again, or just reconnect.

use std::sync::Arc;
use std::time::Duration;

use agent_config::Secret;
use agent_desired::client::agents::QueueLogin;
use futures::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;

use super::stomp::{Decoder, Frame, Item};

/// What we offer and ask for: a heart-beat every 10 s each way (as the Python agent).
const HEART_BEAT_MS: u64 = 10_000;
/// The TCP/TLS/WebSocket handshake and the `CONNECTED` answer each get this long.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Where the broker's WebSocket endpoint is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `ws[s]://host:port/path`.
    pub url: String,
    /// Check the broker's certificate (`verify_ssl`).
    pub verify_tls: bool,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The broker refused the login or the vhost: register again (it resets the password).
    Refused(String),
    /// The queue is not there (any more): register again (it declares the queue).
    QueueGone(String),
    /// The connection could not be made, broke, or went silent: connect again.
    Dropped(String),
}

/// What happened so far in a session, for the listener's logs and backoff.
pub trait Handler {
    /// The subscription is confirmed: messages flow.
    fn subscribed(&mut self);
    fn message(&mut self, frame: Frame);
}

/// Runs one session to its end.
pub async fn session(
    endpoint: &Endpoint,
    login: &QueueLogin,
    token: &Secret,
    handler: &mut (dyn Handler + Send),
) -> End {
    let connector = match connector(endpoint) {
        Ok(c) => c,
        Err(e) => return End::Dropped(e),
    };
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        endpoint.url.as_str(),
        None,
        true,
        Some(connector),
    );
    let mut ws = match tokio::time::timeout(HANDSHAKE, connect).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return End::Dropped(format!("cannot open {}: {e}", endpoint.url)),
        Err(_) => {
            return End::Dropped(format!(
                "no WebSocket answer from {} in {HANDSHAKE:?}",
                endpoint.url
            ))
        }
    };
    let hello = Frame::new("STOMP")
        .header("accept-version", "1.2")
        .header("host", &login.vhost)
        .header("login", &login.username)
        .header("passcode", token.expose())
        .header("heart-beat", &format!("{HEART_BEAT_MS},{HEART_BEAT_MS}"));
    if let Err(e) = send(&mut ws, &hello).await {
        return End::Dropped(e);
    }
    let mut decoder = Decoder::new();
    let connected = match tokio::time::timeout(HANDSHAKE, next_frame(&mut ws, &mut decoder)).await {
        Ok(Ok(f)) => f,
        Ok(Err(end)) => return end,
        Err(_) => return End::Dropped(format!("no CONNECTED frame in {HANDSHAKE:?}")),
    };
    match connected.command.as_str() {
        "CONNECTED" => {}
        "ERROR" => return End::Refused(format!("the broker refused the login: {connected}")),
        other => return End::Dropped(format!("expected CONNECTED, got {other}")),
    }
    let (send_every, expect_every) = heart_beats(connected.get("heart-beat"));
    let subscribe = Frame::new("SUBSCRIBE")
        .header("destination", &format!("/amq/queue/{}", login.queue))
        .header("id", &login.queue)
        .header("ack", "auto")
        .header("receipt", "subscribed");
    if let Err(e) = send(&mut ws, &subscribe).await {
        return End::Dropped(e);
    }
    // The broker's silence longer than two of its beats (plus slack) is a dead link.
    let silence = expect_every.map(|d| d * 2 + Duration::from_secs(2));
    let mut last_heard = Instant::now();
    let mut beat = tokio::time::interval(send_every.unwrap_or(Duration::from_secs(3600)));
    beat.tick().await;
    loop {
        let deadline = silence.map(|s| last_heard + s);
        tokio::select! {
            _ = beat.tick(), if send_every.is_some() => {
                if let Err(e) = ws.send(Message::text("\n")).await {
                    return End::Dropped(format!("sending a heart-beat: {e}"));
                }
            }
            _ = sleep_until(deadline) => {
                return End::Dropped(format!(
                    "no heart-beat from the broker for {:?}",
                    silence.unwrap_or_default()
                ));
            }
            msg = ws.next() => {
                last_heard = Instant::now();
                let bytes = match msg {
                    Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(c))) => {
                        return End::Dropped(format!(
                            "the broker closed the connection{}",
                            c.map(|c| format!(" ({})", agent_reconcile::escape::text(&c.reason))).unwrap_or_default()
                        ));
                    }
                    Some(Err(e)) => return End::Dropped(format!("the connection broke: {e}")),
                    None => return End::Dropped("the connection closed".into()),
                };
                decoder.push(&bytes);
                loop {
                    match decoder.next_item() {
                        Ok(None) => break,
                        Ok(Some(Item::HeartBeat)) => {}
                        Ok(Some(Item::Frame(f))) => match f.command.as_str() {
                            "MESSAGE" => handler.message(f),
                            "RECEIPT" => handler.subscribed(),
                            "ERROR" => return classify_error(&f),
                            _ => tracing::debug!(frame = %f, "unexpected STOMP frame; ignored"),
                        },
                        Err(e) => return End::Dropped(format!("{e}")),
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(ws: &mut Ws, frame: &Frame) -> Result<(), String> {
    let bytes = frame.encode().map_err(|e| e.to_string())?;
    // Frames go as text messages (what RabbitMQ's web-STOMP and the Python agent use).
    let text = String::from_utf8(bytes).map_err(|_| "a STOMP frame is not UTF-8".to_string())?;
    ws.send(Message::text(text))
        .await
        .map_err(|e| format!("sending {}: {e}", frame.command))
}

/// The first frame (heart-beats skipped).
async fn next_frame(ws: &mut Ws, decoder: &mut Decoder) -> Result<Frame, End> {
    loop {
        match decoder.next_item() {
            Ok(Some(Item::Frame(f))) => return Ok(f),
            Ok(Some(Item::HeartBeat)) => continue,
            Ok(None) => {}
            Err(e) => return Err(End::Dropped(e.to_string())),
        }
        match ws.next().await {
            Some(Ok(Message::Text(t))) => decoder.push(t.as_bytes()),
            Some(Ok(Message::Binary(b))) => decoder.push(&b),
            // RabbitMQ closes at once on a bad login with some clients: treat it as refused.
            Some(Ok(Message::Close(_))) | None => {
                return Err(End::Refused(
                    "the broker closed the connection at login".into(),
                ))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(End::Dropped(format!("the connection broke: {e}"))),
        }
    }
}

/// RabbitMQ's `ERROR` frames: `not_found` (no such queue), `access_refused` and login
/// failures, or anything else.
fn classify_error(f: &Frame) -> End {
    let text = format!("{} {}", f.get("message").unwrap_or(""), f.text()).to_ascii_lowercase();
    let shown = format!("{f}");
    if text.contains("not_found") || text.contains("no queue") {
        End::QueueGone(shown)
    } else if text.contains("access_refused")
        || text.contains("access refused")
        || text.contains("login")
    {
        End::Refused(shown)
    } else {
        End::Dropped(shown)
    }
}

/// STOMP 1.2 §heart-beating: we send every max(ours, theirs wanted), and expect theirs
/// every max(theirs, ours wanted); 0 on either side means none.
fn heart_beats(server: Option<&str>) -> (Option<Duration>, Option<Duration>) {
    let (sx, sy) = server
        .and_then(|h| h.split_once(','))
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
        .unwrap_or((0, 0));
    let every = |a: u64, b: u64| (a != 0 && b != 0).then(|| Duration::from_millis(a.max(b)));
    (every(HEART_BEAT_MS, sy), every(sx, HEART_BEAT_MS))
}

fn connector(endpoint: &Endpoint) -> Result<Connector, String> {
    if !endpoint.url.starts_with("wss://") {
        return Ok(Connector::Plain);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = if endpoint.verify_tls {
        use rustls_platform_verifier::ConfigVerifierExt;
        rustls::ClientConfig::with_platform_verifier()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
    } else {
        rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification))
            .with_no_client_auth()
    };
    Ok(Connector::Rustls(Arc::new(config)))
}

/// `verify_ssl: false`: any certificate is accepted (as for the REST client).
#[derive(Debug)]
struct NoVerification;

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heart_beats_follow_the_negotiation() {
        let s = Duration::from_secs;
        assert_eq!(heart_beats(Some("4000,4000")), (Some(s(10)), Some(s(10))));
        assert_eq!(heart_beats(Some("20000,0")), (None, Some(s(20))));
        assert_eq!(heart_beats(Some("0,0")), (None, None));
        assert_eq!(heart_beats(None), (None, None));
    }

    #[test]
    fn broker_errors_say_what_to_do() {
        let e = |m: &str| Frame::new("ERROR").header("message", m);
        assert!(matches!(classify_error(&e("not_found")), End::QueueGone(_)));
        assert!(matches!(
            classify_error(&e("access_refused")),
            End::Refused(_)
        ));
        assert!(matches!(
            classify_error(&e("Processing error")),
            End::Dropped(_)
        ));
    }
}
