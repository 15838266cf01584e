//! Black-box tests of the unlock agent (issue 4): one passphrase per session, idle lock,
//! single-flight refresh against moto, and isolation between real Unix users.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const LOCKED: i32 = 79;
const UNSAFE: i32 = 80;

/// An Env whose commands use the agent (private XDG_RUNTIME_DIR) and no passphrase source
/// unless `with_pass`.
fn agent_cmd(env: &Env, args: &[&str], with_pass: bool) -> Command {
    let mut c = env.cmd(args);
    c.env_remove("VAULT_NO_AGENT");
    if !with_pass {
        c.env_remove("VAULT_PASSPHRASE_FILE");
    }
    c
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

/// Stops the test's agent whatever happens.
struct StopAgent<'a>(&'a Env);
impl Drop for StopAgent<'_> {
    fn drop(&mut self) {
        let _ = agent_cmd(self.0, &["lock", "--stop"], false).output();
    }
}

fn agent_pid(env: &Env) -> u32 {
    let out = run(agent_cmd(env, &["status", "--json"], false));
    assert_success(&out, &["status"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["agent"]["pid"].as_u64().expect("agent running") as u32
}

#[test]
fn one_unlock_serves_fifty_commands_until_lock_or_idle_timeout() {
    let env = Env::init();
    let _stop = StopAgent(&env);
    env.add_key("prod", "AKIAAGENT", "agent-secret");
    assert_code(
        &run(agent_cmd(&env, &["export", "prod", "--no-session"], false)),
        LOCKED,
        "before unlock",
    );
    assert_success(&run(agent_cmd(&env, &["unlock"], true)), &["unlock"]);
    for i in 0..50 {
        let out = run(agent_cmd(
            &env,
            &[
                "exec",
                "prod",
                "--no-session",
                "--",
                "sh",
                "-c",
                "test \"$AWS_ACCESS_KEY_ID\" = AKIAAGENT",
            ],
            false,
        ));
        assert_success(&out, &[&format!("exec {i} without a passphrase")]);
    }
    // Writes go through the agent too.
    let out = run({
        let mut c = agent_cmd(&env, &["add", "other", "--env", "--force"], false);
        c.env("AWS_ACCESS_KEY_ID", "AKIAOTHER")
            .env("AWS_SECRET_ACCESS_KEY", "o");
        c
    });
    assert_success(&out, &["add through the agent"]);
    assert_success(&run(agent_cmd(&env, &["lock"], false)), &["lock"]);
    assert_code(
        &run(agent_cmd(&env, &["export", "prod", "--no-session"], false)),
        LOCKED,
        "after lock",
    );
    // The agent itself never hands out the identity: status has no key material.
    assert_success(&run(agent_cmd(&env, &["unlock"], true)), &["unlock again"]);
    let status = run(agent_cmd(&env, &["status", "--json"], false));
    assert!(!contains(&status.stdout, b"AGE-SECRET-KEY"));
}

#[test]
fn real_short_idle_timeout_locks() {
    let env = Env::init();
    let _stop = StopAgent(&env);
    env.add_key("prod", "AKIAAGENT", "agent-secret");
    let mut c = agent_cmd(&env, &["unlock"], true);
    c.env("VAULT_AGENT_TIMEOUT", "2");
    assert_success(&run(c), &["unlock with a 2 s timeout"]);
    assert_success(
        &run(agent_cmd(&env, &["export", "prod", "--no-session"], false)),
        &["export at once"],
    );
    std::thread::sleep(Duration::from_millis(3500));
    assert_code(
        &run(agent_cmd(&env, &["export", "prod", "--no-session"], false)),
        LOCKED,
        "after the idle timeout",
    );
}

#[test]
fn sigkill_of_the_agent_loses_nothing_and_a_new_one_starts() {
    let env = Env::init();
    let _stop = StopAgent(&env);
    env.add_key("before", "AKIABEFORE", "b");
    assert_success(&run(agent_cmd(&env, &["unlock"], true)), &["unlock"]);
    let pid = agent_pid(&env);
    // Writers in flight through the agent while it is killed.
    let mut writers = vec![];
    for i in 0..6 {
        let mut c = agent_cmd(&env, &["add", &format!("p{i}"), "--env", "--force"], false);
        c.env("AWS_ACCESS_KEY_ID", format!("AKIAKILL{i}"))
            .env("AWS_SECRET_ACCESS_KEY", "s");
        writers.push(
            c.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    std::thread::sleep(Duration::from_millis(30));
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    for mut w in writers {
        let _ = w.wait();
    }
    // A new agent starts on demand (with the passphrase), and every stored item opens to the
    // key it was written with: the one stored before the kill, and each writer's that landed.
    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
    let keys: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(keys.contains(&"before"), "{keys:?}");
    for p in keys {
        let out = run(agent_cmd(
            &env,
            &["export", p, "--no-session", "-f", "json"],
            true,
        ));
        assert_success(&out, &["export after the agent was killed"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let want = match p.strip_prefix('p') {
            Some(i) => format!("AKIAKILL{i}"),
            None => "AKIABEFORE".into(),
        };
        assert_eq!(v["AWS_ACCESS_KEY_ID"], want.as_str(), "{p}");
    }
    let new_pid = agent_pid(&env);
    assert_ne!(new_pid, pid);
}

#[test]
fn planted_or_symlinked_runtime_dir_is_refused() {
    let env = Env::init();
    let run_dir = env.path("run/vault");
    // A symlink where the runtime dir should be.
    std::os::unix::fs::symlink(env.path("tmp"), &run_dir).unwrap();
    let out = run(agent_cmd(&env, &["unlock"], true));
    assert_code(&out, UNSAFE, "symlinked runtime dir");
    std::fs::remove_file(&run_dir).unwrap();
    // World-writable.
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_code(
        &run(agent_cmd(&env, &["unlock"], true)),
        UNSAFE,
        "0777 runtime dir",
    );
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Pre-created by another real user.
    if require(
        "root to create a second Unix user",
        is_root() && have("useradd"),
    ) {
        let uid = ensure_user("vaulttest-b");
        rustix::fs::chown(&run_dir, Some(rustix::process::Uid::from_raw(uid)), None).unwrap();
        let out = run(agent_cmd(&env, &["unlock"], true));
        assert_code(&out, UNSAFE, "runtime dir owned by another user");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("uid {uid}")));
    }
}

/// Connects to the socket in argv[1] as whoever runs it, sends hello + status, prints what came
/// back (b'' when the agent closed the connection without answering).
const PROBE: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
print('CONNECTED', flush=True)
try:
    s.sendall(b'{"hello":{"version":5}}\n"status"\n')
    s.settimeout(5)
    d = s.recv(65536)
except (ConnectionResetError, BrokenPipeError):
    d = b''
print(repr(d))
"#;

/// Runs `args` as `user` with a minimal environment.
fn as_user(user: &str, envs: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut c = Command::new("runuser");
    c.args(["-u", user, "--", "env", "-i", "PATH=/usr/bin:/bin"]);
    for (k, v) in envs {
        c.arg(format!("{k}={}", v.display()));
    }
    c.args(args).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn another_user_cannot_reach_the_agent_or_the_vault_and_the_agent_is_not_dumpable() {
    if !require(
        "root to run as two real Unix users",
        is_root() && have("runuser"),
    ) {
        return;
    }
    let a = "vaulttest-a";
    let uid_a = ensure_user(a);
    ensure_user("vaulttest-b");
    // A world-traversable base with user A's private home inside.
    let base = tempfile::Builder::new()
        .prefix("vault-mu")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = base.path().join("vault");
    for (from, to) in [(BIN, bin.clone()), (CORE, base.path().join("vault-core"))] {
        std::fs::copy(from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let home = base.path().join("a");
    std::fs::create_dir(&home).unwrap();
    write_secret(&home.join("pass"), "user a passphrase\n");
    for p in [home.clone(), home.join("pass")] {
        rustix::fs::chown(&p, Some(rustix::process::Uid::from_raw(uid_a)), None).unwrap();
    }
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let vault_dir = home.join("vault");
    let run_dir = home.join("run");
    let envs: Vec<(&str, &Path)> = vec![
        ("VAULT_DIR", &vault_dir),
        ("XDG_RUNTIME_DIR", &run_dir),
        ("HOME", &home),
    ];
    let a_run = |args: &[&str], pass: bool| {
        let mut e = envs.clone();
        let passfile = home.join("pass");
        if pass {
            e.push(("VAULT_PASSPHRASE_FILE", &passfile));
        }
        let mut full = vec![bin.to_str().unwrap()];
        full.extend_from_slice(args);
        as_user(a, &e, &full)
    };
    assert_success(
        &as_user(a, &envs, &["mkdir", "-m", "700", run_dir.to_str().unwrap()]),
        &["mkdir run"],
    );
    assert_success(
        &a_run(&["init", "--kdf-memory", "64"], true),
        &["init as A"],
    );
    assert_success(&a_run(&["unlock"], true), &["unlock as A"]);
    let status: serde_json::Value =
        serde_json::from_slice(&a_run(&["status", "--json"], false).stdout).unwrap();
    let pid = status["agent"]["pid"].as_u64().unwrap();
    // Whatever the assertions do, the agent does not outlive the test.
    let stop = || {
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
    };
    let result = std::panic::catch_unwind(|| {
        let socket = PathBuf::from(status["agent"]["socket"].as_str().unwrap());

        // Non-dumpable: the kernel makes /proc/PID/mem root's, not A's.
        let meta = std::fs::metadata(format!("/proc/{pid}/mem")).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            0,
            "agent is dumpable"
        );
        let proc_status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let vmlck: u64 = proc_status
            .lines()
            .find(|l| l.starts_with("VmLck:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(vmlck > 0, "master key page not locked: {proc_status}");

        // B cannot read A's vault files.
        let slot = vault_dir.join("slot.passphrase.age");
        let out = as_user("vaulttest-b", &[], &["cat", slot.to_str().unwrap()]);
        assert!(!out.status.success(), "B read A's slot");

        // Loosen every mode on the way to the socket: the peer-uid check still refuses B.
        for p in [
            home.clone(),
            run_dir.clone(),
            run_dir.join("vault"),
            socket.clone(),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let probe = PROBE;
        let out = as_user(
            "vaulttest-b",
            &[],
            &["/usr/bin/python3", "-c", probe, socket.to_str().unwrap()],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("CONNECTED"),
            "the probe did not reach the socket: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("b''"),
            "B got an answer from A's agent: {text}"
        );
        // A still can.
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(
            run_dir.join("vault"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        let out = a_run(&["status"], false);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("unlocked"),
            "{out:?}"
        );
    });
    let _ = stop();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// 20 parallel `vault exec` with no cached session: one GetSessionToken, one AssumeRole,
/// and the MFA process ran once.
#[test]
fn twenty_parallel_execs_make_one_sts_call_per_step_and_one_mfa_prompt() {
    let Some(moto) = Moto::start(&[]) else { return };
    let env = Env::init();
    let _stop = StopAgent(&env);
    let counter = env.path("mfa-runs");
    std::fs::write(
        env.path("home/aws-config"),
        format!(
            "[profile src]\nregion = us-east-1\nmfa_serial = arn:aws:iam::123456789012:mfa/p\nmfa_process = echo run >> {} && echo 111222\n\n[profile prod]\nsource_profile = src\nrole_arn = arn:aws:iam::123456789012:role/prod\n",
            counter.display()
        ),
    )
    .unwrap();
    env.add_key("src", "AKIAPARALLEL", "parallel-secret");
    assert_success(&run(agent_cmd(&env, &["unlock"], true)), &["unlock"]);
    let children: Vec<_> = (0..20)
        .map(|_| {
            let mut c = agent_cmd(&env, &["exec", "prod", "--", "true"], false);
            c.env("AWS_ENDPOINT_URL_STS", moto.url())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_success(&out, &["parallel exec"]);
    }
    assert_eq!(moto.count("GetSessionToken"), 1);
    assert_eq!(moto.count("AssumeRole"), 1);
    let runs = std::fs::read_to_string(&counter).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "mfa_process ran {} times",
        runs.lines().count()
    );
    // With the agent unlocked, list shows each session's time left without a passphrase.
    let list = run(agent_cmd(&env, &["list"], false));
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("prod") && text.contains("59 min left"),
        "{text}"
    );
    assert!(
        text.contains("src") && text.contains("479 min left"),
        "{text}"
    );
}
