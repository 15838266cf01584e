//! The one-shot loopback listener the browser returns to after the authorize page: bound to
//! `127.0.0.1:0` (never another interface), it answers `GET /oauth/callback?code=..&state=..`
//! once with a plain "you can close this tab" page, checks `state` in constant time, and
//! shuts down. Anything else on the port gets a 404 and the wait goes on, until a deadline.

use std::time::Duration;

use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::{Error, Msg, Result};
use crate::secret::Secret;

/// The callback path (the emulator and the service accept loopback redirects to it).
pub const PATH: &str = "/oauth/callback";
const MAX_REQUEST: usize = 16 * 1024;

/// A bound listener waiting for the browser.
#[derive(Debug)]
pub struct Callback {
    listener: TcpListener,
    port: u16,
}

impl Callback {
    /// Binds 127.0.0.1 on a free port.
    pub async fn bind() -> Result<Callback> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            Error::Other(Msg::hinted(
                format!("binding the sign-in callback on 127.0.0.1: {e}"),
                "pass --use-device-code to sign in without a local listener",
            ))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Other(e.to_string().into()))?
            .port();
        Ok(Callback { listener, port })
    }

    /// The redirect URI: `http://127.0.0.1:PORT/oauth/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{PATH}", self.port)
    }

    /// Waits (at most `timeout`) for the one callback with `state`; returns its code. The
    /// listener is dropped on return, so the port closes at once.
    pub async fn code(self, state: &Secret, timeout: Duration) -> Result<Secret> {
        let wait = async {
            loop {
                let Ok((stream, _)) = self.listener.accept().await else {
                    continue;
                };
                match tokio::time::timeout(Duration::from_secs(10), handle(stream, state)).await {
                    Ok(Some(done)) => return done,
                    Ok(None) | Err(_) => continue,
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(done) => done,
            Err(_) => Err(Error::SsoLogin(Msg::hinted(
                format!("no sign-in came back from the browser within {} s", timeout.as_secs()),
                "run `vault sso login` again and finish signing in, or use --no-browser / --use-device-code",
            ))),
        }
    }
}

/// Answers one connection; `Some` when it was the callback (with the code or the error).
async fn handle(mut stream: TcpStream, state: &Secret) -> Option<Result<Secret>> {
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(2048));
    let mut chunk = [0u8; 2048];
    let line_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break buf[..i].iter().position(|&b| b == b'\r').unwrap_or(i);
        }
        if buf.len() > MAX_REQUEST {
            return None;
        }
    };
    let line = std::str::from_utf8(&buf[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != PATH {
        let _ = respond(&mut stream, "404 Not Found", "Not found.\n").await;
        return None;
    }
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v);
        match k {
            "code" => code = Some(Secret::new(v)),
            "state" => got_state = Some(Secret::new(v)),
            "error" => error = Some(v),
            _ => {}
        }
    }
    let state_ok = got_state
        .is_some_and(|s| bool::from(s.expose().as_bytes().ct_eq(state.expose().as_bytes())));
    if !state_ok {
        // A stray or forged request: refuse it and keep waiting for the real one.
        let _ = respond(
            &mut stream,
            "400 Bad Request",
            "This sign-in response does not match the one vault started.\n",
        )
        .await;
        tracing::warn!("ignored a sign-in callback with the wrong state");
        return None;
    }
    if let Some(e) = error {
        let _ = respond(
            &mut stream,
            "200 OK",
            "Sign-in failed. You can close this tab and return to the terminal.\n",
        )
        .await;
        return Some(Err(Error::StsRefused(Msg::hinted(
            format!(
                "IAM Identity Center sign-in failed: {}",
                crate::sanitize(&e)
            ),
            "run `vault sso login` again",
        ))));
    }
    let Some(code) = code else {
        let _ = respond(&mut stream, "400 Bad Request", "No authorization code.\n").await;
        return None;
    };
    let _ = respond(
        &mut stream,
        "200 OK",
        "Signed in to vault. You can close this tab.\n",
    )
    .await;
    Some(Ok(code))
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Decodes a `application/x-www-form-urlencoded` value.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_values() {
        assert_eq!(decode("a%2Fb+c"), "a/b c");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%41"), "A");
    }

    #[tokio::test]
    async fn answers_once_with_the_right_state_only() {
        let cb = Callback::bind().await.unwrap();
        let uri = cb.redirect_uri();
        assert!(uri.starts_with("http://127.0.0.1:"));
        let port: u16 = uri[17..].split('/').next().unwrap().parse().unwrap();
        let state = Secret::new("s1");
        let waiter = tokio::spawn(async move {
            cb.code(&state, Duration::from_secs(5))
                .await
                .map(|c| c.expose().to_owned())
        });
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        assert!(get("/other").await.starts_with("HTTP/1.1 404"));
        assert!(get("/oauth/callback?code=c&state=forged")
            .await
            .starts_with("HTTP/1.1 400"));
        let ok = get("/oauth/callback?code=the%2Dcode&state=s1").await;
        assert!(ok.contains("close this tab"), "{ok}");
        assert_eq!(waiter.await.unwrap().unwrap(), "the-code");
        // One-shot: the port is closed now.
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }
}
