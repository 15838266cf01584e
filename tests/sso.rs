//! IAM Identity Center (issue 14) end to end: vault against the emulator
//! (tests/sso_server.py) for the OIDC and portal APIs and moto for STS, with the real AWS CLI
//! as the child and the emulator's `$BROWSER` script as the browser.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sso::{browser_calls, browser_script, sso_config, SsoEmu};
use common::*;

const LOCKED: i32 = 79;
const CONFIG: i32 = 78;
const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A vault, the emulator, moto, and a config with the sso-session `corp` (profile `corp`:
/// account 111111111111, role ReadOnly) and a role chained from it.
struct Sso {
    env: Env,
    emu: SsoEmu,
    moto: Moto,
    browser: tempfile::TempDir,
}

fn setup(vars: &[(&str, &str)]) -> Option<Sso> {
    let emu = SsoEmu::start(vars)?;
    let moto = Moto::start(&[])?;
    let mut env = Env::init();
    let browser = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[profile chained]\nsource_profile = corp\nrole_arn = arn:aws:iam::123456789012:role/Chained\nregion = us-east-1\n",
        sso_config(&emu.url(), "corp", "111111111111", "ReadOnly")
    );
    std::fs::write(env.path("home/aws-config"), config).unwrap();
    for (k, v) in [
        ("AWS_ENDPOINT_URL_SSO_OIDC", emu.url()),
        ("AWS_ENDPOINT_URL_SSO", emu.url()),
        ("AWS_ENDPOINT_URL_STS", moto.url()),
        (
            "BROWSER",
            browser_script(browser.path()).display().to_string(),
        ),
    ] {
        env.vars.push((k.into(), v));
    }
    Some(Sso {
        env,
        emu,
        moto,
        browser,
    })
}

impl Sso {
    fn login(&self) {
        let out = self.env.run(&["sso", "login", "corp"]);
        assert_success(&out, &["sso", "login", "corp"]);
    }

    fn caller_arn(&self, profile: &str) -> String {
        self.caller_arn_with(&[profile])
    }

    /// The caller ARN the AWS CLI sees under `vault exec EXEC_ARGS`.
    fn caller_arn_with(&self, exec_args: &[&str]) -> String {
        let mut args = vec!["exec"];
        args.extend(exec_args);
        args.extend([
            "--",
            "aws",
            "sts",
            "get-caller-identity",
            "--output",
            "json",
        ]);
        let out = self.env.run(&args);
        assert_success(&out, &args);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["Arn"].as_str().unwrap().to_owned()
    }

    fn token_item(&self) -> std::path::PathBuf {
        self.env.item("sso.corp")
    }
}

#[test]
fn auth_code_login_then_exec_export_and_a_chained_role() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    // One tab, with PKCE S256 and a loopback redirect; one registration, one code grant.
    let tabs = browser_calls(s.browser.path());
    assert_eq!(tabs.len(), 1, "{tabs:?}");
    assert!(tabs[0].contains("/authorize?") && tabs[0].contains("code_challenge_method=S256"));
    assert!(tabs[0].contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
    assert_eq!(s.emu.count("/client/register"), 1);
    assert_eq!(s.emu.count_grant("authorization_code"), 1);
    assert!(s.token_item().exists());

    // The AWS CLI in the child, as the SSO role and as a role chained from it (moto's STS).
    assert!(!s.caller_arn("corp").is_empty());
    assert_eq!(s.emu.count("/federation/credentials"), 1);
    assert!(s.caller_arn("chained").contains(":assumed-role/Chained/"));
    assert_eq!(s.moto.count("AssumeRole"), 1);
    // Warm: sealed role sessions answer; nothing is asked again.
    s.caller_arn("corp");
    s.caller_arn("chained");
    assert_eq!(s.emu.count("/federation/credentials"), 1);
    assert_eq!(s.moto.count("AssumeRole"), 1);

    // credential_process, as the AWS CLI runs it.
    let out = s
        .env
        .run(&["export", "corp", "--format", "credential-process"]);
    assert_success(&out, &["export"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Version"], 1);
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));

    // list shows the token and the role sessions; clear drops a profile's sessions only.
    let list = s.env.ok(&["list"]);
    assert!(
        list.contains("sso-session") && list.contains("corp"),
        "{list}"
    );
    s.env.ok(&["clear", "corp"]);
    assert!(s.token_item().exists(), "clear dropped the token");
    s.caller_arn("corp");
    assert_eq!(s.emu.count("/federation/credentials"), 2);
    // A second login is a fresh sign-in that reuses the registration.
    s.login();
    assert_eq!(s.emu.count("/client/register"), 1);
    assert_eq!(s.emu.count_grant("authorization_code"), 2);
    assert!(!s.env.path("home/.aws/sso").exists());
    assert!(!s.env.path("home/.aws/cli").exists());
}

