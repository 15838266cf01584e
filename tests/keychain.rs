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
"$V" remove prod
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
