//! Black-box tests of the AWS flow (issue 3) against moto's server mode on loopback, with the
//! real AWS CLI and boto3 as children.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const NOT_FOUND: i32 = 66;
const STS_UNREACHABLE: i32 = 75;
const STS_REFUSED: i32 = 76;
const CONFIG: i32 = 78;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

const CONFIG_TEXT: &str = "
[profile src]
region = us-east-1

[profile prod]
source_profile = src
role_arn = arn:aws:iam::123456789012:role/prod

[profile a]
source_profile = src
role_arn = arn:aws:iam::123456789012:role/A

[profile b]
source_profile = a
role_arn = arn:aws:iam::123456789012:role/B

[profile loop1]
source_profile = loop2
role_arn = arn:aws:iam::123456789012:role/l1

[profile loop2]
source_profile = loop1
role_arn = arn:aws:iam::123456789012:role/l2

[profile nokey]
role_arn = arn:aws:iam::123456789012:role/nk
source_profile = ghost-src

[profile ghost-src]
region = us-east-1

[profile msrc]
region = us-east-1
mfa_serial = arn:aws:iam::123456789012:mfa/alice

[profile mx]
source_profile = msrc
role_arn = arn:aws:iam::123456789012:role/MX

[profile my]
source_profile = msrc
role_arn = arn:aws:iam::123456789012:role/MY

[profile sso]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Admin

[profile via-sso]
source_profile = sso
role_arn = arn:aws:iam::123456789012:role/VS

[profile psrc]
region = us-east-1
mfa_serial = arn:aws:iam::123456789012:mfa/bob
mfa_process = echo 654321
";

/// A vault with src's key stored, a config, and moto.
fn setup() -> Option<(Env, Moto)> {
    let moto = Moto::start(&[])?;
    let env = Env::init();
    std::fs::write(env.path("home/aws-config"), CONFIG_TEXT).unwrap();
    for p in ["src", "msrc", "psrc"] {
        env.add_key(p, KEY_ID, SECRET);
    }
    Some((env, moto))
}

fn exec(env: &Env, moto: &Moto, args: &[&str]) -> std::process::Output {
    let mut c = env.cmd(args);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    c.output().unwrap()
}