#[test]
fn device_code_login_honours_slow_down() {
    let Some(s) = setup(&[("SSO_EMU_SLOW_DOWN", "1"), ("SSO_EMU_PENDING", "1")]) else {
        return;
    };
    let t = Instant::now();
    let out = s
        .env
        .run(&["sso", "login", "corp", "--use-device-code", "--no-browser"]);
    assert_success(&out, &["sso", "login", "--use-device-code"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("confirm the code"), "{err}");
    // slow_down, pending, then approved: 3 polls, the second at least 5 s after the first.
    assert_eq!(s.emu.count_grant(DEVICE), 3);
    assert!(t.elapsed() >= Duration::from_secs(6), "{:?}", t.elapsed());
    assert!(browser_calls(s.browser.path()).is_empty());
    assert!(!s.caller_arn("corp").is_empty());
}

#[test]
fn no_browser_prints_the_url_and_the_callback_finishes_the_login() {
    let Some(s) = setup(&[]) else { return };
    let mut child = s
        .env
        .cmd(&["sso", "login", "--profile", "corp", "--no-browser"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(u) = line.trim().strip_prefix("http") {
            url = Some(format!("http{u}"));
            break;
        }
        line.clear();
    }
    let url = url.expect("no URL on stderr");
    assert!(url.contains("/authorize?"), "{url}");
    let curl = Command::new("curl")
        .args(["-sS", "-L", "-o", "/dev/null", &url])
        .status()
        .unwrap();
    assert!(curl.success());
    assert!(child.wait().unwrap().success());
    assert!(browser_calls(s.browser.path()).is_empty());
    assert!(s.token_item().exists());
}

#[test]
fn expired_token_twenty_parallel_execs_make_one_refresh() {
    // A refresh slow enough (3 s) to span the 20 processes' staggered unlocks: without the
    // re-read under the token's lock, this test saw 4 refreshes.
    let Some(s) = setup(&[("SSO_EMU_TOKEN_DELAY_MS", "3000")]) else {
        return;
    };
    // Four SSO profiles of one sso-session: four role sessions (four session locks), one
    // token, so the token's own single flight is what is tested.
    let mut conf = std::fs::read_to_string(s.env.path("home/aws-config")).unwrap();
    for (name, account, role) in [
        ("p2", "111111111111", "Admin"),
        ("p3", "222222222222", "ReadOnly"),
        ("p4", "333333333333", "Admin"),
    ] {
        conf += &format!(
            "[profile {name}]\nsso_session = corp\nsso_account_id = {account}\nsso_role_name = {role}\n"
        );
    }
    std::fs::write(s.env.path("home/aws-config"), conf).unwrap();
    let profiles = ["corp", "p2", "p3", "p4"];
    s.login();
    for p in profiles {
        s.env.ok(&["exec", p, "--", "true"]);
    }
    // Role sessions gone, access token expired at the service: every exec needs a token.
    s.env.ok(&["clear"]);
    s.emu
        .control(serde_json::json!({"expire_access_tokens": true}));
    let children: Vec<_> = (0..20)
        .map(|i| {
            s.env
                .cmd(&["exec", profiles[i % 4], "--", "true"])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = codes.iter().filter(|o| o.status.success()).count();
    let refreshes = s.emu.count_grant("refresh_token");
    let role_calls = s.emu.count("/federation/credentials") - 4;
    let refused = s
        .emu
        .calls()
        .iter()
        .filter(|c| c["path"] == "/federation/credentials" && c["status"] == 401)
        .count();
    eprintln!(
        "20 parallel execs over 4 SSO profiles: {ok} exit 0, {refreshes} refresh CreateToken, {role_calls} GetRoleCredentials ({refused} refused 401)"
    );
    for o in &codes {
        assert_success(o, &["exec"]);
    }
    assert_eq!(refreshes, 1);
    assert_eq!(
        s.emu.count_grant("authorization_code"),
        1,
        "a second login ran"
    );
    assert_eq!(
        browser_calls(s.browser.path()).len(),
        1,
        "a second tab opened"
    );
}

/// The same when the token expires by vault's own clock (a short TOKEN_TTL): one refresh.
#[test]
fn locally_expired_token_parallel_execs_make_one_refresh() {
    let Some(s) = setup(&[
        ("SSO_EMU_TOKEN_TTL", "4"),
        ("SSO_EMU_TOKEN_DELAY_MS", "200"),
    ]) else {
        return;
    };
    let mut conf = std::fs::read_to_string(s.env.path("home/aws-config")).unwrap();
    conf +=
        "[profile p2]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = Admin\n";
    std::fs::write(s.env.path("home/aws-config"), conf).unwrap();
    s.login();
    // The early-refresh rule: a 4 s token is stale after 2 s.
    std::thread::sleep(Duration::from_millis(2500));
    s.emu
        .control(serde_json::json!({"set": {"TOKEN_TTL": 3600}}));
    let children: Vec<_> = (0..10)
        .map(|i| {
            s.env
                .cmd(&["exec", ["corp", "p2"][i % 2], "--", "true"])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_success(&o, &["exec"]);
    }
    assert_eq!(s.emu.count_grant("refresh_token"), 1);
}

#[test]
fn failed_refresh_without_a_terminal_exits_79_at_once() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    s.env.ok(&["exec", "corp", "--", "true"]);
    s.env.ok(&["clear"]);
    s.emu
        .control(serde_json::json!({"expire_access_tokens": true}));
    s.emu
        .control(serde_json::json!({"revoke_refresh_tokens": true}));
    let t = Instant::now();
    let out = s
        .env
        .run(&["export", "corp", "--format", "credential-process"]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_code(&out, LOCKED, "export after a refused refresh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hint: vault sso login corp"), "{err}");
    assert!(browser_calls(s.browser.path()).len() == 1, "a tab opened");
    assert!(!s.token_item().exists(), "the dead token was kept");
}

#[test]
fn unauthorized_role_credentials_drop_the_token() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    s.emu
        .control(serde_json::json!({"fail_role_credentials": 401}));
    let out = s.env.run(&["exec", "corp", "--", "true"]);
    assert_code(&out, LOCKED, "exec with a refused token");
    assert!(!s.token_item().exists());
}

#[test]
fn logout_calls_the_portal_and_drops_token_and_role_sessions() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    s.env.ok(&["exec", "corp", "--", "true"]);
    s.env.ok(&["exec", "chained", "--", "true"]);
    assert_eq!(
        std::fs::read_dir(&s.env.dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("session."))
            .count(),
        2
    );
    let out = s.env.run(&["sso", "logout", "corp"]);
    assert_success(&out, &["sso", "logout"]);
    assert_eq!(s.emu.count("/logout"), 1);
    assert!(!s.token_item().exists());
    let sessions = std::fs::read_dir(&s.env.dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("session.")
        })
        .count();
    assert_eq!(sessions, 0);
    assert_code(
        &s.env.run(&["exec", "corp", "--", "true"]),
        LOCKED,
        "exec after logout",
    );
}

#[test]
fn accounts_page_through_the_portal() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    let out = s.env.ok(&["sso", "accounts", "corp", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["111111111111", "222222222222", "333333333333"]);
    assert!(s.emu.count("/assignment/accounts") >= 2, "no paging");
}

#[test]
fn config_errors_exit_78() {
    let Some(s) = setup(&[]) else { return };
    let conf = std::fs::read_to_string(s.env.path("home/aws-config")).unwrap()
        + "[profile lost]\nsso_session = nowhere\nsso_account_id = 1\nsso_role_name = r\n";
    std::fs::write(s.env.path("home/aws-config"), conf).unwrap();
    let out = s.env.run(&["exec", "lost", "--", "true"]);
    assert_code(&out, CONFIG, "unknown sso-session");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
    s.env.add_key(
        "corp",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY",
    );
    assert_code(
        &s.env.run(&["exec", "corp", "--", "true"]),
        CONFIG,
        "sso + stored key",
    );
}

/// No access token, refresh token or client secret anywhere outside the sealed items: not in
/// a file under HOME / the vault / TMPDIR, not in `-vv` logs, not in the browser's argv, not
/// in the child's environment; `~/.aws/sso/cache` is never created.
#[test]
fn canary_no_sso_secret_leaves_the_vault() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    let vv = s.env.run(&["-vv", "exec", "corp", "--", "env"]);
    assert_success(&vv, &["-vv", "exec"]);
    let chained = s.env.run(&["-vv", "exec", "chained", "--", "env"]);
    assert_success(&chained, &["-vv", "exec", "chained"]);
    s.emu
        .control(serde_json::json!({"expire_access_tokens": true}));
    s.env.ok(&["clear"]);
    let refreshed = s.env.run(&["-vv", "export", "corp", "--format", "json"]);
    assert_success(&refreshed, &["-vv", "export"]);
    let secrets = s.emu.secrets();
    assert!(secrets.len() >= 5, "{secrets:?}");
    // The child legitimately holds its role credentials; every other secret is a canary.
    let child_env = String::from_utf8_lossy(&vv.stdout).to_string();
    let own: Vec<&str> = child_env
        .lines()
        .filter_map(|l| {
            l.strip_prefix("AWS_SECRET_ACCESS_KEY=")
                .or_else(|| l.strip_prefix("AWS_SESSION_TOKEN="))
        })
        .collect();
    let exported = String::from_utf8_lossy(&refreshed.stdout).to_string();
    for secret in &secrets {
        let role_cred = own.contains(&secret.as_str()) || exported.contains(secret.as_str());
        for (what, text) in [
            ("-vv stderr", &vv.stderr),
            ("-vv stderr (chained)", &chained.stderr),
            ("-vv stderr (refresh)", &refreshed.stderr),
        ] {
            assert!(!contains(text, secret.as_bytes()), "{what} holds a secret");
        }
        if !role_cred {
            assert!(
                !child_env.contains(secret.as_str()),
                "the child's env holds an SSO secret"
            );
            assert!(!exported.contains(secret.as_str()));
        }
        for tab in browser_calls(s.browser.path()) {
            assert!(
                !tab.contains(secret.as_str()),
                "the browser's argv holds a secret"
            );
        }
        for file in files_under(s.env.tmp.path()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{} holds a secret",
                file.display()
            );
        }
    }
    assert!(!Path::new(&s.env.path("home/.aws/sso")).exists());
    assert!(!Path::new(&s.env.path("home/.aws/cli/cache")).exists());
}

