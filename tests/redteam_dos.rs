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

// --- point 11: the agent ------------------------------------------------------------------

/// A command of `env` that uses the agent (in `env`'s private runtime dir).
fn agent_cmd(env: &Env, args: &[&str]) -> std::process::Command {
    let mut c = env.cmd(args);
    c.env_remove("VAULT_NO_AGENT");
    c
}

/// Stops the test's agent whatever happens.
struct StopAgent<'a>(&'a Env);
impl Drop for StopAgent<'_> {
    fn drop(&mut self) {
        let _ = agent_cmd(self.0, &["lock", "--stop"]).output();
    }
}

/// An unlocked agent and its socket path.
fn unlocked_agent(env: &Env) -> std::path::PathBuf {
    assert_success(&agent_cmd(env, &["unlock"]).output().unwrap(), &["unlock"]);
    let out = agent_cmd(env, &["status", "--json"]).output().unwrap();
    assert_success(&out, &["status"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["agent"]["socket"].as_str().unwrap().into()
}

/// How long `vault status` takes to answer (it fails the test if it does not).
fn status_time(env: &Env) -> Duration {
    let t = Instant::now();
    let out = agent_cmd(env, &["status"]).output().unwrap();
    assert_success(&out, &["status"]);
    t.elapsed()
}

/// A ciphertext with 16k empty stanzas made age's header parse take 30 s, under the agent's
/// state lock: `status`, `lock`, the idle timer and the watchdog all hung.
#[test]
fn a_many_stanza_item_does_not_stall_the_agent() {
    use base64::prelude::{Engine as _, BASE64_STANDARD};
    use std::io::{Read, Write};
    let env = Env::init();
    let _stop = StopAgent(&env);
    let socket = unlocked_agent(&env);
    let mut ct = b"age-encryption.org/v1\n".to_vec();
    for _ in 0..16 * 1024 {
        ct.extend_from_slice(b"-> x\n\n");
    }
    ct.extend_from_slice(b"--- AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    ct.extend_from_slice(&[0u8; 48]);
    let frame = format!(
        "{{\"open\":{{\"name\":\"key.x\",\"ciphertext\":\"{}\"}}}}\n",
        BASE64_STANDARD.encode(&ct)
    );
    let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    s.write_all(frame.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let took = status_time(&env);
    assert!(took < Duration::from_secs(3), "status took {took:?}");
    // The item itself is refused, quickly.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = vec![0u8; 4096];
    let n = s.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(
        answer.contains("recipient stanzas") || answer.contains("64 KiB"),
        "{answer}"
    );
}

/// 300 connections each holding a partial frame used to keep a thread and up to 2 MiB each
/// for as long as they trickled a byte a minute. Now: at most 64 are kept (a new one closes
/// the oldest idle one), `status` still answers, and a frame must arrive within 10 s.
#[test]
fn slow_partial_frames_neither_pile_up_nor_stop_status() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let env = Env::init();
    let _stop = StopAgent(&env);
    let socket = unlocked_agent(&env);
    let mut slow: Vec<UnixStream> = (0..300)
        .map(|_| {
            let mut s = UnixStream::connect(&socket).unwrap();
            s.write_all(b"{\"stat").unwrap();
            s
        })
        .collect();
    let took = status_time(&env);
    assert!(took < Duration::from_secs(3), "status took {took:?}");
    std::thread::sleep(Duration::from_millis(500));
    let mut closed = 0;
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        if matches!(s.read(&mut [0u8; 16]), Ok(0)) {
            closed += 1;
        }
    }
    assert!(
        closed >= 300 - 64,
        "only {closed} of 300 half-sent connections were closed"
    );
    drop(slow);

    // One byte every half second: closed once the frame has taken 10 s.
    let mut trickle = UnixStream::connect(&socket).unwrap();
    let start = Instant::now();
    let mut cut = None;
    for b in b"{\"hello\":{\"version\":5}}".iter().cycle().take(60) {
        if trickle.write_all(&[*b]).is_err() {
            cut = Some(start.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let cut = cut.expect("a frame trickled over 30 s was never cut off");
    assert!(cut < Duration::from_secs(15), "cut after {cut:?}");
    assert!(status_time(&env) < Duration::from_secs(3));
}
