//! Black-box tests of issue 13's slot-writer points: one vault-wide writer lock held across
//! every read-modify-write of a slot (point 1). The race is driven deterministically: the
//! new passphrase comes from a FIFO the test writes only once the other writer had its
//! chance, so `passwd` is parked between reading the slot and writing it.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

const WRONG_PASSPHRASE: i32 = 77;
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const NEW_PASS: &str = "a new passphrase, typed slowly";

/// Waits up to `limit` for `child`; `None` if it is still running.
fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stderr_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `passwd` read the slot, waited for the new passphrase while `rekey` moved every key to a
/// new identity, then wrote the *old* identity under the new passphrase: every key lost.
#[test]
fn passwd_racing_rekey_loses_no_key() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, SECRET);
    let fifo = env.path("new-pass.fifo");
    mkfifo(&fifo);
    let new_file = env.path("new-pass");
    write_secret(&new_file, &format!("{NEW_PASS}\n"));

    let mut passwd = env.cmd(&["passwd"]);
    passwd
        .env("VAULT_NEW_PASSPHRASE_FILE", &fifo)
        .stderr(Stdio::piped());
    let mut passwd = passwd.spawn().unwrap();
    // Opening the FIFO to write returns once passwd opens it to read: it has read the slot
    // and opened it with the current passphrase by then.
    let (tx, rx) = mpsc::channel();
    let at = fifo.clone();
    std::thread::spawn(move || {
        let w = std::fs::OpenOptions::new().write(true).open(at);
        let _ = tx.send(w);
    });
    let mut writer = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("passwd never asked for the new passphrase")
        .unwrap();

    let mut rekey = env.cmd(&["rekey"]);
    rekey.stderr(Stdio::piped());
    let mut rekey = rekey.spawn().unwrap();
    // Unserialised, the rekey finishes now; with the lock it waits for passwd. Either way it
    // gets up to 10 s before passwd is let go.
    let early = wait_for(&mut rekey, Duration::from_secs(10));
    writer
        .write_all(format!("{NEW_PASS}\n").as_bytes())
        .unwrap();
    drop(writer);

    assert!(
        wait_for(&mut passwd, Duration::from_secs(60)).is_some(),
        "passwd hangs"
    );
    let passwd_status = passwd.try_wait().unwrap().unwrap();
    let passwd_err = stderr_of(passwd);
    assert!(passwd_status.success(), "passwd: {passwd_err}");
    let rekey_status = early
        .or_else(|| wait_for(&mut rekey, Duration::from_secs(60)))
        .expect("rekey hangs");
    let rekey_err = stderr_of(rekey);
    // Serialised after passwd, the rekey finds the passphrase changed.
    assert!(
        rekey_status.success() || rekey_status.code() == Some(WRONG_PASSPHRASE),
        "rekey: {rekey_err}"
    );

    // Whatever the order, the key opens under the passphrase the slot has now.
    let out = env.run_env(
        &["export", "prod", "--no-session", "--format", "json"],
        &[("VAULT_PASSPHRASE_FILE", new_file.to_str().unwrap())],
    );
    assert_success(&out, &["export prod after passwd and rekey"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(KEY_ID));
}

// --- point 13: the vault directory's ancestors ---------------------------------------------

const UNSAFE: i32 = 80;

/// Another user who owns a parent of the vault directory (or can write to a parent that is
/// not sticky) can rename the vault away and plant one of their own; vault used to check
/// only the directory itself. Now every ancestor is checked, as sshd's StrictModes does.
#[test]
fn a_vault_under_a_directory_another_user_controls_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let parent = env.path("theirs");
    std::fs::create_dir(&parent).unwrap();
    let vault_dir = parent.join("vault");
    let init = |dir: &Path| {
        let mut c = env.cmd(&["init", "--kdf-memory", "64", "--kdf-time", "3"]);
        c.env("VAULT_DIR", dir);
        c.output().unwrap()
    };
    // Writable by everyone, not sticky.
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = init(&vault_dir);
    assert_code(&out, UNSAFE, "a world-writable parent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&parent.display().to_string()) && stderr.contains("rename"),
        "{stderr}"
    );
    // Owned by another real user.
    if !require("root (to make a second user)", is_root()) {
        return;
    }
    let uid = ensure_user("vaulttest-parent");
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&parent, Some(uid), None).unwrap();
    let out = init(&vault_dir);
    assert_code(&out, UNSAFE, "a parent another user owns");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("owned by uid {uid}")), "{stderr}");
    // The same vault under a directory of ours is fine.
    std::os::unix::fs::chown(&parent, Some(rustix_uid()), None).unwrap();
    assert_success(&init(&vault_dir), &["init under our own directory"]);
}

fn rustix_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