#[test]
fn populate_appends_one_profile_per_role_once_keeping_every_byte() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    let path = s.env.path("home/aws-config");
    let before = std::fs::read(&path).unwrap();
    let out = s.env.ok(&[
        "sso",
        "populate",
        "corp",
        "--region",
        "eu-west-1",
        "--prefix",
        "org-",
    ]);
    let added: Vec<&str> = out.lines().collect();
    // 3 accounts x 2 roles, minus corp's own (111111111111, ReadOnly).
    assert_eq!(added.len(), 5, "{out}");
    let after = std::fs::read(&path).unwrap();
    assert!(
        after.starts_with(&before),
        "populate changed existing bytes"
    );
    let text = String::from_utf8(after.clone()).unwrap();
    assert!(text.contains("sso_account_id = 222222222222") && text.contains("region = eu-west-1"));
    // Idempotent.
    assert_eq!(
        s.env.ok(&["sso", "populate", "corp", "--prefix", "org-"]),
        ""
    );
    assert_eq!(std::fs::read(&path).unwrap(), after);
    // A populated profile works.
    let admin = added.iter().find(|n| n.contains("Admin")).unwrap();
    s.env.ok(&["exec", admin, "--", "true"]);
}

/// The SDKs' plaintext cache file, as botocore writes it (name: SHA-1 of the sso-session).
#[test]
fn import_seals_the_plaintext_cache_file_and_removes_it() {
    let Some(s) = setup(&[]) else { return };
    // A real token from the emulator, written where the AWS CLI would have left it; vault's
    // own sealed copy removed.
    s.login();
    let access = s
        .emu
        .secrets()
        .into_iter()
        .find(|x| x.starts_with("aoa"))
        .unwrap();
    std::fs::remove_file(s.token_item()).unwrap();
    // sha1("corp")
    let dir = s.env.path("home/.aws/sso/cache");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json");
    let expires = "2099-01-01T00:00:00Z";
    std::fs::write(
        &file,
        format!(
            r#"{{"startUrl": "{}/start", "region": "us-east-1", "accessToken": "{access}", "expiresAt": "{expires}"}}"#,
            s.emu.url()
        ),
    )
    .unwrap();
    let out = s.env.run(&["sso", "import", "corp", "--remove-plaintext"]);
    assert_success(&out, &["sso", "import"]);
    assert!(!file.exists(), "the plaintext file is still there");
    assert!(s.token_item().exists());
    // The imported token signs the portal calls.
    s.env.ok(&["exec", "corp", "--", "true"]);
    assert_eq!(s.emu.count("/federation/credentials"), 1);
    assert_eq!(s.emu.count_grant("authorization_code"), 1);
}

