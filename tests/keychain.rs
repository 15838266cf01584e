//! The OS keychain through a helper (issue 5): gnome-keyring's Secret Service on a private
//! D-Bus session, reached by Debian's `docker-credential-secretservice` linked as
//! `vault-backend-secretservice`. The whole CLI round trip runs inside `dbus-run-session`.

mod common;

use std::process::Command;

use common::*;

/// Runs inside a private D-Bus session: unlocks a fresh login keyring, waits for the Secret
/// Service, then runs the vault round trip and prints what it saw.
const SCRIPT: &str = r#"
set -euo pipefail
eval "$(printf %s keyring-pw | gnome-keyring-daemon --unlock --components=secrets)"
for i in $(seq 100); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets | grep -q 'boolean true' && break
  sleep 0.1
done
V=$VAULT_BIN
"$V" --backend helper:secretservice init --kdf-memory 64
AWS_ACCESS_KEY_ID=AKIAKEYCHAIN AWS_SECRET_ACCESS_KEY=keychain-secret "$V" add prod --env
"$V" status
"$V" export prod --no-session --format credential-process
"$V" list
echo "LOCAL:"; ls "$VAULT_DIR"
"$V" remove -f prod
"$V" export prod --no-session >/dev/null 2>&1 && echo "STILL-THERE" || echo "GONE:$?"
"#;

#[test]
fn round_trip_through_the_secret_service() {
    let ok = have("dbus-run-session")
        && have("gnome-keyring-daemon")
        && have("docker-credential-secretservice");
    if !require(
        "dbus-run-session, gnome-keyring and docker-credential-secretservice",
        ok,
    ) {
        return;
    }
    let env = Env::new();
    let bin = env.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v docker-credential-secretservice"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(real.trim(), bin.join("vault-backend-secretservice")).unwrap();
    // gnome-keyring keeps its keyrings under XDG_DATA_HOME and its socket under XDG_RUNTIME_DIR.
    std::fs::create_dir_all(env.path("home/.local/share")).unwrap();
    let base = env.cmd(&[]);
    let out = Command::new("dbus-run-session")
        .args(["--", "bash", "-c", SCRIPT])
        .env_clear()
        .envs(
            base.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("XDG_DATA_HOME", env.path("home/.local/share"))
        .env("VAULT_BIN", BIN)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("backend:  helper"), "{stdout}");
    assert!(
        stdout.contains("\"SecretAccessKey\":\"keychain-secret\""),
        "{stdout}"
    );
    assert!(stdout.contains("GONE:66"), "{stdout}");
    // Only the backend record and the lock directory are local: the key and the slot are in
    // the keyring.
    let local = stdout.split("LOCAL:").nth(1).unwrap_or_default();
    assert!(
        !local.contains("key.prod") && !local.contains("slot."),
        "{local}"
    );
    assert!(!stdout.contains("AGE-SECRET-KEY"));
}

const CONFIG: &str = "[profile src]\nregion = us-east-1\n[profile prod]\nsource_profile = src\nrole_arn = arn:aws:iam::123456789012:role/prod\n";
const CANARY: &str = "keychain-canary-secret-8f3a";

/// A keychain service name no other test (or earlier run) uses.
fn service(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("vt-{tag}-{}-{nanos}", std::process::id())
}

fn need_keyctl() -> bool {
    require("keyctl (package keyutils)", have("keyctl"))
}

