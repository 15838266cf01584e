//! `vault exec --server`: the ECS container-credentials endpoint on loopback.
//!
//! Every AWS SDK refreshes from `AWS_CONTAINER_CREDENTIALS_FULL_URI` on its own, so a
//! long-running child never holds an expired key. aws-vault's server was reachable by other
//! local users and by DNS rebinding; this one answers only loopback peers, only with the
//! right `Host` (127.0.0.1:PORT or localhost:PORT), only with a random 32-byte bearer token
//! compared in constant time, and only on `/credentials`. Every answer comes from memory:
//! a background task (`refresh.rs`) renews the credentials through vault's sealed cache (so
//! through the per-session lock) a lead before the cache's refresh margin, so a slow STS never
//! makes the child's SDK time out, and the child never gets credentials with less than the
//! margin left.

pub mod refresh;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

use crate::creds::Credentials;
use crate::error::Result;

/// The path the child's SDK asks.
pub const PATH: &str = "/credentials";
const MAX_REQUEST: usize = 16 * 1024;
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNS: usize = 128;
/// How long a connection may take to send its request head.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// How long a connection may stay open in all (a wait for the refresh in flight included).
pub const CONN_DEADLINE: Duration = Duration::from_secs(30);

/// A bound endpoint: its URL and token, ready to serve.
#[derive(Debug)]
pub struct Endpoint {
    listener: TcpListener,
    port: u16,
    token: Zeroizing<String>,
}

impl Endpoint {
    /// Binds 127.0.0.1 on a random port with a fresh random token.
    pub async fn bind() -> Result<Endpoint> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            crate::error::Error::Other(format!("binding the credential endpoint: {e}").into())
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| crate::error::Error::Other(e.to_string().into()))?
            .port();
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut *raw);
        let token = Zeroizing::new(raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
        Ok(Endpoint {
            listener,
            port,
            token,
        })
    }

    /// The URL for `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{PATH}", self.port)
    }

    /// The bearer token for `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Serves forever (the caller drops it when the child exits). Connections are served
    /// concurrently (issue 13, point 10: one idle connection used to hold the endpoint for
    /// 30 s, and botocore gives up after 2 s): each must send its request head within
    /// [`HEAD_DEADLINE`] and is closed after [`CONN_DEADLINE`] in all, and at most
    /// [`MAX_CONNS`] are open at once (the rest wait in the listen backlog). Each answer
    /// comes from `creds`, the memory that [`refresh::Refresher::run`] keeps fresh; a
    /// request never calls STS itself.
    pub async fn serve(self, creds: refresh::Creds) {
        let this = &self;
        let mut conns: Vec<Pin<Box<dyn Future<Output = ()> + '_>>> = Vec::new();
        loop {
            // Drives every open connection, and accepts while under the cap.
            let accepted = std::future::poll_fn(|cx| {
                conns.retain_mut(|c| c.as_mut().poll(cx).is_pending());
                if conns.len() < MAX_CONNS {
                    if let Poll::Ready(r) = this.listener.poll_accept(cx) {
                        return Poll::Ready(r);
                    }
                }
                Poll::Pending
            })
            .await;
            let Ok((stream, peer)) = accepted else {
                continue;
            };
            let creds = &creds;
            conns.push(Box::pin(async move {
                let handled =
                    tokio::time::timeout(CONN_DEADLINE, this.handle(stream, peer, creds)).await;
                if handled.is_err() {
                    tracing::info!("credential endpoint: request from {peer} timed out");
                }
            }));
        }
    }

    async fn handle(&self, mut stream: TcpStream, peer: SocketAddr, creds: &refresh::Creds) {
        let checked = tokio::time::timeout(HEAD_DEADLINE, self.check(&mut stream, peer))
            .await
            .unwrap_or(Err((400, "no complete request in time")));
        let fetched = match checked {
            Ok(()) => Ok(creds.get().await),
            Err(refused) => Err(refused),
        };
        let (status, body) = match fetched {
            Err((status, why)) => {
                tracing::info!("credential endpoint: refused a request from {peer}: {why}");
                (status, Zeroizing::new(format!("{{\"message\":\"{why}\"}}")))
            }
            Ok(fetched) => match fetched {
                Ok(held) => (200, render(&held.creds)),
                Err(e) => {
                    tracing::warn!("credential endpoint: cannot provide credentials: {e}");
                    // JSON-encoded (not quote-mangled): the SDK shows the message as sent.
                    let msg = serde_json::json!({ "message": e.report() }).to_string();
                    (500, Zeroizing::new(msg))
                }
            },
        };
        let reason = match status {
            200 => "OK",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            400 => "Bad Request",
            _ => "Internal Server Error",
        };
        let response = Zeroizing::new(format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            *body
        ));
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    /// Reads the request head and applies every check: loopback peer, GET, Host, token, path.
    async fn check(
        &self,
        stream: &mut TcpStream,
        peer: SocketAddr,
    ) -> std::result::Result<(), (u16, &'static str)> {
        if !peer.ip().is_loopback() {
            return Err((403, "not a loopback client"));
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(2048));
        let mut chunk = [0u8; 2048];
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|_| (400, "unreadable request"))?;
            if n == 0 {
                return Err((400, "incomplete request"));
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
            if buf.len() > MAX_REQUEST {
                return Err((400, "request too large"));
            }
        }
        check_request(&buf, self.port, self.token.as_bytes())
    }
}

/// The checks on a request head read from a loopback peer: GET, Host, token, path. Apart from
/// [`Endpoint`] so that `crate::fuzzing` can feed it bytes.
pub(crate) fn check_request(
    buf: &[u8],
    port: u16,
    token: &[u8],
) -> std::result::Result<(), (u16, &'static str)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err((400, "malformed request")),
    }
    if req.method != Some("GET") {
        return Err((400, "only GET is served"));
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    // DNS rebinding: a browser tricked into calling us sends its own Host.
    let host_ok = header("host").is_some_and(|h| {
        h == format!("127.0.0.1:{port}").as_bytes() || h == format!("localhost:{port}").as_bytes()
    });
    if !host_ok {
        return Err((403, "foreign Host header"));
    }
    let Some(auth) = header("authorization") else {
        return Err((401, "no authorization token"));
    };
    let auth = auth.strip_prefix(b"Bearer ").unwrap_or(auth);
    if !bool::from(auth.ct_eq(token)) {
        return Err((403, "wrong authorization token"));
    }
    if req.path != Some(PATH) {
        return Err((404, "no such path"));
    }
    Ok(())
}

/// The container-credentials JSON.
fn render(c: &Credentials) -> Zeroizing<String> {
    crate::creds::shapes::json(&crate::creds::shapes::Ecs::of(c))
}