fn caller_arn(env: &Env, moto: &Moto, profile: &str) -> String {
    let out = exec(
        env,
        moto,
        &[
            "exec",
            profile,
            "--",
            "aws",
            "sts",
            "get-caller-identity",
            "--output",
            "json",
        ],
    );
    assert_success(&out, &["exec", profile]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Arn"].as_str().unwrap().to_owned()
}

#[test]
fn exec_runs_the_aws_cli_as_the_role_and_caches() {
    let Some((env, moto)) = setup() else { return };
    let arn = caller_arn(&env, &moto, "prod");
    assert!(arn.contains(":assumed-role/prod/"), "{arn}");
    // Cold: one call per chain step.
    assert_eq!(
        (moto.count("GetSessionToken"), moto.count("AssumeRole")),
        (1, 1)
    );
    // Warm: no STS call at all.
    let before = moto.sts_calls();
    assert!(caller_arn(&env, &moto, "prod").contains(":assumed-role/prod/"));
    assert_eq!(moto.sts_calls(), before, "warm exec called STS");
    // Sessions are listed, sealed on disk, and cleared on request.
    let list = env.ok(&["list"]);
    assert!(list.contains("prod") && list.contains("session"), "{list}");
    env.ok(&["clear", "prod"]);
    assert!(caller_arn(&env, &moto, "prod").contains(":assumed-role/prod/"));
    assert_eq!(
        moto.count("AssumeRole"),
        2,
        "clear prod drops only prod's role session"
    );
    assert_eq!(moto.count("GetSessionToken"), 1);
    env.ok(&["clear"]);
    caller_arn(&env, &moto, "prod");
    assert_eq!(
        (moto.count("GetSessionToken"), moto.count("AssumeRole")),
        (2, 3)
    );
}

#[test]
fn two_hop_chain_prints_the_last_role() {
    let Some((env, moto)) = setup() else { return };
    let arn = caller_arn(&env, &moto, "b");
    assert!(arn.contains(":assumed-role/B/"), "{arn}");
    assert_eq!(
        (moto.count("GetSessionToken"), moto.count("AssumeRole")),
        (1, 2)
    );
    let roles: Vec<_> = moto
        .calls()
        .into_iter()
        .filter(|c| c["Action"] == "AssumeRole")
        .map(|c| c["RoleArn"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        roles,
        [
            "arn:aws:iam::123456789012:role/A",
            "arn:aws:iam::123456789012:role/B"
        ]
    );
    // The second hop was signed with the first hop's credentials, not the source's.
    let last = moto.calls().into_iter().last().unwrap();
    assert_ne!(last["_AccessKeyId"], KEY_ID);

    // Warm, only the last hop's session is opened: the ones before it may be unreadable.
    let sessions = |profile: &str| -> Vec<std::path::PathBuf> {
        files_under(&env.dir)
            .into_iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(&format!("session.{profile}.")) && name.ends_with(".age")
            })
            .collect()
    };
    let tampered = [sessions("src"), sessions("a")].concat();
    assert_eq!(tampered.len(), 2, "{tampered:?}");
    for p in &tampered {
        std::fs::write(p, b"not age").unwrap();
    }
    let before = moto.sts_calls();
    assert!(caller_arn(&env, &moto, "b").contains(":assumed-role/B/"));
    assert_eq!(moto.sts_calls(), before, "warm two-hop exec called STS");

    // A different key stored for the source is a different source: every hop is called again,
    // and the unreadable sessions are replaced.
    env.add_key(
        "src",
        "AKIAI44QH8DHBEXAMPLE",
        "je7MtGbClwBF-2Zp9Utk-h3yCo8nvbEXAMPLEKEY",
    );
    assert!(caller_arn(&env, &moto, "b").contains(":assumed-role/B/"));
    assert_eq!(
        (moto.count("GetSessionToken"), moto.count("AssumeRole")),
        (2, 4)
    );
    let first = moto
        .calls()
        .into_iter()
        .rfind(|c| c["Action"] == "GetSessionToken")
        .unwrap();
    assert_eq!(first["_AccessKeyId"], "AKIAI44QH8DHBEXAMPLE");
    // The refreshes dropped the superseded sessions that can never serve again (here the
    // unreadable ones) and kept b's old one, which is still valid.
    for profile in ["src", "a"] {
        let found = sessions(profile);
        assert_eq!(found.len(), 1, "{profile}: {found:?}");
        assert!(
            !tampered.contains(&found[0]),
            "{profile}: the unreadable one was kept"
        );
    }
    assert_eq!(sessions("b").len(), 2);
}

#[test]
fn expired_session_is_refreshed() {
    let Some((env, moto)) = setup() else { return };
    let run = || {
        let out = exec(
            &env,
            &moto,
            &["exec", "src", "--duration", "20", "--", "true"],
        );
        assert_success(&out, &["exec src --duration 20"]);
    };
    run();
    run();
    assert_eq!(
        moto.count("GetSessionToken"),
        1,
        "second exec within validity"
    );
    // A 20 s session is refreshed once half its life is gone.
    std::thread::sleep(Duration::from_secs(11));
    run();
    assert_eq!(
        moto.count("GetSessionToken"),
        2,
        "stale session not refreshed"
    );
    let gst = moto.calls().into_iter().last().unwrap();
    assert_eq!(gst["DurationSeconds"], "20");
}