#[test]
fn round_trip_on_the_secret_service_and_the_kernel_keyring() {
    let Some(keyring) = Keyring::start() else {
        return;
    };
    if !need_keyctl() {
        return;
    }
    let Some(moto) = Moto::start(&[]) else { return };
    for backend in ["keychain", "keychain:keyutils"] {
        let mut env = Env::new();
        let svc = service("rt");
        if backend == "keychain" {
            env.vars = keyring.vars(&svc);
        } else {
            env.use_keyutils(&svc);
        }
        let items = || {
            if backend == "keychain" {
                keyring.items(&svc)
            } else {
                keyutils_items(&svc)
            }
        };
        std::fs::write(env.path("home/aws-config"), CONFIG).unwrap();
        env.ok(&["--backend", backend, "init", "--kdf-memory", "64"]);
        env.add_key("src", "AKIAKEYCHAIN", CANARY);
        let status = env.ok(&["status"]);
        assert!(status.contains("backend:  keychain"), "{backend}: {status}");
        let out = env.run_env(
            EXEC_PROD_CALLER_ARN,
            &[("AWS_ENDPOINT_URL_STS", &moto.url())],
        );
        assert_success(&out, &[backend, "exec"]);
        let arn = String::from_utf8_lossy(&out.stdout);
        assert!(arn.contains(":assumed-role/prod/"), "{backend}: {arn}");
        let list = env.ok(&["list"]);
        assert!(
            list.contains("src") && list.contains("session"),
            "{backend}: {list}"
        );
        // The key and the slot are in the keychain; locally only sessions (sealed) remain.
        assert_eq!(items(), ["key.src", "slot.passphrase"], "{backend}");
        if backend == "keychain" {
            // Text that KWallet can hold too: base64 of the age file.
            use base64::Engine as _;
            let stored = keyring.lookup(&svc, "key.src");
            let age = base64::engine::general_purpose::STANDARD
                .decode(stored.trim_ascii())
                .expect("the Secret Service item is base64");
            assert!(age.starts_with(b"age-encryption.org/v1\n"), "{stored:?}");
        }
        if backend == "keychain:keyutils" {
            // Outside a session keyring of its own (as this test process may be), the vault is
            // either usable or refused with the fix; never reported as missing.
            let wrapper = std::mem::take(&mut env.wrapper);
            let out = env.run(&["list"]);
            env.wrapper = wrapper;
            if !out.status.success() {
                assert_code(&out, 69, "keyutils outside a session keyring");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(stderr.contains("keyctl session -"), "{stderr}");
            }
        }
        // Profile names may hold '@', which keyutils also uses between item and service.
        env.add_key("ops@corp", "AKIAATSIGN", "at-secret");
        assert_eq!(
            items(),
            ["key.ops@corp", "key.src", "slot.passphrase"],
            "{backend}"
        );
        let list = env.ok(&["list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&list).unwrap();
        assert_eq!(v["keys"], serde_json::json!(["ops@corp", "src"]), "{list}");
        let out = env.ok(&["export", "ops@corp", "--no-session", "--format", "env"]);
        assert!(out.contains("AKIAATSIGN"), "{backend}: {out}");
        env.ok(&["remove", "ops@corp", "-f"]);
        for f in files_under(&env.dir) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.ends_with(".age") || name.starts_with("session."),
                "{backend}: {name} is local"
            );
        }
        for f in files_under(env.tmp.path()) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !contains(&bytes, CANARY.as_bytes()),
                "{backend}: plaintext secret in {}",
                f.display()
            );
        }
        env.ok(&["remove", "src", "-f"]);
        assert_code(
            &env.run(&["export", "src", "--no-session"]),
            66,
            "a removed key",
        );
        assert_eq!(items(), ["slot.passphrase"], "{backend}");
        // Moving to files takes the last item out of the keychain.
        env.ok(&["migrate", "--to", "file"]);
        assert!(items().is_empty(), "{backend}: {:?}", items());
        env.ok(&["status"]);
    }
}

