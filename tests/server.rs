//! `vault exec --server` (issue 6): the ECS credential endpoint against moto, with boto3 and
//! the standard library's HTTP client as children.

mod common;

use common::*;

const CONFIG_TEXT: &str = "
[profile src]
region = us-east-1

[profile msrc]
region = us-east-1
mfa_serial = arn:aws:iam::123456789012:mfa/alice
";

fn setup() -> Option<(Env, Moto)> {
    let moto = Moto::start(&[])?;
    let env = Env::init();
    std::fs::write(env.path("home/aws-config"), CONFIG_TEXT).unwrap();
    env.add_key("src", "AKIASERVER", "server-secret");
    env.add_key("msrc", "AKIASERVER", "server-secret");
    Some((env, moto))
}

/// A boto3 child calling GetCallerIdentity for longer than two 20 s session lifetimes; each
/// round it also reads the endpoint itself and checks the Expiration is in the future.
const LOOP: &str = r#"
import boto3, json, os, time, urllib.request, datetime
end = time.time() + 44
n = 0
while time.time() < end:
    ident = boto3.session.Session().client("sts").get_caller_identity()
    assert ident["Account"] == "123456789012", ident
    req = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
    creds = json.load(urllib.request.urlopen(req))
    exp = datetime.datetime.fromisoformat(creds["Expiration"].replace("Z", "+00:00"))
    left = (exp - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert left > 0, f"expired credentials served: {left}"
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    n += 1
    time.sleep(1)
print(n)
"#;

#[test]
fn long_running_boto3_child_never_sees_an_expired_credential() {
    let Some((env, moto)) = setup() else { return };
    let mut c = env.cmd(&[
        "exec",
        "src",
        "--server",
        "--duration",
        "20",
        "--",
        "python3",
        "-c",
        LOOP,
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = c.output().unwrap();
    assert_success(&out, &["exec --server with a boto3 loop"]);
    let rounds: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(rounds >= 20, "only {rounds} rounds");
    // 44 s of 20 s sessions refreshed at half-life: at least 4 GetSessionToken calls.
    let gst = moto.count("GetSessionToken");
    assert!(gst >= 4, "only {gst} refreshes reached the emulator");
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
