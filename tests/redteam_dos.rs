//! Black-box tests of issue 13's denial-of-service points: the `--server` endpoint under idle
//! connections (point 10) and the agent under hostile items and slow frames (point 11).

mod common;

use std::time::{Duration, Instant};

use common::*;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// The child: holds 50 connections to its own endpoint open (half of them with a partial
/// request head), then asks for credentials itself, with the standard library and through
/// botocore's container provider (which gives up after 2 s), and prints the slowest answer.
const IDLE_THEN_ASK: &str = r#"
import boto3, json, os, socket, time, urllib.parse, urllib.request
url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
u = urllib.parse.urlparse(url)
idle = [socket.create_connection((u.hostname, u.port)) for _ in range(50)]
for s in idle[:25]:
    s.sendall(b"GET /credentials HTTP/1.1\r\nHost: 127.0.0.1\r\n")
time.sleep(0.5)
worst = 0.0
for _ in range(5):
    t = time.time()
    req = urllib.request.Request(url,
        headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
    creds = json.load(urllib.request.urlopen(req, timeout=10))
    assert creds["AccessKeyId"], creds
    worst = max(worst, time.time() - t)
t = time.time()
boto3.session.Session().client("sts").get_caller_identity()
worst = max(worst, time.time() - t)
print(json.dumps({"worst": worst}))
"#;

/// One idle TCP connection used to hold the endpoint for 30 s (it served one at a time), so
/// three from any local user starved the child's SDK.
#[test]
fn idle_connections_do_not_starve_the_server_endpoint() {
    let Some(moto) = Moto::start(&[]) else { return };
    let env = Env::init();
    std::fs::write(
        env.path("home/aws-config"),
        "[profile src]\nregion = us-east-1\n",
    )
    .unwrap();
    env.add_key("src", KEY_ID, SECRET);
    let started = Instant::now();
    let mut c = env.cmd(&[
        "exec",
        "src",
        "--server",
        "--",
        "python3",
        "-c",
        IDLE_THEN_ASK,
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    let out = c.output().unwrap();
    assert_success(&out, &["exec --server with idle connections"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let worst = v["worst"].as_f64().unwrap();
    assert!(
        worst < 1.0,
        "the child's slowest answer took {worst:.2} s with 50 idle connections"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}
