//! Black-box tests of issue 13's remaining points: a second agent that kept the retired
//! identity after `vault rekey` (point 2), files restored from before a rekey (point 4), and a
//! forged slot asking for the most Argon2id the bounds allow (point 15).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const TAMPERED: i32 = 65;
const FAILURE: i32 = 1;
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A command through the agent whose sockets are in `run` (a runtime dir under the Env), for
/// the vault spelled `vault_dir`.
fn agent_cmd(env: &Env, run: &str, vault_dir: &Path, args: &[&str], with_pass: bool) -> Command {
    let mut c = env.cmd(args);
    c.env_remove("VAULT_NO_AGENT")
        .env("XDG_RUNTIME_DIR", env.path(run))
        .env("VAULT_DIR", vault_dir);
    if !with_pass {
        c.env_remove("VAULT_PASSPHRASE_FILE");
    }
    c
}

fn private_dir(env: &Env, rel: &str) -> PathBuf {
    let dir = env.path(rel);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    dir
}

/// Stops the agents of the given runtime dirs whatever happens.
struct StopAgents<'a>(&'a Env, Vec<&'static str>);
impl Drop for StopAgents<'_> {
    fn drop(&mut self) {
        for run in &self.1 {
            let _ = agent_cmd(self.0, run, &self.0.dir, &["lock", "--stop"], false).output();
        }
    }
}

fn add(mut c: Command, id: &str) -> Output {
    c.env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `vault export PROFILE --no-session` unlocked in this process: whether the stored key opens
/// under the vault's current slot.
fn opens(env: &Env, profile: &str) -> Output {
    env.run(&["export", profile, "--no-session", "--format", "json"])
}

// --- point 2: a second agent serving the same vault ---------------------------------------

/// Two agents served one vault: one reached through another spelling of its path (a symlink
/// to a parent), one in another runtime directory. `vault rekey` stopped only the agent at
/// its own socket path; the others kept the retired identity and sealed new keys to it, which
/// the vault could not open afterwards. Now every spelling reaches the one agent (its socket
/// is named after the directory's device and inode), and an agent in another runtime
/// directory sees the slot's generation change before it seals, locks itself and refuses.
#[test]
fn no_agent_seals_to_the_identity_a_rekey_retired() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, SECRET);
    std::os::unix::fs::symlink(env.tmp.path(), env.path("alias")).unwrap();
    let alias = env.path("alias/vault");
    private_dir(&env, "run2");
    let _stop = StopAgents(&env, vec!["run", "run2"]);

    // Agent A, through the alias; agent B, in another runtime dir.
    let out = agent_cmd(&env, "run", &alias, &["unlock"], true)
        .output()
        .unwrap();
    assert_success(&out, &["unlock agent A through the alias"]);
    let out = agent_cmd(&env, "run2", &env.dir, &["unlock"], true)
        .output()
        .unwrap();
    assert_success(&out, &["unlock agent B in run2"]);

    // Rekey through the plain spelling: it stops the agent it reaches.
    let out = agent_cmd(&env, "run", &env.dir, &["rekey"], true)
        .output()
        .unwrap();
    assert_success(&out, &["rekey"]);

    // Through the alias: the same (stopped) agent, so a fresh one unlocks the new identity.
    let out = add(
        agent_cmd(&env, "run", &alias, &["add", "dev", "--env"], true),
        KEY_ID,
    );
    assert_success(&out, &["add dev through the alias after the rekey"]);
    assert_success(&opens(&env, "dev"), &["dev sealed to the current identity"]);

    // Agent B still holds the retired identity: it refuses to seal and locks itself.
    let out = add(
        agent_cmd(&env, "run2", &env.dir, &["add", "qa", "--env"], false),
        KEY_ID,
    );
    let err = stderr(&out);
    assert_code(&out, FAILURE, "a stale agent sealing");
    assert!(
        err.contains("rekeyed since it was unlocked")
            && err.contains("hint: run the command again"),
        "{err}"
    );
    assert!(
        !env.item("key.qa").exists(),
        "nothing may be written by a stale agent"
    );
    let out = agent_cmd(&env, "run2", &env.dir, &["status", "--json"], false)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["agent"]["unlocked"], false, "{status}");
    // Run again: it unlocks with the new identity and the key opens.
    let out = add(
        agent_cmd(&env, "run2", &env.dir, &["add", "qa", "--env"], true),
        KEY_ID,
    );
    assert_success(&out, &["add qa again"]);
    assert_success(&opens(&env, "qa"), &["qa sealed to the current identity"]);
    assert_success(&opens(&env, "prod"), &["prod after everything"]);
}

