//! Integration tests of the `pass` and `helper` backends against the real programs: `pass` with
//! GnuPG in a throwaway key ring and store, Debian's `docker-credential-pass` as a helper, and
//! small misbehaving helper scripts.
//!
//! A missing program skips its test with a "SKIP:" line, or fails it when `CI=true`.
//! (Debian: `apt-get install pass gnupg golang-docker-credential-helpers`, or scripts/setup.sh.)
//!
//! The tests change process-wide environment variables (GNUPGHOME, PASSWORD_STORE_DIR, PATH),
//! so each takes `ENV_LOCK` for its whole run, and every pass check lives in one test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use vault_backends::{Backend, HelperBackend, PassBackend};

static ENV_LOCK: Mutex<()> = Mutex::new(());

fn env_lock() -> MutexGuard<'static, ()> {
    ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `program` is on PATH; if not, fails under CI and otherwise says why it skips.
fn have(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        let why = format!("{program} is not installed (Debian package {package})");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}; CI=true, so this is a failure");
        }
        eprintln!("SKIP: {why}");
    }
    found
}

/// Runs a command that must succeed; returns its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A private directory (gpg insists on 0700 for its home).
fn private_dir(path: &Path) -> PathBuf {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o700)).unwrap();
    path.to_owned()
}

/// Kills the gpg-agents started in these homes, even when a check panics.
struct AgentKiller(Vec<PathBuf>);

