//! Black-box tests of issue 13's integrity points: items bound to their names (point 3), the
//! size cap on writes, and stored keys checked for characters a shell or an INI file would
//! read as more than data.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

const USAGE: i32 = 2;
const TAMPERED: i32 = 65;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const DEV_ID: &str = "AKIAI44QH8DHBEXAMPLE";
const DEV_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";

fn export_json(env: &Env, profile: &str) -> std::process::Output {
    env.run(&["export", profile, "--no-session", "--format", "json"])
}

/// `vault recover`'s identity in a file, and its recipient, for the stock age CLI.
pub fn identity(env: &Env) -> (PathBuf, String) {
    let out = env.ok(&["recover"]);
    let id = out
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .expect("recover prints an identity");
    let path = env.path("identity.txt");
    std::fs::write(&path, format!("{id}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    assert!(r.status.success());
    (path, String::from_utf8(r.stdout).unwrap().trim().to_owned())
}

/// Seals `plaintext` to `recipient` with the stock age CLI, as an old release would have.
pub fn age_seal(recipient: &str, plaintext: &[u8], to: &Path) {
    let mut age = Command::new("age")
        .args(["-r", recipient, "-o"])
        .arg(to)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    age.stdin.take().unwrap().write_all(plaintext).unwrap();
    assert!(age.wait().unwrap().success());
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn age_open(identity: &Path, file: &Path) -> serde_json::Value {
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `key.prod.age` copied over `key.dev.age` used to make `vault export dev` print prod's key.
#[test]
fn an_item_copied_over_another_is_refused() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, SECRET);
    env.add_key("dev", DEV_ID, DEV_SECRET);
    std::fs::copy(env.item("key.prod"), env.item("key.dev")).unwrap();
    let out = export_json(&env, "dev");
    assert_code(&out, TAMPERED, "export dev");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains(KEY_ID),
        "prod's key served as dev's: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"sealed as "key.prod", not "key.dev""#) && stderr.contains("hint:"),
        "{stderr}"
    );
    // Prod's own file still opens.
    assert!(String::from_utf8(export_json(&env, "prod").stdout)
        .unwrap()
        .contains(KEY_ID));
}

/// An item written by the v1 release (no name inside) still opens, and `vault rekey` (which
/// rewrites every key) rebinds it to its name.
#[test]
fn a_v1_item_opens_and_is_rebound_on_its_next_write() {
    if !require("the age CLI", have("age") && have("age-keygen")) {
        return;
    }
    let env = Env::init();
    let (id, recipient) = identity(&env);
    let v1 = format!(
        r#"{{"v":1,"kind":"long-term-key","key":{{"access_key_id":"{KEY_ID}","secret_access_key":"{SECRET}","added":"2026-01-01T00:00:00Z"}}}}"#
    );
    age_seal(&recipient, v1.as_bytes(), &env.item("key.prod"));
    assert!(String::from_utf8(export_json(&env, "prod").stdout)
        .unwrap()
        .contains(KEY_ID));
    env.ok(&["rekey"]);
    let (id2, _) = identity(&env);
    let _ = id;
    let item = age_open(&id2, &env.item("key.prod"));
    // Rebound to its name, and (since v3) to the rekey's generation.
    assert_eq!(item["v"], 3, "{item}");
    assert_eq!(item["generation"], 1, "{item}");
    assert_eq!(item["name"], "key.prod", "{item}");
    assert_eq!(item["key"]["access_key_id"], KEY_ID);
}

/// `set()` used to write an item no backend would read back (a 70 KB MFA serial).
#[test]
fn an_item_over_the_size_cap_is_never_written() {
    let env = Env::init();
    let huge = format!("arn:aws:iam::123456789012:mfa/{}", "x".repeat(70_000));
    let out = env.run_env(
        &["add", "prod", "--env", "--mfa-serial", &huge],
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    assert_code(&out, USAGE, "add with a huge mfa serial");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("64 KiB") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert!(!env.item("key.prod").exists());
}

/// Stored keys used to be taken as given: `$(...)`, quotes and newlines reached
/// `export --format ini` and every shell that read it.
#[test]
fn stored_keys_are_checked_for_their_characters() {
    let env = Env::init();
    for (id, secret) in [
        (KEY_ID, "a'b$(touch x)`x`"),
        (KEY_ID, "line\n[evil]"),
        ("AKIA;rm", SECRET),
    ] {
        let out = env.run_env(
            &["add", "prod", "--env"],
            &[("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)],
        );
        assert_code(&out, USAGE, "add with shell characters");
        assert!(!env.item("key.prod").exists());
    }
    // And `vault import` skips such a key instead of storing it.
    std::fs::write(
        env.path("home/aws-credentials"),
        format!("[prod]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = a$(id)b\n"),
    )
    .unwrap();
    let out = env.run(&["import"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipping prod"), "{stderr}");
    assert!(!env.item("key.prod").exists());
}
