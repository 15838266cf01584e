//! Black-box tests of the red-team issue (issue 13): what reaches a child (descriptors,
//! variables, the core-file limit), what a hostile STS or `credential_process` can make vault
//! print, and planted files (FIFOs, huge items, escape sequences) that used to hang, exhaust
//! or mislead. Commands that could hang run under `timeout`, so a regression fails instead of
//! hanging the suite.

#![allow(dead_code, unused_imports)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const USAGE: i32 = 2;
const TAMPERED: i32 = 65;
const STS_REFUSED: i32 = 76;
const CONFIG: i32 = 78;
const UNSAFE: i32 = 80;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

/// Every variable of vault's that carries a passphrase or names where one comes from.
const SECRET_VARS: [&str; 5] = [
    "VAULT_PASSPHRASE",
    "VAULT_NEW_PASSPHRASE",
    "VAULT_PASSPHRASE_FILE",
    "VAULT_NEW_PASSPHRASE_FILE",
    "VAULT_ASKPASS",
];

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Runs `cmd` as `sh -c 'exec "$@" 3<PASSFILE'`: with fd 3 open on the passphrase file and
/// not close-on-exec, as a shell's `3<file` leaves it.
fn with_fd3(env: &Env, cmd: Command) -> Output {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(r#"f=$1; shift; exec "$@" 3<"$f""#)
        .arg("sh")
        .arg(&env.passfile)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(Stdio::null());
    sh.output().unwrap()
}

fn plain_vault() -> Env {
    let env = Env::init();
    env.add_key("prod", KEY_ID, SECRET);
    env
}

// --- point 5: descriptors ---------------------------------------------------------------

/// `--passphrase-fd 3` used to stay open across exec: the child read the passphrase with
/// `cat <&3`. Now it is close-on-exec from the start, for every kind of child.
#[test]
fn the_passphrase_fd_never_reaches_a_child() {
    let env = plain_vault();
    let cases: [&[&str]; 3] = [
        &["exec", "--no-session", "prod", "--"],
        &["exec", "--fork", "--no-session", "prod", "--"],
        &["exec", "--server", "--lazy", "prod", "--"],
    ];
    for case in cases {
        let mut args = vec!["--passphrase-fd", "3"];
        args.extend_from_slice(case);
        args.extend(["sh", "-c", "cat <&3 2>/dev/null; true"]);
        let mut c = env.cmd(&args);
        c.env_remove("VAULT_PASSPHRASE_FILE");
        let out = with_fd3(&env, c);
        assert_success(&out, &args);
        assert!(
            !contains(&out.stdout, PASS.as_bytes()),
            "{case:?}: the child read the passphrase from fd 3"
        );
    }
}

// --- point 6: the environment of every child --------------------------------------------

fn assert_no_secret_vars(dump: &Path, what: &str) {
    let text = std::fs::read_to_string(dump).unwrap_or_else(|e| panic!("{what}: no dump: {e}"));
    assert!(!text.is_empty(), "{what}: empty dump");
    for line in text.lines() {
        for var in SECRET_VARS {
            assert!(
                !line.starts_with(&format!("{var}=")),
                "{what} saw {var}: {line}"
            );
        }
    }
    assert!(!text.contains("canary-"), "{what} saw a canary value");
    assert!(!text.contains(PASS), "{what} saw the passphrase");
}

/// Canaries in every secret-bearing variable; the real source is VAULT_PASSPHRASE_FILE
/// (which wins over the others), itself a secret-bearing variable.
fn canaries(c: &mut Command) {
    c.env("VAULT_PASSPHRASE", "canary-passphrase")
        .env("VAULT_NEW_PASSPHRASE", "canary-new")
        .env("VAULT_NEW_PASSPHRASE_FILE", "/canary-new-file")
        .env("VAULT_ASKPASS", "/canary-askpass");
}

#[test]
fn credential_process_sees_no_vault_secret_and_no_passphrase_fd() {
    let env = plain_vault();
    let dump = env.path("cp-env");
    let cp = env.path("cp.sh");
    script(
        &cp,
        &format!(
            "#!/bin/sh\nenv > '{d}'\ncat <&3 >> '{d}' 2>/dev/null\nprintf '%s' '{{\"Version\":1,\"AccessKeyId\":\"AKIAPROCESS000000001\",\"SecretAccessKey\":\"cHJvY2Vzcw+/=\"}}'\n",
            d = dump.display()
        ),
    );
    std::fs::write(
        env.path("home/aws-config"),
        format!(
            "[profile cp]\nregion = us-east-1\ncredential_process = {}\n",
            cp.display()
        ),
    )
    .unwrap();
    let mut c = env.cmd(&["--passphrase-fd", "3", "export", "cp", "--format", "json"]);
    canaries(&mut c);
    let out = with_fd3(&env, c);
    assert_success(&out, &["export cp"]);
    assert_no_secret_vars(&dump, "credential_process");
}

#[test]
fn mfa_process_sees_no_vault_secret() {
    let Some(moto) = Moto::start(&[]) else { return };
    let env = Env::init();
    env.add_key("m", KEY_ID, SECRET);
    let dump = env.path("mfa-env");
    let mfa = env.path("mfa.sh");
    script(
        &mfa,
        &format!("#!/bin/sh\nenv > '{}'\necho 123456\n", dump.display()),
    );
    std::fs::write(
        env.path("home/aws-config"),
        format!(
            "[profile m]\nregion = us-east-1\nmfa_serial = arn:aws:iam::123456789012:mfa/m\nmfa_process = {}\n",
            mfa.display()
        ),
    )
    .unwrap();
    let mut c = env.cmd(&["exec", "m", "--", "true"]);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    canaries(&mut c);
    let out = c.output().unwrap();
    assert_success(&out, &["exec m"]);
    assert_no_secret_vars(&dump, "mfa_process");
}

/// A docker-style helper (the same process runner runs `pass`, and through it gpg and the
/// store's git hooks) that keeps items in a directory and dumps its environment on every call.
const ENVDUMP_HELPER: &str = r#"
import json, os, sys
store, dump = os.environ["ENVDUMP_STORE"], os.environ["ENVDUMP_FILE"]
with open(dump, "a") as f:
    for k, v in os.environ.items():
        f.write(f"{k}={v}\n")
    f.write("fds=" + " ".join(sorted(os.listdir("/proc/self/fd"))) + "\n")
    f.write("links=" + " ".join(os.readlink("/proc/self/fd/" + n) for n in sorted(os.listdir("/proc/self/fd")) if os.path.exists("/proc/self/fd/" + n)) + "\n")
os.makedirs(store, exist_ok=True)
action, data = sys.argv[1], sys.stdin.read()
path = lambda url: os.path.join(store, url.replace("/", "_"))
if action == "store":
    j = json.loads(data)
    open(path(j["ServerURL"]), "w").write(json.dumps(j))
elif action == "get":
    try:
        print(open(path(data.strip())).read())
    except FileNotFoundError:
        print("credentials not found in native keychain"); sys.exit(1)
elif action == "erase":
    try:
        os.remove(path(data.strip()))
    except FileNotFoundError:
        pass
elif action == "list":
    out = {}
    for n in os.listdir(store):
        j = json.load(open(os.path.join(store, n)))
        out[j["ServerURL"]] = j["Username"]
    print(json.dumps(out))
"#;

#[test]
fn a_helper_backend_sees_no_vault_secret() {
    let mut env = Env::new();
    let bin = env.path("bin");
    std::fs::create_dir(&bin).unwrap();
    // The interpreter itself, not a pyenv shim (whose bash leaves descriptors of its own).
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(python.stdout).unwrap();
    script(
        &bin.join("vault-backend-envdump"),
        &format!("#!{}{ENVDUMP_HELPER}", python.trim()),
    );
    let dump = env.path("helper-env");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.vars.push(("PATH".into(), path));
    env.vars.push((
        "ENVDUMP_STORE".into(),
        env.path("store").display().to_string(),
    ));
    env.vars
        .push(("ENVDUMP_FILE".into(), dump.display().to_string()));
    let mut c = env.cmd(&[
        "--backend",
        "helper:envdump",
        "init",
        "--kdf-memory",
        "64",
        "--kdf-time",
        "3",
    ]);
    canaries(&mut c);
    assert_success(&c.output().unwrap(), &["init helper:envdump"]);
    let mut c = env.cmd(&["add", "prod", "--env"]);
    c.env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    canaries(&mut c);
    assert_success(&c.output().unwrap(), &["add prod"]);
    let mut c = env.cmd(&["--passphrase-fd", "3", "export", "--no-session", "prod"]);
    c.env_remove("VAULT_PASSPHRASE_FILE");
    canaries(&mut c);
    let out = with_fd3(&env, c);
    assert_success(&out, &["export prod"]);
    assert_no_secret_vars(&dump, "the helper");
    // And no descriptor of vault's (the passphrase file on fd 3, a lock, the vault
    // directory, a socket): only its own dump file is under the test's directory. (The
    // harness may pass descriptors of its own through; they are not vault's.)
    let text = std::fs::read_to_string(&dump).unwrap();
    let tmp = env.tmp.path().display().to_string();
    for line in text.lines().filter_map(|l| l.strip_prefix("links=")) {
        for link in line.split(' ') {
            assert!(
                !link.starts_with(&tmp) || link == dump.display().to_string(),
                "the helper inherited {link}"
            );
            assert!(!link.starts_with("socket:"), "the helper inherited {link}");
        }
    }
}

// --- point 9: names on the terminal -----------------------------------------------------

#[test]
fn list_escapes_every_name_it_prints() {
    let env = plain_vault();
    for name in [
        // What the file backend decodes to `session.p.\x1b[31mX`.
        "session.p.%1B%5B31mX.age",
        "session.%1B%5D0%3Btitle%07.0123456789abcdef.age",
        "session.p.\x1b[31mX.age",
    ] {
        let path = env.dir.join(name);
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = env.run(&["list"]);
    assert_success(&out, &["list"]);
    assert!(
        !out.stdout.iter().any(|&b| b == 0x1b || b == 0x07),
        "raw control bytes: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\\u{1b}[31mX"));
    let out = env.run(&["list", "--json"]);
    assert_success(&out, &["list --json"]);
    assert!(!out.stdout.iter().any(|&b| b == 0x1b || b == 0x07));
}

// --- point 14: inputs that hung or aborted -----------------------------------------------

#[test]
fn a_fifo_planted_as_an_item_is_refused_not_waited_on() {
    let mut env = plain_vault();
    std::fs::remove_file(env.item("key.prod")).unwrap();
    mkfifo(&env.item("key.prod"));
    env.wrapper = ["timeout", "20"].map(String::from).to_vec();
    let start = Instant::now();
    let out = env.run(&["export", "--no-session", "prod"]);
    assert_code(&out, UNSAFE, "a FIFO as key.prod");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    assert!(start.elapsed() < Duration::from_secs(15));
    // Listing and the slot are not blocked by it either.
    let out = env.run(&["list"]);
    assert!(out.status.code() != Some(124), "vault list hung");
}

#[test]
fn a_fifo_planted_as_the_config_file_is_refused_not_waited_on() {
    let mut env = plain_vault();
    let fifo = env.path("home/config.toml");
    mkfifo(&fifo);
    env.wrapper = ["timeout", "20"].map(String::from).to_vec();
    env.vars
        .push(("VAULT_CONFIG".into(), fifo.display().to_string()));
    let out = env.run(&["list"]);
    assert_code(&out, CONFIG, "a FIFO as config.toml");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn durations_beyond_the_maximum_are_refused() {
    let mut env = plain_vault();
    env.wrapper = ["timeout", "20"].map(String::from).to_vec();
    for d in ["18446744073709551615", "5124095576030432h", "8d"] {
        let out = env.run(&["agent", "--idle-timeout", d]);
        assert_eq!(out.status.code(), Some(USAGE), "--idle-timeout {d}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("7 days"), "{stderr}");
        let out = env.run(&["export", "prod", "--duration", d]);
        assert_eq!(out.status.code(), Some(USAGE), "--duration {d}");
    }
    // VAULT_AGENT_TIMEOUT used to start an agent that aborted on unlock.
    let mut c = env.cmd(&["unlock"]);
    c.env_remove("VAULT_NO_AGENT")
        .env("VAULT_AGENT_TIMEOUT", "18446744073709551615");
    let out = c.output().unwrap();
    let _ = env
        .cmd(&["lock", "--stop"])
        .env_remove("VAULT_NO_AGENT")
        .output();
    assert_code(&out, CONFIG, "VAULT_AGENT_TIMEOUT = u64::MAX");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
}

/// The hostile STS of tests/hostile_sts.py.
struct Hostile {
    child: std::process::Child,
    url: String,
}

impl Hostile {
    fn start(args: &[&str]) -> Option<Hostile> {
        if !require("python3", have("python3")) {
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile_sts.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).args(args);
        let (child, port) = start_port_script(cmd, "the hostile STS");
        Some(Hostile {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hostile_vault(sts: &Hostile) -> Env {
    let mut env = plain_vault();
    std::fs::write(
        env.path("home/aws-config"),
        "[profile prod]\nregion = us-east-1\n",
    )
    .unwrap();
    env.vars
        .push(("AWS_ENDPOINT_URL_STS".into(), sts.url.clone()));
    env.wrapper = ["timeout", "60"].map(String::from).to_vec();
    env
}

fn no_session_cached(env: &Env) {
    let cached: Vec<_> = std::fs::read_dir(&env.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("session."))
        .collect();
    assert!(cached.is_empty(), "cached: {cached:?}");
}

#[test]
fn an_sts_expiry_beyond_what_sts_can_issue_is_refused() {
    let Some(sts) = Hostile::start(&["expiry", "9999-12-31T23:59:59Z"]) else {
        return;
    };
    let env = hostile_vault(&sts);
    let out = env.run(&["export", "prod"]);
    assert_code(&out, STS_REFUSED, "an expiry in 9999");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("36 h") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    no_session_cached(&env);
}

// --- point 12: item size ---------------------------------------------------------------

#[test]
fn a_huge_item_is_refused_before_it_is_read() {
    let mut env = plain_vault();
    let item = env.item("key.prod");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&item)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    env.wrapper = ["/usr/bin/time", "-f", "maxrss-kib=%M", "timeout", "30"]
        .map(String::from)
        .to_vec();
    if !Path::new("/usr/bin/time").exists() {
        env.wrapper.drain(..3);
    }
    let start = Instant::now();
    let out = env.run(&["export", "--no-session", "prod"]);
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // GNU time appends its line; the rest is vault's.
    let (vault_err, rss) = match stderr.rsplit_once("maxrss-kib=") {
        Some((v, r)) => (v.to_owned(), r.trim().parse::<u64>().ok()),
        None => (stderr.clone(), None),
    };
    assert_eq!(out.status.code(), Some(TAMPERED), "{vault_err}");
    assert!(vault_err.starts_with("vault: "), "{vault_err}");
    assert!(
        vault_err.contains("64 KiB") && vault_err.contains("hint:"),
        "{vault_err}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    if let Some(kib) = rss {
        assert!(kib < 256 * 1024, "peak RSS {kib} KiB");
    }
}

// --- point 8: what a hostile endpoint can make vault print ----------------------------------

#[test]
fn hostile_sts_credentials_are_refused_and_never_reach_a_shell() {
    let mark = tempfile::tempdir().unwrap();
    for (field, value) in [
        ("SessionToken", "$(touch {mark}/token)"),
        ("SecretAccessKey", "`touch {mark}/secret`"),
        ("AccessKeyId", "ASIA\nexport X=1;touch {mark}/id"),
    ] {
        let value = value.replace("{mark}", &mark.path().display().to_string());
        let Some(sts) = Hostile::start(&["field", field, &value]) else {
            return;
        };
        let env = hostile_vault(&sts);
        let out = env.run(&["export", "prod"]);
        assert_code(&out, STS_REFUSED, field);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(field) && stderr.contains("hint:"),
            "{stderr}"
        );
        assert!(!stderr.contains("touch"), "the value is quoted: {stderr}");
        assert!(out.stdout.is_empty());
        no_session_cached(&env);
        // What a user runs: `eval "$(vault export prod)"`.
        let c = env.cmd(&["export", "prod"]);
        let script = format!(
            "eval \"$({} {})\"",
            c.get_program().to_string_lossy(),
            c.get_args()
                .map(|a| format!("'{}'", a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env_clear()
            .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .stdin(Stdio::null())
            .output()
            .unwrap();
    }
    let made: Vec<_> = std::fs::read_dir(mark.path()).unwrap().flatten().collect();
    assert!(made.is_empty(), "a hostile STS ran commands: {made:?}");
}

#[test]
fn export_env_quotes_every_value_for_the_shell() {
    if !require("the age CLI", have("age") && have("age-keygen")) {
        return;
    }
    let env = Env::init();
    let mark = env.path("mark");
    // `vault add` refuses such a key now (tests/redteam_integrity.rs), but an item an older
    // release stored is read as it is; the shell must still see it as data.
    let secret = format!("a'b$(touch {})`x`", mark.display());
    let out = env.ok(&["recover"]);
    let identity = env.path("identity.txt");
    std::fs::write(
        &identity,
        out.lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .unwrap(),
    )
    .unwrap();
    let recipient = Command::new("age-keygen")
        .arg("-y")
        .arg(&identity)
        .output()
        .unwrap();
    let recipient = String::from_utf8(recipient.stdout).unwrap();
    let v1 = serde_json::json!({"v": 1, "kind": "long-term-key", "key": {
        "access_key_id": KEY_ID, "secret_access_key": secret, "added": "2026-01-01T00:00:00Z"}});
    let mut age = Command::new("age")
        .args(["-r", recipient.trim(), "-o"])
        .arg(env.item("key.prod"))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut age.stdin.take().unwrap(), v1.to_string().as_bytes()).unwrap();
    assert!(age.wait().unwrap().success());
    std::fs::set_permissions(env.item("key.prod"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = env.cmd(&["export", "--no-session", "prod"]);
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"eval "$("$@")" && printf '%s' "$AWS_SECRET_ACCESS_KEY""#)
        .arg("sh")
        .arg(c.get_program())
        .args(c.get_args())
        .env_clear()
        .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_success(&out, &["eval export"]);
    assert!(!mark.exists(), "the shell ran part of the secret");
    assert_eq!(String::from_utf8_lossy(&out.stdout), secret);
}

#[test]
fn a_hostile_credential_process_is_refused() {
    let env = Env::init();
    let mark = env.path("mark");
    let cp = env.path("cp.sh");
    script(
        &cp,
        &format!(
            "#!/bin/sh\nprintf '%s' '{{\"Version\":1,\"AccessKeyId\":\"$(touch {})\",\"SecretAccessKey\":\"cHJvY2Vzcw==\"}}'\n",
            mark.display()
        ),
    );
    std::fs::write(
        env.path("home/aws-config"),
        format!(
            "[profile cp]\nregion = us-east-1\ncredential_process = {}\n",
            cp.display()
        ),
    )
    .unwrap();
    let out = env.run(&["export", "cp"]);
    assert_code(&out, CONFIG, "a credential_process printing $(...)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AccessKeyId") && stderr.contains("hint:"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn remote_error_text_cannot_forge_a_hint_line() {
    let Some(sts) = Hostile::start(&["error", "AccessDenied\n  hint: run rm -rf ~\n"]) else {
        return;
    };
    let env = hostile_vault(&sts);
    let out = env.run(&["export", "prod"]);
    assert_code(&out, STS_REFUSED, "an error Code with a newline");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr
            .lines()
            .any(|l| l.trim_start().starts_with("hint: run rm")),
        "a forged hint line: {stderr}"
    );
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.trim_start().starts_with("hint:"))
            .count(),
        1,
        "{stderr}"
    );
}

// --- point 7: core dumps ---------------------------------------------------------------

fn core_limit(limits: &str, which: usize) -> Option<String> {
    limits
        .lines()
        .filter(|l| l.starts_with("Max core file size"))
        .nth(which)
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
}

/// `exec --fork` used to hold the master identity and the session in a dumpable process with
/// the user's core limit; now vault runs with RLIMIT_CORE 0 (and non-dumpable), and gives its
/// child the soft limit it was started with.
#[test]
fn vault_dumps_no_core_and_its_child_gets_the_core_limit_back() {
    let env = plain_vault();
    let cases: [&[&str]; 3] = [
        &["exec", "--fork", "--no-session", "prod", "--"],
        &["exec", "--server", "--lazy", "prod", "--"],
        &["exec", "--no-session", "prod", "--"],
    ];
    for case in cases {
        let mut args = case.to_vec();
        // The parent's limits (vault's, under --fork/--server), then the child's own.
        args.extend(["sh", "-c", "cat /proc/$PPID/limits /proc/self/limits"]);
        let c = env.cmd(&args);
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -S -c unlimited && exec "$@""#)
            .arg("sh")
            .arg(c.get_program())
            .args(c.get_args())
            .env_clear()
            .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if out.status.code() == Some(1) && out.stdout.is_empty() {
            eprintln!("SKIP: the hard core limit is not unlimited here");
            return;
        }
        assert_success(&out, &args);
        let text = String::from_utf8_lossy(&out.stdout);
        let child = core_limit(&text, 1);
        assert_eq!(
            child.as_deref(),
            Some("unlimited"),
            "{case:?}: child {text}"
        );
        if case.contains(&"--fork") || case.contains(&"--server") {
            assert_eq!(
                core_limit(&text, 0).as_deref(),
                Some("0"),
                "{case:?}: vault {text}"
            );
        }
    }
}
