//! Black-box tests of `vault login` (issue 15, DESIGN.md §5b): moto's STS behind the
//! credentials, the project's loopback federation endpoint (tests/federation_server.py) in
//! front of the console, and a `$BROWSER` script standing in for the browser.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::federation::Federation;
use common::*;

const NOT_FOUND: i32 = 66;
const STS_UNREACHABLE: i32 = 75;
const STS_REFUSED: i32 = 76;
const CONFIG: i32 = 78;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
/// A credential_process's secret: base64, as AWS's are.
const PROCESS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

const CONFIG_TEXT: &str = "
[profile src]
region = eu-west-1

[profile prod]
source_profile = src
role_arn = arn:aws:iam::123456789012:role/prod

[profile chained]
source_profile = prod
role_arn = arn:aws:iam::123456789012:role/chained

[profile msrc]
region = us-east-1
mfa_serial = arn:aws:iam::123456789012:mfa/alice

[profile mrole]
source_profile = msrc
role_arn = arn:aws:iam::123456789012:role/mrole
";

struct World {
    env: Env,
    moto: Moto,
    fed: Federation,
}

fn setup() -> Option<World> {
    let moto = Moto::start(&[])?;
    let fed = Federation::start()?;
    let env = Env::init();
    std::fs::write(env.path("home/aws-config"), CONFIG_TEXT).unwrap();
    for p in ["src", "msrc"] {
        env.add_key(p, KEY_ID, SECRET);
    }
    Some(World { env, moto, fed })
}

impl World {
    fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut c = self.env.cmd(args);
        c.env("AWS_ENDPOINT_URL_STS", self.moto.url())
            .env("AWS_ENDPOINT_URL_SIGNIN", self.fed.url());
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// `vault login ARGS --stdout`: succeeds and prints one line, the URL.
    fn url(&self, args: &[&str]) -> String {
        let mut all = vec!["login"];
        all.extend_from_slice(args);
        all.push("--stdout");
        let out = self.run(&all, &[]);
        assert_success(&out, &all);
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(stdout.ends_with('\n'));
        stdout.trim_end().to_owned()
    }

    /// The role session `vault export` hands out for `profile` (the cached one).
    fn session_token(&self, profile: &str) -> String {
        let out = self.run(&["export", profile, "--format", "json"], &[]);
        assert_success(&out, &["export", profile]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["AWS_SESSION_TOKEN"].as_str().unwrap().to_owned()
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The login URL's parameters, in order, decoded.
fn params(url: &str) -> Vec<(String, String)> {
    let (_, query) = url.split_once('?').unwrap();
    query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), decode(v))
        })
        .collect()
}

fn param(url: &str, name: &str) -> String {
    params(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in the URL"))
        .1
}

/// Opens `url` as a browser would, with Python's urllib (not following the redirect): the
/// status and the Location. The URL travels on stdin.
fn follow(url: &str) -> (u16, String) {
    let script = r#"
import sys, urllib.request, urllib.error
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
try:
    r = urllib.request.build_opener(Stay).open(sys.stdin.read().strip())
    print(r.status, "")
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("Location") or "")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(url.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (code, location) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    (code.parse().unwrap(), location.to_owned())
}

#[test]
fn a_role_signs_in_with_its_session_as_it_is_and_the_url_opens_the_console() {
    let Some(w) = setup() else { return };
    let url = w.url(&["prod"]);
    assert!(
        url.starts_with(&format!(
            "{}?Action=login&Issuer=vault&Destination=",
            w.fed.url()
        )),
        "{url}"
    );
    let names: Vec<String> = params(&url).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["Action", "Issuer", "Destination", "SigninToken"]);
    assert_eq!(
        param(&url, "Destination"),
        "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1"
    );
    // The role's own AssumeRole session (from the source's GetSessionToken), no
    // GetFederationToken, and no SessionDuration without --duration.
    assert_eq!(
        (
            w.moto.count("GetSessionToken"),
            w.moto.count("AssumeRole"),
            w.moto.count("GetFederationToken")
        ),
        (1, 1, 0)
    );
    let calls = w.fed.token_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["status"], 200);
    assert_eq!(calls[0]["has_session_duration"], false);
    // The endpoint issued that token: the URL signs in (302 to the destination).
    let (status, location) = follow(&url);
    assert_eq!(status, 302);
    assert_eq!(location, param(&url, "Destination"));
    // Warm: the cached role session serves the next sign-in, with a new token.
    let again = w.url(&["prod"]);
    assert_eq!(w.moto.sts_calls(), 2, "a warm login called STS");
    assert_ne!(param(&again, "SigninToken"), param(&url, "SigninToken"));
}

