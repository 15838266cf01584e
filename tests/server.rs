//! `vault exec --server` (issue 6): the ECS credential endpoint against moto, with boto3 and
//! the standard library's HTTP client as children; and its refresh ahead (issue 17): answers
//! from memory while a slow STS refreshes, one STS call per refresh however many requests.

mod common;

use common::*;

const CONFIG_TEXT: &str = "
[profile src]
region = us-east-1

[profile msrc]
region = us-east-1
mfa_serial = arn:aws:iam::123456789012:mfa/alice

[profile role]
source_profile = src
role_arn = arn:aws:iam::123456789012:role/served
";

fn setup() -> Option<(Env, Moto)> {
    setup_with(&[])
}

/// [`setup`] with variables for moto (tests/sts_server.py): `STS_DELAY` makes STS slow.
fn setup_with(moto_vars: &[(&str, &str)]) -> Option<(Env, Moto)> {
    let moto = Moto::start(moto_vars)?;
    let env = Env::init();
    std::fs::write(env.path("home/aws-config"), CONFIG_TEXT).unwrap();
    env.add_key("src", "AKIASERVER", "server-secret");
    env.add_key("msrc", "AKIASERVER", "server-secret");
    Some((env, moto))
}

/// The credentials the endpoint fetched (its first and each refresh), from its `-v` log.
fn refreshes(out: &std::process::Output) -> usize {
    String::from_utf8_lossy(&out.stderr)
        .matches("credential endpoint: new credentials")
        .count()
}