// --- point 4: rollback ----------------------------------------------------------------------

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

/// Restoring the pre-rekey slot made the (possibly leaked) old identity live again: `vault
/// add` sealed new keys to it. Now the newest generation seen is recorded outside the vault
/// directory and the older slot is refused (exit 65), with a hint naming the record.
#[test]
fn a_slot_restored_from_before_a_rekey_is_refused() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, SECRET);
    let backup = private_dir(&env, "backup");
    for f in ["slot.passphrase.age", "key.prod.age"] {
        copy(&env.dir.join(f), &backup.join(f));
    }
    env.ok(&["rekey"]);

    // The slot alone: `add` would seal to the retired identity.
    copy(
        &backup.join("slot.passphrase.age"),
        &env.dir.join("slot.passphrase.age"),
    );
    let out = add(env.cmd(&["add", "dev", "--env"]), KEY_ID);
    assert_code(&out, TAMPERED, "add under the pre-rekey slot");
    let err = stderr(&out);
    assert!(
        err.contains("older generation of this vault")
            && err.contains("hint: a file older than the vault's last `vault rekey` was restored")
            && err.contains(".local/state/vault/generation-"),
        "{err}"
    );
    assert!(!env.item("key.dev").exists(), "nothing may be sealed");

    // The slot and the key together (a whole backup): the old key is not served.
    copy(&backup.join("key.prod.age"), &env.item("key.prod"));
    assert_code(
        &opens(&env, "prod"),
        TAMPERED,
        "export from the pre-rekey backup",
    );

    // On purpose: removing the record (as the hint says) opens the restored vault again.
    let state = env.path("home/.local/state/vault");
    for f in std::fs::read_dir(&state).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    assert_success(&opens(&env, "prod"), &["the restored vault, on purpose"]);
}

/// The running agent remembers the newest generation it unlocked: with no record on disk
/// (another XDG_STATE_HOME), it still refuses an older slot.
#[test]
fn the_agent_refuses_a_slot_older_than_one_it_unlocked() {
    let env = Env::init();
    let backup = private_dir(&env, "backup");
    copy(&env.dir.join("slot.passphrase.age"), &backup.join("slot"));
    env.ok(&["rekey"]);
    let _stop = StopAgents(&env, vec!["run"]);
    let agent = |args: &[&str], state: &str| {
        let mut c = agent_cmd(&env, "run", &env.dir, args, true);
        c.env("XDG_STATE_HOME", env.path(state));
        c.output().unwrap()
    };
    assert_success(&agent(&["unlock"], "state1"), &["unlock at generation 1"]);
    assert_success(&agent(&["lock"], "state1"), &["lock"]);
    copy(&backup.join("slot"), &env.dir.join("slot.passphrase.age"));
    let out = agent(&["unlock"], "state2");
    assert_code(&out, TAMPERED, "the agent unlocking the pre-rekey slot");
    assert!(
        stderr(&out).contains("this agent unlocked generation 1 before"),
        "{}",
        stderr(&out)
    );
}

/// A key item restored from before a rekey is sealed to the retired identity: it is refused
/// (exit 65), never served. (This already held before generations: the current identity
/// cannot open it.)
#[test]
fn a_key_restored_from_before_a_rekey_is_refused() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, SECRET);
    let old = env.path("key.prod.old");
    copy(&env.item("key.prod"), &old);
    env.ok(&["rekey"]);
    copy(&old, &env.item("key.prod"));
    assert_code(&opens(&env, "prod"), TAMPERED, "a pre-rekey key item");
}