#[test]
fn duration_on_a_role_from_a_key_sends_session_duration() {
    let Some(w) = setup() else { return };
    w.url(&["prod", "--duration", "2h"]);
    let calls = w.fed.token_calls();
    assert_eq!(calls[0]["has_session_duration"], true);
    assert_eq!(calls[0]["SessionDuration"], 7200);
    let assume: Vec<_> = w
        .moto
        .calls()
        .into_iter()
        .filter(|c| c["Action"] == "AssumeRole")
        .collect();
    assert_eq!(assume[0]["DurationSeconds"], "7200");
}

#[test]
fn a_chained_role_never_sends_session_duration() {
    let Some(w) = setup() else { return };
    w.url(&["chained", "--duration", "30m"]);
    assert_eq!(w.moto.count("AssumeRole"), 2);
    let calls = w.fed.token_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["has_session_duration"], false, "{calls:?}");
    assert_eq!(calls[0]["status"], 200);
}

#[test]
fn a_plain_key_signs_in_through_get_federation_token() {
    let Some(w) = setup() else { return };
    let url = w.url(&["src", "--duration", "2h"]);
    let fed: Vec<_> = w
        .moto
        .calls()
        .into_iter()
        .filter(|c| c["Action"] == "GetFederationToken")
        .collect();
    assert_eq!(fed.len(), 1);
    assert_eq!(fed[0]["Name"], "src");
    assert_eq!(fed[0]["Policy"], POLICY);
    assert_eq!(fed[0]["DurationSeconds"], "7200");
    assert_eq!(fed[0]["_AccessKeyId"], KEY_ID, "signed with the stored key");
    // The console refuses GetSessionToken output: none was made.
    assert_eq!(w.moto.count("GetSessionToken"), 0);
    // The endpoint took the (ASIA) federation session, without SessionDuration.
    let calls = w.fed.token_calls();
    assert_eq!(calls[0]["status"], 200);
    assert_eq!(calls[0]["has_session_duration"], false);
    assert_eq!(follow(&url).0, 302);
}

#[test]
fn path_and_region_choose_the_destination_and_partition() {
    let Some(w) = setup() else { return };
    let url = w.url(&[
        "prod",
        "--path",
        "/s3/home?x=1#b",
        "--region",
        "us-gov-west-1",
    ]);
    assert_eq!(
        param(&url, "Destination"),
        "https://us-gov-west-1.console.amazonaws-us-gov.com/s3/home?x=1#b"
    );
    let url = w.url(&["prod", "--region", "cn-north-1"]);
    assert_eq!(
        param(&url, "Destination"),
        "https://cn-north-1.console.amazonaws.cn/console/home?region=cn-north-1"
    );
    let out = w.run(&["login", "prod", "--path", "s3/home"], &[]);
    assert_code(&out, 2, "a path without /");
}