#[test]
fn exec_server_serves_sso_role_credentials_to_the_aws_cli() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    assert!(!s.caller_arn_with(&["corp", "--server"]).is_empty());
    assert_eq!(s.emu.count("/federation/credentials"), 1);

    // The JavaScript SDK v3 as the child: its default chain's fromHttp takes the SSO role
    // credentials from the same endpoint (the raw Expiration in UTC `Z`).
    let js = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");
    let ready = std::path::Path::new(js)
        .join("node_modules/@aws-sdk/client-sts/package.json")
        .is_file();
    if require("node + @aws-sdk (scripts/setup.sh)", have("node") && ready) {
        let caller = format!("{js}/caller.mjs");
        let args = ["exec", "corp", "--server", "--", "node", &caller, "1"];
        let out = s.env.run(&args);
        assert_success(&out, &args);
        let line: serde_json::Value = serde_json::from_slice(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        assert!(line["arn"].as_str().is_some(), "{line}");
        assert!(
            line["accessKeyId"].as_str().unwrap().starts_with("ASIA"),
            "{line}"
        );
        assert!(line["raw"].as_str().unwrap().ends_with('Z'), "{line}");
        // Served from the sealed session: no second GetRoleCredentials.
        assert_eq!(s.emu.count("/federation/credentials"), 1);
    }
}

