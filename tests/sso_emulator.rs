//! The IAM Identity Center emulator itself (tests/sso_server.py), before any vault test relies
//! on it: botocore's own `sso-oidc` and `sso` clients run every flow against it
//! (tests/sso_fidelity.py), its log carries no secret it issued, and the `$BROWSER` script of
//! tests/common/sso.rs carries a real authorize redirect to a loopback listener.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::sso::{browser_calls, browser_script, sso_config, SsoEmu};
use common::{contains, require};
use sha2::Digest;

const FIDELITY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sso_fidelity.py");

fn have_boto3() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import boto3"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    require("python3 with boto3", ok)
}

#[test]
fn botocore_clients_run_every_flow_against_the_emulator() {
    if !have_boto3() {
        return;
    }
    let Some(emu) = SsoEmu::start(&[]) else {
        return;
    };
    let out = Command::new("python3")
        .arg(FIDELITY)
        .arg(emu.url())
        .arg(emu.log_path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("SSO FIDELITY PASSED"),
        "the fidelity script failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // What the Rust tests count on, seen from this side too.
    assert_eq!(emu.count("/client/register"), 4);
    assert!(emu.count_grant("urn:ietf:params:oauth:grant-type:device_code") >= 4);
    assert!(emu.count_grant("authorization_code") >= 4);
    assert!(emu.count_grant("refresh_token") >= 8);
    assert!(emu.count("/federation/credentials") >= 4);
    assert!(emu.count("/logout") == 1);
    let issued = emu.secrets();
    assert!(
        issued.len() > 30,
        "too few secrets recorded: {}",
        issued.len()
    );
    let log = std::fs::read(emu.log_path()).unwrap();
    for s in &issued {
        assert!(s.len() >= 20, "a recorded secret is too short to scan for");
        assert!(
            !contains(&log, s.as_bytes()),
            "the emulator logged a secret"
        );
    }
}

#[test]
fn control_knobs_answer_and_change() {
    let Some(emu) = SsoEmu::start(&[("SSO_EMU_PAGE", "7"), ("SSO_EMU_ACCOUNTS", "5")]) else {
        return;
    };
    let knobs = emu.control(serde_json::json!({}));
    assert_eq!(knobs["PAGE"], "7");
    assert_eq!(knobs["ACCOUNTS"], "5");
    let knobs = emu.control(serde_json::json!({"set": {"TOKEN_TTL": 5}}));
    assert_eq!(knobs["TOKEN_TTL"], "5");
    let (status, body) = emu.request("POST", "/_control", &[], r#"{"set": {"NO_SUCH_KNOB": 1}}"#);
    assert_eq!(status, 400, "{body}");
    assert_eq!(emu.count("/_control"), 3);
    // An unknown bearer token, as the portal answers it.
    let (status, body) = emu.request(
        "GET",
        "/assignment/accounts",
        &[("x-amz-sso_bearer_token", "aoa-unknown")],
        "",
    );
    assert_eq!(status, 401);
    assert!(body.contains("message"), "{body}");
    let cfg = sso_config(&emu.url(), "corp", "111111111111", "Admin");
    assert!(cfg.contains(&format!("sso_start_url = {}/start\n", emu.url())));
    assert!(cfg.contains("[sso-session corp]\n") && cfg.contains("[profile corp]\n"));
}

#[test]
fn browser_script_follows_the_authorize_redirect_to_a_loopback_listener() {
    if !require("curl", common::have("curl")) {
        return;
    }
    let Some(emu) = SsoEmu::start(&[]) else {
        return;
    };
    let (status, body) = emu.request(
        "POST",
        "/client/register",
        &[],
        r#"{"clientName": "t", "clientType": "public", "grantTypes": ["authorization_code", "refresh_token"], "redirectUris": ["http://127.0.0.1/oauth/callback"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let reg: serde_json::Value = serde_json::from_str(&body).unwrap();
    let client_id = reg["clientId"].as_str().unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let redirect = format!(
        "http://127.0.0.1:{}/oauth/callback",
        listener.local_addr().unwrap().port()
    );
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = "state-1234";
    let url = format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&state={state}&code_challenge={challenge}&code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess",
        emu.url(),
        redirect.replace(':', "%3A").replace('/', "%2F"),
    );

    let dir = tempfile::tempdir().unwrap();
    let script = browser_script(dir.path());
    let opened = Command::new(&script).arg(&url).status().unwrap();
    assert!(opened.success());
    assert_eq!(browser_calls(dir.path()), std::slice::from_ref(&url));

    // The loopback listener vault would run: one request, a plain page, done.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut conn, _) = loop {
        match listener.accept() {
            Ok(c) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!(
                "the browser script never reached the listener ({e}): {}",
                std::fs::read_to_string(dir.path().join("browser.err")).unwrap_or_default()
            ),
        }
    };
    conn.set_nonblocking(false).unwrap();
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).unwrap();
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        .unwrap();
    let target = line
        .strip_prefix("GET ")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("not a GET: {line:?}"));
    let query = target
        .strip_prefix("/oauth/callback?")
        .unwrap_or_else(|| panic!("not the callback: {target}"));
    let params: std::collections::HashMap<&str, &str> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    assert_eq!(params.get("state"), Some(&state), "{query}");
    let code = params["code"];
    assert!(
        emu.secrets().iter().any(|s| s == code),
        "the code is not recorded"
    );

    let exchange = |verifier: &str| {
        emu.request(
            "POST",
            "/token",
            &[],
            &serde_json::json!({
                "clientId": client_id,
                "clientSecret": reg["clientSecret"],
                "grantType": "authorization_code",
                "code": code,
                "codeVerifier": verifier,
                "redirectUri": redirect,
            })
            .to_string(),
        )
    };
    let (status, body) = exchange(verifier);
    assert_eq!(status, 200, "{body}");
    let tok: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(tok["tokenType"], "Bearer");
    let (status, body) = exchange(verifier);
    assert_eq!(status, 400, "a code redeemed twice: {body}");
    assert_eq!(emu.count("/authorize"), 1);
    assert_eq!(emu.count_grant("authorization_code"), 2);
}