#[test]
fn mfa_is_sent_once_and_serves_every_role_from_the_source() {
    let Some((env, moto)) = setup() else { return };
    let out = exec(
        &env,
        &moto,
        &["exec", "mx", "--mfa-token", "123456", "--", "true"],
    );
    assert_success(&out, &["exec mx"]);
    let gst: Vec<_> = moto
        .calls()
        .into_iter()
        .filter(|c| c["Action"] == "GetSessionToken")
        .collect();
    assert_eq!(gst.len(), 1);
    assert_eq!(
        gst[0]["SerialNumber"],
        "arn:aws:iam::123456789012:mfa/alice"
    );
    assert_eq!(gst[0]["TokenCode"], "123456");
    assert_eq!(gst[0]["DurationSeconds"], "28800", "source of a role: 8 h");
    // The role call itself carries no MFA: the session already has it.
    let ar = moto
        .calls()
        .into_iter()
        .find(|c| c["Action"] == "AssumeRole")
        .unwrap();
    assert!(ar.get("TokenCode").is_none());
    // A second role from the same source: no code, no terminal, still works.
    let out = exec(&env, &moto, &["exec", "my", "--", "true"]);
    assert_success(&out, &["exec my without a code"]);
    assert_eq!(moto.count("GetSessionToken"), 1);
    assert_eq!(moto.count("AssumeRole"), 2);
    // No code and no terminal when one is needed: a clear error, not a hang.
    env.ok(&["clear"]);
    let out = exec(&env, &moto, &["exec", "mx", "--", "true"]);
    assert_code(&out, 79, "MFA needed without a source");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mfa-token"));
}

#[test]
fn mfa_process_supplies_the_code() {
    let Some((env, moto)) = setup() else { return };
    let out = exec(&env, &moto, &["exec", "psrc", "--", "true"]);
    assert_success(&out, &["exec psrc"]);
    let gst = moto
        .calls()
        .into_iter()
        .find(|c| c["Action"] == "GetSessionToken")
        .unwrap();
    assert_eq!(gst["TokenCode"], "654321");
    assert_eq!(gst["SerialNumber"], "arn:aws:iam::123456789012:mfa/bob");
}