/// The legacy in-profile form (sso_start_url + sso_region in the profile), and the AWS CLI
/// itself calling `vault export --format credential-process` as a `credential_process`
/// without a terminal.
#[test]
fn legacy_profile_and_credential_process_under_the_aws_cli() {
    let Some(s) = setup(&[]) else { return };
    let conf = std::fs::read_to_string(s.env.path("home/aws-config")).unwrap()
        + &format!(
            "[profile old]\nsso_start_url = {}/start\nsso_region = us-east-1\nsso_account_id = 222222222222\nsso_role_name = Admin\nregion = us-east-1\n[profile viaproc]\ncredential_process = {} export old --format credential-process\nregion = us-east-1\n",
            s.emu.url(),
            env!("CARGO_BIN_EXE_vault")
        );
    std::fs::write(s.env.path("home/aws-config"), conf).unwrap();
    // Not signed in: the credential_process fails at once, naming the command to run.
    let args = ["exec", "old", "--", "true"];
    let out = s.env.run(&args);
    assert_code(&out, LOCKED, "legacy profile before login");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("vault sso login --profile old"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.env.run(&["sso", "login", "--profile", "old"]);
    assert_success(&out, &["sso", "login", "--profile", "old"]);
    // The AWS CLI with the same private environment vault's commands get.
    let template = s.env.cmd(&[]);
    let vars: Vec<_> = template
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    let aws = Command::new("aws")
        .args(["sts", "get-caller-identity", "--output", "json"])
        .env_clear()
        .envs(vars)
        .env("AWS_PROFILE", "viaproc")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        aws.status.success(),
        "{}",
        String::from_utf8_lossy(&aws.stderr)
    );
    assert_eq!(s.emu.count("/federation/credentials"), 1);
    let calls = s.emu.calls();
    assert!(calls.iter().any(|c| c["account_id"] == "222222222222"));
}