/// A boto3 child calling GetCallerIdentity for longer than two 20 s session lifetimes; each
/// round it also reads the endpoint itself and checks the credentials have more than the
/// margin left (10 s of a 20 s session, less 2 s of slack for a loaded machine). It stops at
/// the first new session after 44 s (the next refresh is a lead away), so no refresh is in flight
/// when it exits and the STS calls are exactly the refreshes.
const LOOP: &str = r#"
import boto3, json, os, time, urllib.request, datetime
start = time.time()
n, keys, last = 0, set(), None
while time.time() < start + 120:
    ident = boto3.session.Session().client("sts").get_caller_identity()
    assert ident["Account"] == "123456789012", ident
    req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
    creds = json.load(urllib.request.urlopen(req))
    exp = datetime.datetime.fromisoformat(creds["Expiration"].replace("Z", "+00:00"))
    left = (exp - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert left > 8, f"credentials with {left} s left served"
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    n += 1
    # moto's GetSessionToken answers one fixed key: a new session has a new expiry.
    new = creds["Expiration"] != last
    keys.add(creds["Expiration"])
    last = creds["Expiration"]
    if new and len(keys) > 1 and time.time() > start + 44:
        break
    time.sleep(1)
else:
    raise SystemExit("no new session after 44 s")
print(json.dumps({"rounds": n, "keys": len(keys)}))
"#;

/// Runs the Python `script` under `vault -v exec src --server --duration 20` against `moto`
/// and returns vault's output and the JSON the script printed.
fn python_child(
    env: &Env,
    moto: &Moto,
    script: &str,
    what: &str,
) -> (std::process::Output, serde_json::Value) {
    let mut c = env.cmd(&[
        "-v",
        "exec",
        "src",
        "--server",
        "--duration",
        "20",
        "--",
        "python3",
        "-c",
        script,
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = c.output().unwrap();
    assert_success(&out, &[what]);
    let v = serde_json::from_slice(&out.stdout).unwrap();
    (out, v)
}

#[test]
fn long_running_boto3_child_never_sees_an_expired_credential() {
    let Some((env, moto)) = setup() else { return };
    let (out, v) = python_child(&env, &moto, LOOP, "exec --server with a boto3 loop");
    // 44 s of 20 s sessions: the child saw at least three keys (two lifetimes).
    assert!(v["keys"].as_u64().unwrap() >= 3, "{v}");
    // One GetSessionToken per refresh (the first fetch included), none per request.
    let gst = moto.count("GetSessionToken");
    assert_eq!(gst, refreshes(&out), "STS calls vs refreshes");
    assert!(v["rounds"].as_u64().unwrap() > gst as u64, "{v}");
}

/// With STS taking 2 s, the child's SDK (botocore's container-credentials fetcher, which gives
/// up after 2 s) reads the endpoint every 0.1 s through a refresh of its 20 s session, until it
/// sees the new session: every answer comes from memory, well under 1 s, with more than the margin
/// (10 s) left. The refresh starts a lead (5 s) before the margin, so it is done before the
/// old session reaches it; the child stops at the new session, with no refresh in flight.
const SLOW_STS_CHILD: &str = r#"
import datetime, json, os, time
from botocore.utils import ContainerMetadataFetcher
url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
headers = {"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}
fetcher = ContainerMetadataFetcher()
n, worst, least, keys = 0, 0.0, 1e9, set()
end = time.time() + 40
while len(keys) < 2 and time.time() < end:
    t = time.monotonic()
    creds = fetcher.retrieve_full_uri(url, headers=headers)
    worst = max(worst, time.monotonic() - t)
    exp = datetime.datetime.fromisoformat(creds["Expiration"].replace("Z", "+00:00"))
    least = min(least, (exp - datetime.datetime.now(datetime.timezone.utc)).total_seconds())
    keys.add(creds["Expiration"])  # moto's GetSessionToken answers one fixed key
    n += 1
    time.sleep(0.1)
print(json.dumps({"requests": n, "worst": worst, "least": least, "keys": len(keys)}))
"#;

#[test]
fn a_slow_sts_refresh_is_never_waited_for_by_the_child() {
    let Some((env, moto)) = setup_with(&[("STS_DELAY", "2")]) else {
        return;
    };
    let (out, v) = python_child(&env, &moto, SLOW_STS_CHILD, "exec --server with a slow STS");
    assert_eq!(v["keys"], 2, "no refresh while the child ran: {v}");
    let worst = v["worst"].as_f64().unwrap();
    assert!(worst < 1.0, "a request waited {worst} s for a 2 s STS: {v}");
    let least = v["least"].as_f64().unwrap();
    assert!(least > 8.0, "credentials with {least} s left served: {v}");
    let gst = moto.count("GetSessionToken");
    assert_eq!(gst, 2, "the first fetch and one refresh: {v}");
    assert_eq!(gst, refreshes(&out));
    assert!(v["requests"].as_u64().unwrap() > 10, "{v}");
}

/// One GET of `/credentials` with the token: the status and the JSON body (status 0 when the
/// connection fails or no answer comes in 40 s).
fn get_credentials(port: u16, token: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let exchange = || -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(40)))?;
        write!(
            s,
            "GET /credentials HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        s.read_to_string(&mut response)?;
        Ok(response)
    };
    let response = exchange().unwrap_or_default();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// Single flight: 50 clients at once on a `--lazy` endpoint (nothing held: all wait for the one
/// first fetch), then polling through a refresh of the 12 s role session (STS takes 1 s), each
/// until it has seen the new session. Every answer is a 200, and AssumeRole is called once per
/// refresh, not per request.
#[test]
fn fifty_clients_across_a_refresh_make_one_sts_call_per_refresh() {
    let Some((env, moto)) = setup_with(&[("STS_DELAY", "1")]) else {
        return;
    };
    let info = env.path("endpoint");
    let done = env.path("done");
    let child = format!(
        r#"printf '%s\n%s\n' "$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN" > {info}.tmp && mv {info}.tmp {info}; while [ ! -e {done} ]; do sleep 0.1; done"#,
        info = info.display(),
        done = done.display()
    );
    let mut c = env.cmd(&[
        "-v",
        "exec",
        "role",
        "--server",
        "--lazy",
        "--duration",
        "12",
        "--",
        "sh",
        "-c",
        &child,
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let vault = c.spawn().unwrap();
    let start = std::time::Instant::now();
    while !info.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&info).expect("the child wrote the endpoint");
    let (url, token) = text.trim().split_once('\n').unwrap();
    let port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/credentials")
        .parse()
        .unwrap();
    let go = std::sync::Arc::new(std::sync::Barrier::new(50));
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let (go, token) = (go.clone(), token.to_owned());
            std::thread::spawn(move || {
                go.wait();
                let (mut statuses, mut keys) = (vec![], std::collections::HashSet::new());
                let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while keys.len() < 2 && std::time::Instant::now() < end {
                    let (status, body) = get_credentials(port, &token);
                    statuses.push(status);
                    // A new session has a new expiry (and from moto's AssumeRole a new key).
                    if let Some(id) = body["Expiration"].as_str() {
                        keys.insert(id.to_owned());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                (statuses, keys.len())
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    std::fs::write(&done, "").unwrap();
    let out = vault.wait_with_output().unwrap();
    assert_success(&out, &["exec --server --lazy with 50 clients"]);
    let requests: usize = results.iter().map(|(s, _)| s.len()).sum();
    let failed: Vec<_> = results
        .iter()
        .flat_map(|(s, _)| s.iter().filter(|&&s| s != 200))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {requests} not 200: {failed:?}",
        failed.len()
    );
    assert!(
        results.iter().all(|(_, keys)| *keys == 2),
        "a client saw no refresh"
    );
    let assume = moto.count("AssumeRole");
    assert_eq!(
        assume, 2,
        "the first fetch and one refresh, for {requests} requests"
    );
    assert_eq!(assume, refreshes(&out));
    assert_eq!(moto.count("GetSessionToken"), 1, "the 8 h source session");
}

const PROBES: &str = r#"
import os, json, urllib.request, urllib.error, http.client, urllib.parse
url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
tok = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
u = urllib.parse.urlparse(url)
def probe(path, headers):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", path, headers=headers)
    return c.getresponse().status
host = f"{u.hostname}:{u.port}"
out = {
  "none": probe(u.path, {}),
  "wrong": probe(u.path, {"Authorization": "0" * 64}),
  "foreign_host": probe(u.path, {"Authorization": tok, "Host": f"evil.example:{u.port}"}),
  "other_path": probe("/latest/meta-data", {"Authorization": tok}),
  "good": probe(u.path, {"Authorization": tok}),
  "localhost": probe(u.path, {"Authorization": tok, "Host": f"localhost:{u.port}"}),
}
open(os.environ["PROBE_OUT"], "w").write(json.dumps({"results": out, "url": url}))
raise SystemExit(5)
"#;

#[test]
fn bad_requests_are_refused_logged_and_the_endpoint_dies_with_the_child() {
    let Some((env, moto)) = setup() else { return };
    let out_file = env.path("probe.json");
    let mut c = env.cmd(&[
        "-v", "exec", "src", "--server", "--", "python3", "-c", PROBES,
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url())
        .env("PROBE_OUT", &out_file);
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "vault returns the child's status: {out:?}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let r = &v["results"];
    assert_eq!(r["none"], 401);
    assert_eq!(r["wrong"], 403);
    assert_eq!(r["foreign_host"], 403);
    assert_eq!(r["other_path"], 404);
    assert_eq!(r["good"], 200);
    assert_eq!(r["localhost"], 200);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for why in [
        "no authorization token",
        "wrong authorization token",
        "foreign Host header",
        "no such path",
    ] {
        assert!(stderr.contains(why), "{why} not logged: {stderr}");
    }
    // The token never shows in the log.
    assert!(!stderr.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN="));
    // Gone with the child.
    let url = v["url"].as_str().unwrap();
    let port: u16 = url
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "endpoint outlived the child"
    );
}

#[test]
fn server_needing_an_mfa_code_without_a_source_fails_before_the_child() {
    let Some((env, moto)) = setup() else { return };
    let marker = env.path("child-ran");
    let mut c = env.cmd(&[
        "exec",
        "msrc",
        "--server",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = c.output().unwrap();
    assert_code(&out, 79, "--server with MFA and no source");
    assert!(String::from_utf8_lossy(&out.stderr).contains("mfa_process"));
    assert!(!marker.exists(), "the child ran");
}

/// With the agent's idle lock shorter than the child's life, the endpoint keeps working: the
/// server keeps the agent unlocked while its child runs.
#[test]
fn server_keeps_the_agent_unlocked_while_the_child_runs() {
    let Some((env, moto)) = setup() else { return };
    let child = r#"
import json, os, time, urllib.request
time.sleep(5)
req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
    headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
print(json.load(urllib.request.urlopen(req))["AccessKeyId"])
"#;
    let mut c = env.cmd(&["exec", "src", "--server", "--", "python3", "-c", child]);
    c.env_remove("VAULT_NO_AGENT")
        .env("VAULT_AGENT_TIMEOUT", "3")
        .env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = c.output().unwrap();
    let _ = env
        .cmd(&["lock", "--stop"])
        .env_remove("VAULT_NO_AGENT")
        .output();
    assert_success(
        &out,
        &["exec --server through an agent with a 3 s idle lock"],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().len() >= 16,
        "{out:?}"
    );
}

/// `--server --no-session` on a plain stored key served credentials without a token, which
/// every SDK's container provider rejects: a usage error before the child, no STS call.
#[test]
fn server_refuses_to_serve_a_long_term_key() {
    let Some((env, moto)) = setup() else { return };
    let marker = env.path("child-ran");
    let mut c = env.cmd(&[
        "exec",
        "src",
        "--server",
        "--no-session",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = c.output().unwrap();
    assert_code(&out, 2, "--server --no-session on a stored key");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-session"));
    assert!(!marker.exists(), "the child ran");
    assert_eq!(moto.sts_calls(), 0);
}