#[test]
fn the_browser_opener_gets_the_url_and_stdout_stays_empty() {
    let Some(w) = setup() else { return };
    let record = w.env.path("opened");
    let script = w.env.path("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let out = w.run(&["login", "prod"], &[("BROWSER", script.to_str().unwrap())]);
    assert_success(&out, &["login", "prod"]);
    assert!(out.stdout.is_empty(), "printed with a browser");
    let opened = std::fs::read_to_string(&record).unwrap();
    assert_eq!(opened.lines().count(), 1, "{opened}");
    let url = opened.trim_end();
    assert!(
        url.starts_with(&format!("{}?Action=login&", w.fed.url())),
        "{url}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(url));
    assert_eq!(follow(url).0, 302);
    // An opener that fails is an error that names --stdout, and the URL goes nowhere.
    let out = w.run(&["login", "prod"], &[("BROWSER", "false")]);
    assert_code(&out, 1, "a failing opener");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--stdout") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert!(!stderr.contains("SigninToken") && !stderr.contains("Action=login"));
}

#[test]
fn a_refused_token_is_exit_76_with_a_hint_and_no_url() {
    let Some(w) = setup() else { return };
    let token = w.session_token("prod");
    w.fed.refuse(true);
    let out = w.run(&["login", "prod", "--stdout"], &[]);
    assert_code(&out, STS_REFUSED, "a refused token");
    // And at -vv, where the HTTP stack logs too.
    let out = w.run(&["-vv", "login", "prod", "--stdout"], &[]);
    assert_eq!(out.status.code(), Some(STS_REFUSED));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("vault: the console's federation endpoint refused")
            && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "a URL was printed on failure");
    for secret in [&token, "SigninToken", "Action=login", "Session="] {
        assert!(!stderr.contains(secret), "{secret} in the error: {stderr}");
    }
    assert_eq!(w.fed.token_calls()[0]["status"], 400);
    // An endpoint nobody listens on: unreachable (75), again without a secret.
    w.fed.refuse(false);
    let mut c = w.env.cmd(&["login", "prod", "--stdout"]);
    c.env("AWS_ENDPOINT_URL_STS", w.moto.url())
        .env("AWS_ENDPOINT_URL_SIGNIN", "http://127.0.0.1:1/federation");
    let out = c.output().unwrap();
    assert_code(&out, STS_UNREACHABLE, "no endpoint");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AWS_ENDPOINT_URL_SIGNIN"), "{stderr}");
    assert!(!stderr.contains(&token) && out.stdout.is_empty());
    // A plain-http endpoint off loopback would carry the session in the clear: refused
    // before anything is called.
    let mut c = w.env.cmd(&["login", "prod", "--stdout"]);
    c.env("AWS_ENDPOINT_URL_STS", w.moto.url())
        .env("AWS_ENDPOINT_URL_SIGNIN", "http://example.com/federation");
    assert_code(&c.output().unwrap(), CONFIG, "plain http off loopback");
}

#[test]
fn mfa_on_a_plain_key_is_refused_not_dropped() {
    let Some(w) = setup() else { return };
    let out = w.run(&["login", "msrc", "--mfa-token", "123456"], &[]);
    assert_code(&out, CONFIG, "mfa_serial on a plain key");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GetFederationToken") && stderr.contains("cannot carry MFA"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint:") && stderr.contains("role_arn"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(w.moto.calls().len(), 0, "STS was called");
    assert!(w.fed.calls().is_empty());
    // The same for an MFA serial stored with the key rather than in the config.
    let out = w.env.run_env(
        &[
            "add",
            "kmfa",
            "--env",
            "--mfa-serial",
            "arn:aws:iam::123456789012:mfa/bob",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    assert_success(&out, &["add", "kmfa"]);
    let out = w.run(&["login", "kmfa", "--stdout"], &[]);
    assert_code(&out, CONFIG, "the key's own mfa_serial");
    assert!(String::from_utf8_lossy(&out.stderr).contains("mfa/bob"));
    assert_eq!(w.moto.calls().len(), 0, "STS was called");
    // The hint's way works: a role with the MFA'd source signs in, with the code sent.
    w.url(&["mrole", "--mfa-token", "123456"]);
    let gst: Vec<_> = w
        .moto
        .calls()
        .into_iter()
        .filter(|c| c["Action"] == "GetSessionToken")
        .collect();
    assert_eq!(gst[0]["TokenCode"], "123456");
    assert_eq!(w.moto.count("GetFederationToken"), 0);
}

#[test]
fn unknown_profiles_and_console_refused_credentials_are_clear_errors() {
    let Some(w) = setup() else { return };
    let out = w.run(&["login", "ghost", "--stdout"], &[]);
    assert_code(&out, NOT_FOUND, "an unknown profile");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
    assert!(out.stdout.is_empty());
    // A credential_process printing a long-term key: the console takes none.
    let script = w.env.path("process.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho '{{\"Version\":1,\"AccessKeyId\":\"{KEY_ID}\",\"SecretAccessKey\":\"{PROCESS_SECRET}\"}}'\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let config = format!(
        "{CONFIG_TEXT}\n[profile proc]\ncredential_process = {}\n",
        script.display()
    );
    std::fs::write(w.env.path("home/aws-config"), config).unwrap();
    let out = w.run(&["login", "proc", "--stdout"], &[]);
    assert_code(&out, CONFIG, "long-term credentials from a process");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no session token") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(!stderr.contains(PROCESS_SECRET) && out.stdout.is_empty());
    assert!(w.fed.calls().is_empty());
}

#[test]
fn the_url_the_token_and_the_session_are_in_no_log_file_or_error() {
    let Some(w) = setup() else { return };
    let mut canaries = vec![];
    for profile in ["prod", "src"] {
        let out = w.run(&["-vv", "login", profile, "--stdout"], &[]);
        assert_success(&out, &["login", profile]);
        let url = String::from_utf8(out.stdout).unwrap().trim_end().to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.contains("signing in"),
            "-vv logged nothing: {stderr}"
        );
        let token = param(&url, "SigninToken");
        let encoded = url.rsplit("SigninToken=").next().unwrap().to_owned();
        for c in [&url, &token, &encoded] {
            assert!(
                !stderr.contains(c.as_str()),
                "{profile}: a secret at -vv: {stderr}"
            );
        }
        assert!(!stderr.contains("Session=") && !stderr.contains("sessionToken"));
        canaries.extend([url, token, encoded]);
    }
    let session = w.session_token("prod");
    assert!(!canaries.is_empty());
    canaries.push(session);
    // Nowhere on disk: HOME, the vault, TMPDIR, and the servers' logs.
    let mut files = files_under(w.env.tmp.path());
    files.push(w.fed.log_path().to_path_buf());
    files.push(w.moto.log_path().to_path_buf());
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        for c in &canaries {
            assert!(
                !contains(&bytes, c.as_bytes()),
                "{} holds a secret of the sign-in",
                f.display()
            );
        }
    }
}

#[test]
fn the_federation_endpoint_speaks_the_documented_protocol() {
    let Some(fed) = Federation::start() else {
        return;
    };
    // Python's own urllib as the client, building the request as AWS's example does.
    let script = r#"
import json, sys, urllib.parse, urllib.request, urllib.error
base = sys.argv[1]
def get(params):
    try:
        r = urllib.request.urlopen(base + "?" + urllib.parse.urlencode(params))
        return r.status, r.read().decode(), r.headers.get("Content-Type")
    except urllib.error.HTTPError as e:
        return e.code, "", None
good = {"sessionId": "ASIAIOSFODNN7EXAMPLE", "sessionKey": "k/+=", "sessionToken": "FQoG+/="}
out = {}
status, body, ctype = get({"Action": "getSigninToken", "Session": json.dumps(good)})
answer = json.loads(body)
out["ok"] = [status, sorted(answer), ctype, len(answer["SigninToken"]) > 100]
out["d900"] = get({"Action": "getSigninToken", "SessionDuration": "900", "Session": json.dumps(good)})[0]
out["d43200"] = get({"Action": "getSigninToken", "SessionDuration": "43200", "Session": json.dumps(good)})[0]
out["d43201"] = get({"Action": "getSigninToken", "SessionDuration": "43201", "Session": json.dumps(good)})[0]
out["d899"] = get({"Action": "getSigninToken", "SessionDuration": "899", "Session": json.dumps(good)})[0]
out["akia"] = get({"Action": "getSigninToken", "Session": json.dumps(dict(good, sessionId="AKIAIOSFODNN7EXAMPLE"))})[0]
out["empty"] = get({"Action": "getSigninToken", "Session": json.dumps(dict(good, sessionToken=""))})[0]
out["missing"] = get({"Action": "getSigninToken", "Session": json.dumps({"sessionId": good["sessionId"], "sessionKey": "k"})})[0]
out["notjson"] = get({"Action": "getSigninToken", "Session": "{"})[0]
out["nosession"] = get({"Action": "getSigninToken"})[0]
out["action"] = get({"Action": "nope"})[0]
out["badlogin"] = get({"Action": "login", "Destination": "https://x/", "SigninToken": "forged"})[0]
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &fed.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["ok"],
        serde_json::json!([200, ["SigninToken"], "application/json", true])
    );
    for (case, code) in [
        ("d900", 200),
        ("d43200", 200),
        ("d43201", 400),
        ("d899", 400),
        ("akia", 400),
        ("empty", 400),
        ("missing", 400),
        ("notjson", 400),
        ("nosession", 400),
        ("action", 400),
        ("badlogin", 400),
    ] {
        assert_eq!(v[case], code, "{case}");
    }
    // The log: actions, durations and statuses, never the session.
    let log = std::fs::read_to_string(fed.log_path()).unwrap();
    assert!(!log.contains("FQoG") && !log.contains("k/+="), "{log}");
    let calls = fed.token_calls();
    assert_eq!(calls[1]["SessionDuration"], 900);
    assert_eq!(calls[1]["has_session_duration"], true);
    assert_eq!(calls[0]["has_session_duration"], false);
    // /_control makes it refuse a good session, and stop refusing.
    fed.refuse(true);
    let again = Command::new("python3")
        .args(["-c", script, &fed.url()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap_or_default();
    assert!(
        v.is_null(),
        "a refused getSigninToken still answered a token"
    );
    fed.refuse(false);
    assert_eq!(fed.token_calls().last().unwrap()["status"], 400);
}

#[test]
fn a_cached_role_session_about_to_end_is_replaced_for_the_console() {
    let Some(w) = setup() else { return };
    // 10-minute sessions (the emulator grants them): fresh by the cache's rule for 5 more
    // minutes, but too short for a console session.
    w.url(&["prod", "--duration", "600"]);
    assert_eq!(w.moto.count("AssumeRole"), 1);
    let out = w.run(
        &["-v", "login", "prod", "--duration", "600", "--stdout"],
        &[],
    );
    assert_success(&out, &["login", "prod"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("replacing it for the console"), "{stderr}");
    assert_eq!(
        w.moto.count("AssumeRole"),
        2,
        "the short session was reused"
    );
    // The source's GetSessionToken session still serves.
    assert_eq!(w.moto.count("GetSessionToken"), 1);
    // 600 s is below what SessionDuration takes: not sent.
    assert!(w
        .fed
        .token_calls()
        .iter()
        .all(|c| c["has_session_duration"] == false));
    // exec still takes the cached session as it is.
    let out = w.run(&["exec", "prod", "--duration", "600", "--", "true"], &[]);
    assert_success(&out, &["exec", "prod"]);
    assert_eq!(w.moto.count("AssumeRole"), 2);
}