/// `vault rekey` (after the old identity may have leaked) drops the sso-session's token with
/// the cached sessions: it was sealed to that identity, so the next use signs in afresh.
#[test]
fn rekey_drops_the_token_sealed_to_the_old_identity() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    assert!(s.token_item().exists());
    let out = s.env.run(&["rekey"]);
    assert_success(&out, &["rekey"]);
    assert!(!s.token_item().exists(), "the token outlived the rekey");
    let out = s.env.run(&["exec", "corp", "--", "true"]);
    assert_code(&out, LOCKED, "exec after rekey, no terminal");
    s.login();
    s.caller_arn("corp");
}

/// `vault status` names each sso-session with a sealed token; `vault sso login
/// --write-plaintext-cache` (opt-in, for tools that read only the SDK's cache) writes the
/// SDK's file, mode 0600, which the AWS CLI then signs in with on its own; `vault sso logout`
/// removes that copy.
#[test]
fn status_and_the_opt_in_plaintext_cache() {
    let Some(s) = setup(&[]) else { return };
    s.login();
    let status = s.env.ok(&["status"]);
    assert!(status.contains("sso:      corp token"), "{status}");
    let v: serde_json::Value = serde_json::from_str(&s.env.ok(&["status", "--json"])).unwrap();
    assert_eq!(v["sso_sessions"][0]["sso_session"], "corp");

    let cache = s.env.path("home/.aws/sso/cache");
    assert!(!cache.exists(), "written without the flag");
    let args = ["sso", "login", "corp", "--write-plaintext-cache"];
    let out = s.env.run(&args);
    assert_success(&out, &args);
    assert!(String::from_utf8_lossy(&out.stderr).contains("PLAINTEXT"));
    // botocore's name for it: the SHA-1 of the sso-session's name.
    let file = cache.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json");
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(file.exists(), "{files:?}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(s
        .emu
        .secrets()
        .contains(&doc["accessToken"].as_str().unwrap().to_owned()));
    // The AWS CLI alone (no vault) uses it: GetRoleCredentials at the emulator, STS at moto.
    let before = s.emu.count("/federation/credentials");
    let base = s.env.cmd(&[]);
    let aws = std::process::Command::new("aws")
        .args([
            "sts",
            "get-caller-identity",
            "--profile",
            "corp",
            "--output",
            "json",
        ])
        .env_clear()
        .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    assert_success(&aws, &["aws sts get-caller-identity --profile corp"]);
    assert_eq!(s.emu.count("/federation/credentials"), before + 1);

    let out = s.env.run(&["sso", "logout", "corp"]);
    assert_success(&out, &["sso", "logout", "corp"]);
    assert!(!file.exists(), "the plaintext copy outlived the logout");
}