/// The documented limit: an older copy of a key of the SAME generation (a key replaced by
/// `vault add` and then restored from a backup) is sealed to the current identity under the
/// current generation, and nothing records which copy is newest: it is served. SECURITY.md
/// says so; this test pins it, so a fix that detects it updates both.
#[test]
fn a_key_restored_within_one_generation_is_not_detected() {
    let env = Env::init();
    env.add_key("prod", "AKIAOLDOLDOLDOLDOLD1", SECRET);
    let old = env.path("key.prod.old");
    copy(&env.item("key.prod"), &old);
    env.add_key("prod", KEY_ID, SECRET);
    copy(&old, &env.item("key.prod"));
    let out = opens(&env, "prod");
    assert_success(&out, &["the restored same-generation key"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("AKIAOLDOLDOLDOLDOLD1"));
}

// --- point 15: a forged slot at the bounds ---------------------------------------------------

/// Rewrites the slot's KDF parameters (the MAC then fails, but only after the KDF ran).
fn forge_params(env: &Env, params: &str) {
    let path = env.dir.join("slot.passphrase.age");
    let slot = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&slot);
    let line = text.lines().nth(1).unwrap().to_owned();
    let parts: Vec<&str> = line.split(' ').collect();
    let forged = format!(
        "{} {} {} {} {params}",
        parts[0], parts[1], parts[2], parts[3]
    );
    let at = slot
        .windows(line.len())
        .position(|w| w == line.as_bytes())
        .unwrap();
    let out = [&slot[..at], forged.as_bytes(), &slot[at + line.len()..]].concat();
    std::fs::write(&path, out).unwrap();
}

/// Runs `c` detached from any terminal (`setsid`), killing it after `limit`.
fn run_without_tty(c: Command, limit: Duration) -> (Option<Output>, Duration) {
    let mut wrapped = Command::new("setsid");
    wrapped.arg("-w").arg(c.get_program()).args(c.get_args());
    wrapped.env_clear();
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    let start = Instant::now();
    let mut child = wrapped
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (Some(child.wait_with_output().unwrap()), start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (None, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A slot forged to the most the bounds allow (m = 4 GiB, t = 10, p = 16) used to cost about a
/// minute and 4.2 GB per unlock attempt. Without a terminal it is now refused before the KDF
/// (in-process and through the agent), with a hint naming the override.
#[test]
fn a_forged_slot_at_the_kdf_bounds_is_refused_at_once_without_a_terminal() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, SECRET);
    forge_params(&env, "4194304 10 16");
    let _stop = StopAgents(&env, vec!["run"]);
    let in_process = env.cmd(&["export", "prod", "--no-session"]);
    let through_agent = agent_cmd(
        &env,
        "run",
        &env.dir,
        &["export", "prod", "--no-session"],
        true,
    );
    for (what, c) in [
        ("in-process", in_process),
        ("through the agent", through_agent),
    ] {
        let (out, took) = run_without_tty(c, Duration::from_secs(10));
        let out = out.unwrap_or_else(|| panic!("{what}: still running the KDF after {took:?}"));
        assert_code(&out, TAMPERED, what);
        let err = stderr(&out);
        assert!(
            err.contains("far above what `vault init` sets")
                && err.contains("VAULT_ALLOW_SLOW_KDF=1"),
            "{what}: {err}"
        );
        assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
    }
}

/// Slots `init` makes are not asked about: the default (256 MiB, t = 3) opens without a
/// terminal, as the floor does in every other test.
#[test]
fn slots_init_makes_open_without_a_terminal() {
    let env = Env::new();
    env.ok(&["init", "--kdf-memory", "256", "--kdf-time", "3"]);
    env.add_key("prod", KEY_ID, SECRET);
    let (out, _) = run_without_tty(
        env.cmd(&["export", "prod", "--no-session"]),
        Duration::from_secs(60),
    );
    assert_success(
        &out.expect("export hangs"),
        &["export at init's default cost"],
    );
}