#[test]
fn credential_process_works_for_the_aws_cli_and_boto3() {
    let Some((env, moto)) = setup() else { return };
    let cp_config = format!(
        "{CONFIG_TEXT}\n[profile viavault]\nregion = us-east-1\ncredential_process = {BIN} export --format credential-process prod\n"
    );
    std::fs::write(env.path("home/aws-config"), cp_config).unwrap();
    // The AWS CLI, not under vault exec: it runs vault itself.
    let mut c = env.cmd(&[]);
    let out = Command::new("aws")
        .args([
            "sts",
            "get-caller-identity",
            "--profile",
            "viavault",
            "--output",
            "json",
        ])
        .env_clear()
        .envs(
            c.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("AWS_ENDPOINT_URL_STS", moto.url())
        .output()
        .unwrap();
    assert_success(&out, &["aws --profile viavault"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["Arn"].as_str().unwrap().contains(":assumed-role/prod/"),
        "{v}"
    );

    let py = "import boto3; print(boto3.Session(profile_name='viavault').client('sts').get_caller_identity()['Arn'])";
    c = env.cmd(&[]);
    let out = Command::new("python3")
        .args(["-c", py])
        .env_clear()
        .envs(
            c.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("AWS_ENDPOINT_URL_STS", moto.url())
        .output()
        .unwrap();
    assert_success(&out, &["boto3 --profile viavault"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(":assumed-role/prod/"));
    // Both used the one cached session.
    assert_eq!(moto.count("AssumeRole"), 1);
}

#[test]
fn child_environment_exit_status_and_signals() {
    let Some((env, moto)) = setup() else { return };
    let mut c = env.cmd(&["exec", "prod", "--", "env"]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url())
        .env("AWS_ACCESS_KEY_ID", "AKIASTALESTALE")
        .env("AWS_PROFILE", "stale-profile")
        .env("AWS_SESSION_TOKEN", "stale-token")
        .env("VAULT_PASSPHRASE", PASS)
        .env("VAULT_ADDR", "https://vault.example:8200")
        .env("VAULT_TOKEN", "hvs.example");
    let out = c.output().unwrap();
    assert_success(&out, &["exec env"]);
    let child_env = String::from_utf8_lossy(&out.stdout);
    for bad in [
        "AKIASTALESTALE",
        "stale-profile",
        "stale-token",
        PASS,
        "VAULT_PASSPHRASE=",
        "VAULT_PASSPHRASE_FILE=",
    ] {
        assert!(!child_env.contains(bad), "{bad} reached the child");
    }
    // HashiCorp Vault's variables pass through (`vault exec prod -- terraform apply`).
    for good in [
        "VAULT_ADDR=https://vault.example:8200",
        "VAULT_TOKEN=hvs.example",
    ] {
        assert!(child_env.contains(good), "{good} did not reach the child");
    }
    for good in [
        "AWS_ACCESS_KEY_ID=ASIA",
        "AWS_SESSION_TOKEN=",
        "AWS_CREDENTIAL_EXPIRATION=",
        "AWS_VAULT=prod",
        "AWS_REGION=us-east-1",
    ] {
        assert!(child_env.contains(good), "{good} missing");
    }
    // --region overrides the profile's, for the child as for STS; a malformed one is usage.
    let out = exec(
        &env,
        &moto,
        &["exec", "prod", "--region", "eu-west-3", "--", "env"],
    );
    assert_success(&out, &["exec --region"]);
    let child_env = String::from_utf8_lossy(&out.stdout);
    for good in ["AWS_REGION=eu-west-3", "AWS_DEFAULT_REGION=eu-west-3"] {
        assert!(child_env.contains(good), "{good} missing: {child_env}");
    }
    let out = exec(
        &env,
        &moto,
        &["exec", "prod", "--region", "eu west", "--", "true"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed --region is a usage error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("a region name like eu-west-1"));
    // Exit status, replaced and forked.
    for fork in [false, true] {
        let mut args = vec!["exec", "prod"];
        if fork {
            args.push("--fork");
        }
        args.extend(["--", "sh", "-c", "exit 7"]);
        let out = exec(&env, &moto, &args);
        assert_eq!(out.status.code(), Some(7), "fork={fork}");
    }
    // Nesting is refused.
    let out = exec(
        &env,
        &moto,
        &["exec", "prod", "--", BIN, "exec", "prod", "--", "true"],
    );
    assert_code(&out, 2, "nested exec");
    // SIGTERM to vault reaches the child when vault stays its parent.
    let marker = env.path("got-term");
    let script = format!(
        "trap 'echo term > {}; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
        marker.display()
    );
    let mut c = env.cmd(&["exec", "prod", "--fork", "--", "sh", "-c", &script]);
    let mut child = c
        .env("AWS_ENDPOINT_URL_STS", moto.url())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "vault returns the child's status");
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "term");
}

fn snapshot(env: &Env) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = files_under(&env.dir)
        .into_iter()
        .filter(|p| !p.starts_with(env.dir.join(".locks")))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn failures_are_clear_documented_and_write_nothing() {
    let Some((env, moto)) = setup() else { return };
    let before = snapshot(&env);
    let check = |args: &[&str], url: &str, code: i32, needle: &str| {
        let mut c = env.cmd(args);
        c.env("AWS_ENDPOINT_URL_STS", url);
        let out = c.output().unwrap();
        assert_code(&out, code, &format!("{args:?}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains(SECRET));
        assert_eq!(snapshot(&env), before, "{args:?} wrote to the vault");
    };
    check(
        &["exec", "ghost", "--", "true"],
        &moto.url(),
        NOT_FOUND,
        "not in the AWS config",
    );
    check(
        &["exec", "loop1", "--", "true"],
        &moto.url(),
        CONFIG,
        "loop1 -> loop2 -> loop1",
    );
    check(
        &["exec", "nokey", "--", "true"],
        &moto.url(),
        NOT_FOUND,
        "vault add ghost-src",
    );
    check(
        &["exec", "via-sso", "--", "true"],
        &moto.url(),
        CONFIG,
        "IAM Identity Center (SSO) (sso_session)",
    );
    // Nothing listens on port 1.
    check(
        &["exec", "prod", "--", "true"],
        "http://127.0.0.1:1",
        STS_UNREACHABLE,
        "could not reach",
    );
    // moto with IAM auth on: an unknown key is refused.
    let strict = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]).unwrap();
    check(
        &["exec", "prod", "--", "true"],
        &strict.url(),
        STS_REFUSED,
        "InvalidClientTokenId",
    );
    check(&["export", "prod"], &strict.url(), STS_REFUSED, "vault add");
}

#[test]
fn sts_over_https_checks_the_certificate() {
    let Some(moto) = Moto::start_tls() else {
        return;
    };
    let env = Env::init();
    std::fs::write(env.path("home/aws-config"), CONFIG_TEXT).unwrap();
    env.add_key("src", KEY_ID, SECRET);
    let cert = moto.cert.clone().unwrap();
    let export = |trust: Option<&std::path::Path>| {
        let mut c = env.cmd(&["export", "prod", "--format", "json"]);
        c.env("AWS_ENDPOINT_URL_STS", moto.url());
        if let Some(t) = trust {
            c.env("SSL_CERT_FILE", t);
        }
        c.output().unwrap()
    };
    // Self-signed and not trusted: refused before any request is sent; nothing is cached.
    let out = export(None);
    assert_code(&out, STS_UNREACHABLE, "untrusted certificate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
    assert_eq!(moto.sts_calls(), 0);
    // Trusted (SSL_CERT_FILE, as for a corporate TLS proxy): the whole chain over TLS.
    let out = export(Some(&cert));
    assert_success(&out, &["export prod over https"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["AWS_SESSION_TOKEN"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(
        (moto.count("GetSessionToken"), moto.count("AssumeRole")),
        (1, 1)
    );
}

/// Creates an IAM user with an access key in the emulator (boto3); returns (id, secret).
fn iam_user(moto: &Moto, user: &str) -> (String, String) {
    let py = format!(
        "import boto3\niam = boto3.client('iam', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')\n\
         iam.create_user(UserName='{user}')\nk = iam.create_access_key(UserName='{user}')['AccessKey']\nprint(k['AccessKeyId']); print(k['SecretAccessKey'])",
        moto.url()
    );
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert_success(&out, &["boto3 create_access_key"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    (
        lines.next().unwrap().to_owned(),
        lines.next().unwrap().to_owned(),
    )
}

#[test]
fn access_denied_is_a_refusal() {
    let Some(strict) = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "2")]) else {
        return;
    };
    // Two unauthenticated calls make a user with a key and no permissions.
    let (id, secret) = iam_user(&strict, "nobody");
    let env = Env::init();
    std::fs::write(env.path("home/aws-config"), CONFIG_TEXT).unwrap();
    env.add_key("src", &id, &secret);
    let out = exec(&env, &strict, &["exec", "prod", "--", "true"]);
    assert_code(&out, STS_REFUSED, "AccessDenied");
    assert!(String::from_utf8_lossy(&out.stderr).contains("AccessDenied"));
}

#[test]
fn rotate_leaves_a_working_new_key_and_deletes_the_old_one() {
    let Some(moto) = Moto::start(&[]) else { return };
    // A real IAM user with a key in the emulator.
    let (old_id, old_secret) = iam_user(&moto, "rotor");
    let old_id = old_id.as_str();
    let env = Env::init();
    std::fs::write(env.path("home/aws-config"), CONFIG_TEXT).unwrap();
    env.add_key("src", old_id, &old_secret);
    caller_arn(&env, &moto, "prod"); // a cached session made from the old key
    let mut c = env.cmd(&["rotate", "src"]);
    c.env("AWS_ENDPOINT_URL", moto.url());
    let out = c.output().unwrap();
    assert_success(&out, &["rotate src"]);
    let exported: serde_json::Value = serde_json::from_str(&env.ok(&[
        "export",
        "src",
        "--no-session",
        "--format",
        "credential-process",
    ]))
    .unwrap();
    let new_id = exported["AccessKeyId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id);
    // The emulator's IAM has exactly the new key for the user.
    let py = format!(
        "import boto3\niam = boto3.client('iam', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')\n\
         print(' '.join(k['AccessKeyId'] for k in iam.list_access_keys(UserName='rotor')['AccessKeyMetadata']))",
        moto.url()
    );
    let out = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert_success(&out, &["list_access_keys"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), new_id);
    // Old sessions are gone; the new key works end to end.
    let gst_before = moto.count("GetSessionToken");
    let arn = caller_arn(&env, &moto, "prod");
    assert!(arn.contains(":assumed-role/prod/"), "{arn}");
    assert_eq!(moto.count("GetSessionToken"), gst_before + 1);
    let last_gst = moto
        .calls()
        .into_iter()
        .rfind(|c| c["Action"] == "GetSessionToken")
        .unwrap();
    assert_eq!(last_gst["_AccessKeyId"], new_id.as_str());
}

/// `vault rotate` dropped every profile's sessions; it must drop only those made from the
/// rotated key (directly or through roles), and keep every other profile's.
#[test]
fn rotate_drops_only_the_sessions_made_from_the_rotated_key() {
    let Some(moto) = Moto::start(&[]) else { return };
    let (old_id, old_secret) = iam_user(&moto, "rotor2");
    let env = Env::init();
    let config = format!("{CONFIG_TEXT}\n[profile other]\nregion = us-east-1\n[profile other-role]\nsource_profile = other\nrole_arn = arn:aws:iam::123456789012:role/O\n");
    std::fs::write(env.path("home/aws-config"), config).unwrap();
    env.add_key("src", &old_id, &old_secret);
    env.add_key("other", KEY_ID, SECRET);
    caller_arn(&env, &moto, "b"); // src -> a -> b: three sessions from the rotated key
    caller_arn(&env, &moto, "other-role"); // other -> other-role: two sessions to keep
    let sessions = |env: &Env| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
        let mut p: Vec<String> = v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["profile"].as_str().unwrap().to_owned())
            .collect();
        p.sort();
        p
    };
    assert_eq!(sessions(&env), ["a", "b", "other", "other-role", "src"]);
    let mut c = env.cmd(&["rotate", "src"]);
    c.env("AWS_ENDPOINT_URL", moto.url());
    let out = c.output().unwrap();
    assert_success(&out, &["rotate src"]);
    assert_eq!(sessions(&env), ["other", "other-role"]);
    // The kept sessions still answer with no STS call.
    let before = moto.sts_calls();
    caller_arn(&env, &moto, "other-role");
    assert_eq!(moto.sts_calls(), before);
}

/// The SDKs let `AWS_REGION` / `AWS_DEFAULT_REGION` beat the profile's `region`; vault signed
/// STS for the profile's region and overwrote the user's variable in the child.
#[test]
fn the_environments_region_beats_the_profiles_for_sts_and_the_child() {
    let Some((env, moto)) = setup() else { return };
    let mut c = env.cmd(&[
        "exec",
        "prod",
        "--",
        "sh",
        "-c",
        "echo $AWS_REGION $AWS_DEFAULT_REGION",
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url())
        .env("AWS_REGION", "eu-central-1")
        .env("AWS_DEFAULT_REGION", "eu-north-1");
    let out = c.output().unwrap();
    assert_success(&out, &["exec prod with AWS_REGION"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "eu-central-1 eu-north-1"
    );
    let calls = moto.calls();
    assert!(!calls.is_empty());
    for call in calls {
        assert_eq!(call["_Region"], "eu-central-1", "{call}");
    }
    // --region beats both, for STS and the child.
    let mut c = env.cmd(&[
        "exec",
        "a",
        "--region",
        "ap-south-1",
        "--",
        "sh",
        "-c",
        "echo $AWS_REGION",
    ]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url())
        .env("AWS_REGION", "eu-central-1");
    let out = c.output().unwrap();
    assert_success(&out, &["exec a --region"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ap-south-1");
    assert_eq!(moto.calls().last().unwrap()["_Region"], "ap-south-1");
}

/// An explicit `--duration 15m` was answered with a cached session of an hour or more: who
/// asks for short-lived credentials must never get long ones.
#[test]
fn an_explicit_duration_never_gets_a_session_that_outlives_it() {
    let Some((env, moto)) = setup() else { return };
    caller_arn(&env, &moto, "prod"); // caches a 1 h AssumeRole session
    let assumed = moto.count("AssumeRole");
    let out = exec(
        &env,
        &moto,
        &[
            "exec",
            "prod",
            "--duration",
            "15m",
            "--",
            "sh",
            "-c",
            "echo $AWS_CREDENTIAL_EXPIRATION",
        ],
    );
    assert_success(&out, &["exec prod --duration 15m"]);
    assert_eq!(
        moto.count("AssumeRole"),
        assumed + 1,
        "the 1 h session was reused"
    );
    let exp = String::from_utf8(out.stdout).unwrap();
    let exp =
        time::OffsetDateTime::parse(exp.trim(), &time::format_description::well_known::Rfc3339)
            .unwrap();
    let left = exp - time::OffsetDateTime::now_utc();
    assert!(left <= time::Duration::minutes(16), "{left}");
    // The short session now serves a second short request.
    let out = exec(&env, &moto, &["exec", "prod", "-d", "15m", "--", "true"]);
    assert_success(&out, &["exec prod -d 15m again"]);
    assert_eq!(moto.count("AssumeRole"), assumed + 1);
}

/// Durations STS cannot grant are usage errors before any call: 12 h for a role, 1 h for a
/// chained role, 36 h for GetSessionToken; under 15 minutes only for an overridden endpoint.
#[test]
fn durations_sts_cannot_grant_are_refused_before_any_call() {
    let Some((env, moto)) = setup() else { return };
    for (profile, duration) in [("prod", "13h"), ("b", "2h"), ("src", "37h")] {
        let out = exec(
            &env,
            &moto,
            &["exec", profile, "--duration", duration, "--", "true"],
        );
        assert_code(&out, 2, &format!("{profile} --duration {duration}"));
    }
    assert_eq!(moto.sts_calls(), 0);
    // AWS's own endpoint (no override): 10 minutes is refused without a call.
    let out = env.run(&["exec", "src", "--duration", "10m", "--", "true"]);
    assert_code(&out, 2, "--duration 10m against AWS");
    // An emulator: passed through, with a warning.
    let out = exec(
        &env,
        &moto,
        &["exec", "src", "--duration", "10m", "--", "true"],
    );
    assert_success(&out, &["--duration 10m against moto"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than"));
}

/// A `credential_process` that prints its Expiration with a UTC offset: every timestamp vault
/// hands out is UTC, since the JS SDK's container provider rejects offsets.
#[test]
fn credential_process_offsets_are_handed_out_as_utc() {
    let Some((env, _moto)) = setup() else { return };
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let plus2 = later
        .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(plus2.ends_with("+02:00"), "{plus2}");
    let json = format!(
        r#"{{"Version":1,"AccessKeyId":"ASIAOFFSET0000000000","SecretAccessKey":"s","SessionToken":"t","Expiration":"{plus2}"}}"#
    );
    std::fs::write(env.path("home/cp.json"), json).unwrap();
    let config = format!(
        "{CONFIG_TEXT}\n[profile offset]\ncredential_process = cat {}\n",
        env.path("home/cp.json").display()
    );
    std::fs::write(env.path("home/aws-config"), config).unwrap();
    let out = env.ok(&["export", "offset", "--format", "credential-process"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let exp = v["Expiration"].as_str().unwrap();
    assert!(exp.ends_with('Z'), "{exp}");
    let parsed =
        time::OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed, later);
    let env_out = env.ok(&["export", "offset", "--format", "env"]);
    assert!(
        env_out.contains(&format!("AWS_CREDENTIAL_EXPIRATION='{exp}'")),
        "{env_out}"
    );
}