impl Drop for AgentKiller {
    fn drop(&mut self) {
        for home in &self.0 {
            let _ = Command::new("gpgconf")
                .args(["--kill", "gpg-agent"])
                .env("GNUPGHOME", home)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Restores an environment variable when dropped.
struct EnvRestore(&'static str, Option<std::ffi::OsString>);

impl EnvRestore {
    fn set(key: &'static str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        let old = std::env::var_os(key);
        std::env::set_var(key, value);
        EnvRestore(key, old)
    }
}

impl Drop for EnvRestore {
    fn drop(&mut self) {
        match &self.1 {
            Some(v) => std::env::set_var(self.0, v),
            None => std::env::remove_var(self.0),
        }
    }
}

/// Sample values: age ciphertext is arbitrary bytes.
fn value(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn git_commits(store: &Path) -> usize {
    run(Command::new("git")
        .arg("-C")
        .arg(store)
        .args(["rev-list", "--count", "HEAD"]))
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn pass_backend_and_docker_credential_pass() {
    let _lock = env_lock();
    if !(have("pass", "pass") && have("gpg", "gnupg") && have("gpgconf", "gnupg")) {
        return;
    }
    // Short: gpg-agent's socket path must fit in 108 bytes.
    let tmp = tempfile::Builder::new()
        .prefix("vt")
        .tempdir_in("/tmp")
        .unwrap();
    let gnupg = private_dir(&tmp.path().join("g"));
    let empty_gnupg = private_dir(&tmp.path().join("e"));
    let store = tmp.path().join("s");
    let _agents = AgentKiller(vec![gnupg.clone(), empty_gnupg.clone()]);

    let params = "%no-protection\nKey-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\n\
                  Subkey-Type: ecdh\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\n\
                  Name-Real: vault test\nName-Email: vault-test@example.invalid\n\
                  Expire-Date: 0\n%commit\n";
    let params_file = tmp.path().join("params");
    fs::write(&params_file, params).unwrap();
    run(Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .args(["--batch", "--quiet", "--gen-key"])
        .arg(&params_file));
    let listing = run(Command::new("gpg").env("GNUPGHOME", &gnupg).args([
        "--batch",
        "--with-colons",
        "--list-secret-keys",
    ]));
    let fingerprint = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.trim_matches(':').split(':').next_back())
        .expect("no fingerprint")
        .to_owned();

    let _gnupghome = EnvRestore::set("GNUPGHOME", &gnupg);
    let _store_dir = EnvRestore::set("PASSWORD_STORE_DIR", &store);
    let _gpg_opts = EnvRestore::set("PASSWORD_STORE_GPG_OPTS", "");
    // Before `pass init` there is no store: an error, not an empty vault.
    let b = PassBackend::new("vault").unwrap();
    let err = b.get("key.prod").unwrap_err().to_string();
    assert!(err.contains("pass init"), "{err}");
    assert!(b.list().unwrap_err().to_string().contains("pass init"));
    let err = b.set("key.prod", b"x").unwrap_err().to_string();
    assert!(err.contains("pass init"), "{err}");

    run(Command::new("pass").args(["init", &fingerprint]));

    // Round trip.
    assert_eq!((b.kind(), b.store()), ("pass", store.as_path()));
    assert_eq!(b.location(), store.join("vault").display().to_string());
    assert_eq!(b.list().unwrap(), Vec::<String>::new());
    assert_eq!(b.get("key.prod").unwrap(), None);
    assert!(!b.remove("key.prod").unwrap());
    // `big`: the largest item a backend reads is 64 KiB (MAX_ITEM); real items are < 1 KiB.
    let (one, two, big) = (value(1, 300), value(2, 7), value(3, 60_000));
    b.set("key.prod", &one).unwrap();
    assert_eq!(b.get("key.prod").unwrap(), Some(one));
    b.set("key.prod", &two).unwrap();
    assert_eq!(b.get("key.prod").unwrap(), Some(two.clone()));
    b.set("slot.passphrase", &big).unwrap();
    assert_eq!(b.get("slot.passphrase").unwrap(), Some(big));
    b.set("session.prod.0a1b2c3d4e5f6789", b"").unwrap();
    assert_eq!(
        b.get("session.prod.0a1b2c3d4e5f6789").unwrap(),
        Some(Vec::new())
    );
    // Names that look like options or hold profile-name punctuation.
    for odd in ["-rf", "--force", "key.a@b+c=d,e:f"] {
        b.set(odd, odd.as_bytes()).unwrap();
        assert_eq!(b.get(odd).unwrap().as_deref(), Some(odd.as_bytes()));
    }
    assert!(store.join("vault/key.prod.gpg").is_file());
    // The value is base64 inside the entry, never plaintext in pass's arguments.
    let shown = run(Command::new("pass").args(["show", "vault/key.prod"]));
    use base64::Engine as _;
    assert_eq!(
        shown.trim(),
        base64::engine::general_purpose::STANDARD.encode(&two)
    );
    // Entries outside the prefix are not vault's.
    run(Command::new("pass").args(["insert", "--multiline", "other/key.x"]));
    assert_eq!(
        b.list().unwrap(),
        vec![
            "--force",
            "-rf",
            "key.a@b+c=d,e:f",
            "key.prod",
            "session.prod.0a1b2c3d4e5f6789",
            "slot.passphrase"
        ]
    );
    assert!(b.remove("-rf").unwrap());
    assert!(b.remove("--force").unwrap());
    assert!(b.remove("key.a@b+c=d,e:f").unwrap());
    assert!(b.remove("session.prod.0a1b2c3d4e5f6789").unwrap());
    assert!(!b.remove("session.prod.0a1b2c3d4e5f6789").unwrap());
    assert_eq!(b.list().unwrap(), vec!["key.prod", "slot.passphrase"]);
    assert_eq!(b.get("session.prod.0a1b2c3d4e5f6789").unwrap(), None);
    assert!(b.set("", b"x").is_err());

    // A second prefix is a separate vault.
    let work = PassBackend::new("work/vault").unwrap();
    assert_eq!(work.get("key.prod").unwrap(), None);
    work.set("key.prod", b"w").unwrap();
    assert_eq!(work.list().unwrap(), vec!["key.prod"]);
    assert_eq!(b.get("key.prod").unwrap(), Some(two.clone()));
    assert!(PassBackend::new("../x").is_err());

    // An entry vault did not write is an error, not garbage.
    let mut insert = Command::new("pass")
        .args(["insert", "--multiline", "vault/foreign"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    insert
        .stdin
        .take()
        .unwrap()
        .write_all(b"hunter2 is my password\n")
        .unwrap();
    assert!(insert.wait().unwrap().success());
    let err = b.get("foreign").unwrap_err().to_string();
    assert!(
        err.contains("not a vault item") && !err.contains("hunter2"),
        "{err}"
    );
    assert!(b.remove("foreign").unwrap());

    // A broken gpg setup (no secret key) is an error with a hint, never Ok(None).
    {
        let _broken = EnvRestore::set("GNUPGHOME", &empty_gnupg);
        let err = b
            .get("key.prod")
            .expect_err("a gpg failure must be an error");
        let msg = err.to_string();
        assert!(msg.contains("pass show vault/key.prod"), "{msg}");
        // The next step is the error's own hint, kept apart from the message.
        let hint = err.hint().unwrap_or_default();
        assert!(hint.contains("gpg-agent running"), "{msg} / {hint}");
        // A missing entry is still told apart without gpg.
        assert_eq!(b.get("nothing.here").unwrap(), None);
    }
    assert_eq!(b.get("key.prod").unwrap(), Some(two.clone()));

    // No `pass` on PATH: a clear error.
    {
        let bare = private_dir(&tmp.path().join("bare"));
        let _path = EnvRestore::set("PATH", &bare);
        let msg = PassBackend::new("vault").unwrap_err().to_string();
        assert!(
            msg.contains("install") && msg.contains("pass init GPG-ID"),
            "{msg}"
        );
    }

    // In a store under git, every set is two commits (insert the scratch entry, mv it over the
    // item): 20 sets of one name add 40 commits.
    // (That is why the vault keeps its short-lived sessions out of pass.)
    {
        let _git = [
            EnvRestore::set("GIT_AUTHOR_NAME", "vault test"),
            EnvRestore::set("GIT_AUTHOR_EMAIL", "vault-test@example.invalid"),
            EnvRestore::set("GIT_COMMITTER_NAME", "vault test"),
            EnvRestore::set("GIT_COMMITTER_EMAIL", "vault-test@example.invalid"),
        ];
        if have("git", "git") {
            run(Command::new("pass").args(["git", "init"]));
            let before = git_commits(&store);
            for i in 0..20u8 {
                b.set("session.prod.0a1b2c3d4e5f6789", &value(i, 50))
                    .unwrap();
            }
            assert_eq!(git_commits(&store) - before, 40);
            assert!(b.remove("session.prod.0a1b2c3d4e5f6789").unwrap());
            assert_eq!(git_commits(&store) - before, 41);
        }
    }

    // docker-credential-pass, the real docker helper, as vault-backend-pass, on the same store.
    if !have("docker-credential-pass", "golang-docker-credential-helpers") {
        return;
    }
    let real = which("docker-credential-pass");
    let bin = private_dir(&tmp.path().join("bin"));
    std::os::unix::fs::symlink(&real, bin.join("vault-backend-pass")).unwrap();
    let _path = EnvRestore::set("PATH", prepend_path(&bin));
    let h = HelperBackend::new("pass", Duration::from_secs(30)).unwrap();
    assert_eq!(h.kind(), "helper:pass");
    assert_eq!(
        h.location(),
        bin.join("vault-backend-pass").display().to_string()
    );
    assert_eq!(h.get("key.prod").unwrap(), None);
    assert_eq!(h.list().unwrap(), Vec::<String>::new());
    assert!(!h.remove("key.prod").unwrap());
    let (h_one, h_two) = (value(5, 400), value(6, 3));
    h.set("key.prod", &h_one).unwrap();
    assert_eq!(h.get("key.prod").unwrap(), Some(h_one));
    h.set("key.prod", &h_two).unwrap();
    assert_eq!(h.get("key.prod").unwrap(), Some(h_two));
    h.set("slot.passphrase", b"s").unwrap();
    h.set("key.a@b+c=d,e:f", b"odd").unwrap();
    assert_eq!(
        h.get("key.a@b+c=d,e:f").unwrap().as_deref(),
        Some(&b"odd"[..])
    );
    assert_eq!(
        h.list().unwrap(),
        vec!["key.a@b+c=d,e:f", "key.prod", "slot.passphrase"]
    );
    assert!(store.join("docker-credential-helpers").is_dir());
    assert!(h.remove("key.prod").unwrap());
    assert!(!h.remove("key.prod").unwrap());
    assert_eq!(h.get("key.prod").unwrap(), None);
    assert_eq!(
        h.list().unwrap(),
        vec!["key.a@b+c=d,e:f", "slot.passphrase"]
    );
    // Through the helper too, a broken gpg is an error and not a missing item.
    {
        let _broken = EnvRestore::set("GNUPGHOME", &empty_gnupg);
        let err = h
            .get("slot.passphrase")
            .expect_err("a gpg failure must be an error");
        assert!(
            err.to_string().contains("vault-backend-pass failed on get"),
            "{err}"
        );
    }
    assert_eq!(
        h.get("slot.passphrase").unwrap().as_deref(),
        Some(&b"s"[..])
    );
    // The pass backend's own entries are untouched.
    assert_eq!(b.get("key.prod").unwrap(), Some(two));
}

fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap()
}

fn prepend_path(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_owned()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap()
}

fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(format!("vault-backend-{name}"));
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn misbehaving_helpers_give_clear_errors() {
    let _lock = env_lock();
    let tmp = tempfile::tempdir().unwrap();
    let bin = private_dir(&tmp.path().join("bin"));
    let timeout = Duration::from_secs(2);
    let secret = "c2VjcmV0IHRoYXQgbXVzdCBub3QgbGVhaw==";
    script(
        &bin,
        "badjson",
        &format!("cat >/dev/null; printf '%s' '{{\"ServerURL\": \"vault://x\", \"Secret\": \"{secret}\"'"),
    );
    script(
        &bin,
        "fail",
        "cat >/dev/null; echo 'error: the keychain is locked'; exit 1",
    );
    script(&bin, "sleeper", "sleep 1000");
    script(
        &bin,
        "nosecret",
        "cat >/dev/null; echo '{\"ServerURL\":\"vault://x\",\"Username\":\"vault\"}'",
    );
    script(
        &bin,
        "notfound",
        "cat >/dev/null; echo 'credentials not found in native keychain'; exit 1",
    );
    script(
        &bin,
        "leaky",
        &format!("cat >/dev/null; echo '{{\"Secret\":\"{secret}\"}} broke'; exit 2"),
    );
    // Not executable: not a helper.
    fs::write(bin.join("vault-backend-plain"), "#!/bin/sh\n").unwrap();
    let _path = EnvRestore::set("PATH", prepend_path(&bin));

    for missing in ["plain", "no-such-helper-xyz"] {
        let msg = HelperBackend::new(missing, timeout)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(&format!("no vault-backend-{missing} on PATH"))
                && msg.contains("docker-credential-"),
            "{msg}"
        );
    }
    assert!(HelperBackend::new("../bin/sh", timeout).is_err());

    let bad = HelperBackend::new("badjson", timeout).unwrap();
    for err in [bad.get("key.prod").unwrap_err(), bad.list().unwrap_err()] {
        let msg = err.to_string();
        assert!(
            msg.contains("vault-backend-badjson") && msg.contains("not valid JSON"),
            "{msg}"
        );
        assert!(!msg.contains(secret), "{msg}");
    }
    bad.set("key.prod", b"v").unwrap(); // store only looks at the exit status

    let fail = HelperBackend::new("fail", timeout).unwrap();
    for (op, err) in [
        ("get", fail.get("key.prod").unwrap_err()),
        ("store", fail.set("key.prod", b"v").unwrap_err()),
        ("erase", fail.remove("key.prod").unwrap_err()),
        ("list", fail.list().unwrap_err()),
    ] {
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("vault-backend-fail failed on {op}"))
                && msg.contains("exit status 1")
                && msg.contains("keychain is locked"),
            "{msg}"
        );
    }

    let leaky = HelperBackend::new("leaky", timeout).unwrap();
    let msg = leaky.get("key.prod").unwrap_err().to_string();
    assert!(
        msg.contains("exit status 2") && !msg.contains(secret),
        "{msg}"
    );

    let nosecret = HelperBackend::new("nosecret", timeout).unwrap();
    let msg = nosecret.get("key.prod").unwrap_err().to_string();
    assert!(
        msg.contains("vault-backend-nosecret") && msg.contains("no \"Secret\""),
        "{msg}"
    );

    let notfound = HelperBackend::new("notfound", timeout).unwrap();
    assert_eq!(notfound.get("key.prod").unwrap(), None);
    assert!(!notfound.remove("key.prod").unwrap());

    let sleeper = HelperBackend::new("sleeper", timeout).unwrap();
    for op in ["get", "list"] {
        let start = Instant::now();
        let err = if op == "get" {
            sleeper.get("key.prod").map(drop).unwrap_err()
        } else {
            sleeper.list().map(drop).unwrap_err()
        };
        let took = start.elapsed();
        let msg = err.to_string();
        assert!(
            msg.contains("vault-backend-sleeper hung") && msg.contains(op),
            "{msg}"
        );
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(3),
            "{took:?}"
        );
    }
}