/// Single-flight tests start 20 vaults at once against a slow `/token`: the emulator must serve
/// them concurrently (the delay outside its lock), or the race they test never happens.
#[test]
fn a_slow_token_endpoint_serves_twenty_clients_at_once() {
    let Some(emu) = SsoEmu::start(&[("SSO_EMU_TOKEN_DELAY_MS", "500")]) else {
        return;
    };
    let (status, body) = emu.request(
        "POST",
        "/client/register",
        &[],
        r#"{"clientName": "t", "clientType": "public"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let reg: serde_json::Value = serde_json::from_str(&body).unwrap();
    let (status, body) = emu.request(
        "POST",
        "/device_authorization",
        &[],
        &serde_json::json!({"clientId": reg["clientId"], "clientSecret": reg["clientSecret"], "startUrl": format!("{}/start", emu.url())}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let dev: serde_json::Value = serde_json::from_str(&body).unwrap();
    let poll = serde_json::json!({
        "clientId": reg["clientId"],
        "clientSecret": reg["clientSecret"],
        "grantType": "urn:ietf:params:oauth:grant-type:device_code",
        "deviceCode": dev["deviceCode"],
    })
    .to_string();
    let (status, body) = emu.request("POST", "/token", &[], &poll);
    assert_eq!(status, 400, "the first poll is pending: {body}");
    let (status, body) = emu.request("POST", "/token", &[], &poll);
    assert_eq!(status, 200, "{body}");
    let tok: serde_json::Value = serde_json::from_str(&body).unwrap();
    let refresh = serde_json::json!({
        "clientId": reg["clientId"],
        "clientSecret": reg["clientSecret"],
        "grantType": "refresh_token",
        "refreshToken": tok["refreshToken"],
    })
    .to_string();
    let started = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| emu.request("POST", "/token", &[], &refresh).0))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 200);
        }
    });
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "20 refreshes of 500 ms took {took:?}: the emulator serialises them"
    );
    assert_eq!(emu.count_grant("refresh_token"), 20);
}