#[test]
fn keychain_slot_unlocks_without_a_passphrase_until_removed() {
    let Some(keyring) = Keyring::start() else {
        return;
    };
    let mut env = Env::init();
    env.vars = keyring.vars(&service("slot"));
    env.add_key("p", "AKIASLOT", "slot-secret");
    let no_pass = |args: &[&str], agent: bool| {
        let mut c = env.cmd(args);
        c.env_remove("VAULT_PASSPHRASE_FILE")
            .env("VAULT_NO_AGENT", if agent { "0" } else { "1" });
        c.output().unwrap()
    };
    assert_code(
        &no_pass(&["export", "p", "--no-session"], false),
        79,
        "no slot, no passphrase",
    );
    env.ok(&["slot", "add", "keychain"]);
    let slots = env.ok(&["slot", "list"]);
    assert!(slots.contains("keychain    secret-service"), "{slots}");
    let unlock_items = keyring.items("vault-unlock");
    assert_eq!(unlock_items.len(), 1, "{unlock_items:?}");
    // An askpass program that records each time it is asked: the prompt, as a script sees it.
    let asked = env.path("asked");
    let askpass = env.path("askpass.sh");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\necho asked >> '{}'\nprintf '%s\\n' '{PASS}'\n",
            asked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let with_askpass = || {
        let mut c = env.cmd(&["export", "p", "--no-session"]);
        c.env_remove("VAULT_PASSPHRASE_FILE")
            .env("VAULT_ASKPASS", &askpass);
        c.output().unwrap()
    };
    assert_success(&with_askpass(), &["export with the slot and an askpass"]);
    assert!(
        !asked.exists(),
        "the passphrase was asked for despite the slot"
    );
    // In-process and through the agent, with no passphrase source at all.
    let out = no_pass(&["export", "p", "--no-session", "--format", "env"], false);
    assert_success(&out, &["export without a passphrase"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("AKIASLOT"));
    assert_success(&no_pass(&["unlock"], true), &["unlock via the keychain"]);
    let status = String::from_utf8(no_pass(&["status"], true).stdout).unwrap();
    assert!(status.contains("unlocked"), "{status}");
    assert!(
        status.contains("slot:     keychain (secret-service)"),
        "{status}"
    );
    assert_success(
        &no_pass(&["export", "p", "--no-session"], true),
        &["export via the agent"],
    );
    assert_success(&no_pass(&["lock", "--stop"], true), &["lock"]);

    // Removing the slot takes the identity out of the keychain and brings the prompt back.
    env.ok(&["slot", "remove", "keychain"]);
    assert!(keyring.items("vault-unlock").is_empty());
    assert_code(
        &no_pass(&["export", "p", "--no-session"], false),
        79,
        "slot removed",
    );
    assert_code(&env.run(&["slot", "remove", "keychain"]), 66, "no slot");
    assert_success(&with_askpass(), &["export with an askpass, no slot"]);
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap(),
        "asked\n",
        "the passphrase prompt is back"
    );
    env.ok(&["export", "p", "--no-session"]);

    // A locked keychain: a warning, then the passphrase, which still works.
    env.ok(&["slot", "add", "keychain"]);
    keyring.lock();
    let out = env.run(&["export", "p", "--no-session"]);
    assert_success(&out, &["export with a locked keychain"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keychain slot did not unlock") && stderr.contains("locked"),
        "{stderr}"
    );
    assert_code(
        &no_pass(&["export", "p", "--no-session"], false),
        79,
        "locked keychain, no passphrase",
    );
}

#[test]
fn an_unreachable_or_locked_keychain_is_a_clear_error_and_writes_nothing() {
    let Some(keyring) = Keyring::start() else {
        return;
    };
    let mut env = Env::new();
    let svc = service("err");
    env.vars = keyring.vars(&svc);
    env.ok(&["--backend", "keychain", "init", "--kdf-memory", "64"]);
    env.add_key("p", "AKIAERR", "e");
    assert_eq!(keyring.items(&svc), ["key.p", "slot.passphrase"]);

    // No session bus.
    let out = env.run_env(
        &["list"],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    );
    assert_code(&out, 69, "no D-Bus");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("D-Bus") && stderr.contains("hint:"),
        "{stderr}"
    );

    // A locked collection: refused with the fix, nothing falls back to a file.
    keyring.lock();
    let files_before = files_under(&env.dir);
    let out = env.run_env(
        &["add", "q", "--env"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAQ"),
            ("AWS_SECRET_ACCESS_KEY", "q"),
        ],
    );
    assert_code(&out, 69, "locked keychain");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("locked") && stderr.contains("unlock"),
        "{stderr}"
    );
    assert_eq!(
        files_under(&env.dir),
        files_before,
        "a locked keychain wrote files"
    );
    // Names are not secret: listing a locked keychain needs no unlock (and no prompt).
    let listed = env.ok(&["list"]);
    assert!(listed.contains("long-term key"), "{listed}");
    // Reading a value does: exporting the key is refused with the fix.
    let out = env.run(&["--no-agent", "export", "p", "--no-session"]);
    assert_code(&out, 69, "export from a locked keychain");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unlock"));
}

#[test]
fn migrate_never_overwrites_another_vault_in_the_same_keychain_service() {
    let Some(keyring) = Keyring::start() else {
        return;
    };
    let svc = service("two");
    let mut a = Env::init();
    a.vars = keyring.vars(&svc);
    a.add_key("p", "AKIAVAULTA", "a");
    let mut b = Env::init();
    b.vars = keyring.vars(&svc);
    b.add_key("p", "AKIAVAULTB", "b");
    a.ok(&["migrate", "--to", "keychain"]);
    let out = b.run(&["migrate", "--to", "keychain"]);
    assert_code(&out, 2, "a second vault into the same service");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds another vault"));
    // Both vaults are intact: A in the keychain, B still in its files.
    let export = |env: &Env| env.ok(&["export", "p", "--no-session", "--format", "env"]);
    assert!(export(&a).contains("AKIAVAULTA"));
    assert!(export(&b).contains("AKIAVAULTB"));
    assert!(b.item("key.p").exists());
    a.ok(&["migrate", "--to", "file"]);
    assert!(keyring.items(&svc).is_empty());
}
