//! Black-box tests of the sealed vault core (issue 2): the real binary, real files, the stock
//! `age` CLI, real Unix users.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const TAMPERED: i32 = 65;
const NOT_FOUND: i32 = 66;
const WRONG_PASSPHRASE: i32 = 77;
const LOCKED: i32 = 79;
const UNSAFE: i32 = 80;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const CANARY: &str = "wJalrXUtnFEMI-K7MDENG-CANARY-bPxRfiCYEXAMPLEKEY";

#[test]
fn round_trip_in_separate_processes() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let list = env.ok(&["list"]);
    assert!(list.contains("prod"), "{list}");
    let json: serde_json::Value = serde_json::from_str(&env.ok(&[
        "export",
        "prod",
        "--no-session",
        "--format",
        "credential-process",
    ]))
    .unwrap();
    assert_eq!(json["Version"], 1);
    assert_eq!(json["AccessKeyId"], KEY_ID);
    assert_eq!(json["SecretAccessKey"], CANARY);
    let envfmt = env.ok(&["export", "prod", "--no-session", "--format", "env"]);
    assert!(envfmt.contains(&format!("export AWS_SECRET_ACCESS_KEY='{CANARY}'\n")));
    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
    assert_eq!(listed["keys"], serde_json::json!(["prod"]));

    // remove, then it is gone with the documented code
    env.ok(&["remove", "prod", "-f"]);
    assert_code(
        &env.run(&["export", "prod", "--no-session"]),
        NOT_FOUND,
        "export after remove",
    );
    assert_code(
        &env.run(&["remove", "prod", "-f"]),
        NOT_FOUND,
        "remove twice",
    );
}

#[test]
fn no_plaintext_secret_anywhere() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let list = env.run(&["list"]);
    let list_json = env.run(&["list", "--json"]);
    for out in [&list, &list_json] {
        assert!(!contains(&out.stdout, CANARY.as_bytes()));
        assert!(!contains(&out.stderr, CANARY.as_bytes()));
    }
    // Not in any file the vault or its temp dir holds (the passphrase file aside, the test's).
    for f in files_under(env.tmp.path()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !contains(&bytes, CANARY.as_bytes()),
            "canary in {}",
            f.display()
        );
        assert!(
            f == env.passfile || !contains(&bytes, PASS.as_bytes()),
            "passphrase in {}",
            f.display()
        );
    }
}

#[test]
fn wrong_passphrase_changes_nothing() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let before: Vec<_> = files_under(&env.dir)
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(&f).unwrap()))
        .collect();
    let wrong = env.path("wrong");
    write_secret(&wrong, "not the passphrase\n");
    for args in [
        &["export", "prod", "--no-session"][..],
        &["add", "prod", "--env"],
        &["recover"],
    ] {
        let out = env.run_env(
            args,
            &[
                ("VAULT_PASSPHRASE_FILE", wrong.to_str().unwrap()),
                ("AWS_ACCESS_KEY_ID", "AKIAOTHER"),
                ("AWS_SECRET_ACCESS_KEY", "other"),
            ],
        );
        assert_code(&out, WRONG_PASSPHRASE, &format!("{args:?}"));
        assert!(!contains(&out.stdout, b"AGE-SECRET-KEY"));
    }
    for (f, bytes) in before {
        assert_eq!(std::fs::read(&f).unwrap(), bytes, "{} changed", f.display());
    }
}

#[test]
fn no_passphrase_source_is_locked_not_hung() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    // No VAULT_PASSPHRASE_FILE and no terminal (setsid detaches the controlling tty).
    let mut c = env.cmd(&["export", "prod", "--no-session"]);
    c.env_remove("VAULT_PASSPHRASE_FILE");
    let out = Command::new("setsid")
        .arg("-w")
        .arg(common::BIN)
        .args(["export", "prod", "--no-session"])
        .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env_clear()
        .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .output()
        .unwrap();
    assert_code(&out, LOCKED, "no passphrase source");
}

#[test]
fn passphrase_sources_fd_askpass_env() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    // --passphrase-fd: the shell opens fd 5 on the passphrase file.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec {} --passphrase-fd 5 export --no-session prod 5<'{}'",
            BIN,
            env.passfile.display()
        ))
        .env_clear()
        .env("VAULT_DIR", &env.dir)
        .env("VAULT_NO_AGENT", "1")
        .output()
        .unwrap();
    assert_success(&out, &["--passphrase-fd"]);
    // VAULT_ASKPASS
    let askpass = env.path("askpass.sh");
    std::fs::write(&askpass, format!("#!/bin/sh\necho '{PASS}'\n")).unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut c = env.cmd(&["export", "prod", "--no-session"]);
    c.env_remove("VAULT_PASSPHRASE_FILE")
        .env("VAULT_ASKPASS", &askpass);
    assert_success(&c.output().unwrap(), &["VAULT_ASKPASS"]);
    // VAULT_PASSPHRASE
    let mut c = env.cmd(&["export", "prod", "--no-session"]);
    c.env_remove("VAULT_PASSPHRASE_FILE")
        .env("VAULT_PASSPHRASE", PASS);
    assert_success(&c.output().unwrap(), &["VAULT_PASSPHRASE"]);
}

#[test]
fn passwd_rewraps_only_the_slot() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let item_before = std::fs::read(env.item("key.prod")).unwrap();
    let newpass = env.path("newpass");
    write_secret(&newpass, "a new passphrase\n");
    let out = env.run_env(
        &["passwd"],
        &[("VAULT_NEW_PASSPHRASE_FILE", newpass.to_str().unwrap())],
    );
    assert_success(&out, &["passwd"]);
    assert_eq!(std::fs::read(env.item("key.prod")).unwrap(), item_before);
    assert_code(
        &env.run(&["export", "prod", "--no-session"]),
        WRONG_PASSPHRASE,
        "old passphrase",
    );
    let out = env.run_env(
        &["export", "prod", "--no-session"],
        &[("VAULT_PASSPHRASE_FILE", newpass.to_str().unwrap())],
    );
    assert_success(&out, &["export with new passphrase"]);
}

#[test]
fn every_flipped_slot_byte_and_truncation_is_refused() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let slot_path = env.item("slot.passphrase");
    let slot = std::fs::read(&slot_path).unwrap();
    let check = |bytes: &[u8], what: &str| {
        std::fs::write(&slot_path, bytes).unwrap();
        let out = env.run(&["export", "prod", "--no-session"]);
        // A changed salt or KDF parameter looks like a wrong passphrase (by design: it can
        // only be detected after the KDF); everything else is "tampered".
        let code = out.status.code();
        assert!(
            code == Some(TAMPERED) || code == Some(WRONG_PASSPHRASE),
            "{what}: exit {:?}: {}",
            code,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_code(&out, code.unwrap(), what);
        assert!(!contains(&out.stdout, CANARY.as_bytes()), "{what}: leaked");
    };
    for i in 0..slot.len() {
        let mut bad = slot.clone();
        bad[i] ^= 0x01;
        check(&bad, &format!("slot flip at {i}"));
    }
    for len in [
        0,
        1,
        21,
        22,
        40,
        slot.len() / 2,
        slot.len() - 17,
        slot.len() - 1,
    ] {
        check(&slot[..len], &format!("slot truncated to {len}"));
    }
    std::fs::write(&slot_path, &slot).unwrap();
    assert!(env.ok(&["export", "prod", "--no-session"]).contains(CANARY));
}

#[test]
fn flipped_and_truncated_items_are_refused() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let path = env.item("key.prod");
    let item = std::fs::read(&path).unwrap();
    // The library test flips every bit position; here a spread of offsets through the binary.
    let mut offsets: Vec<usize> = (0..item.len()).step_by(5).collect();
    offsets.extend(item.len() - 20..item.len());
    for i in offsets {
        let mut bad = item.clone();
        bad[i] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        let out = env.run(&["export", "prod", "--no-session"]);
        assert_code(&out, TAMPERED, &format!("item flip at {i}"));
        assert!(!contains(&out.stdout, CANARY.as_bytes()));
    }
    for len in [0, 5, 30, item.len() / 2, item.len() - 16, item.len() - 1] {
        std::fs::write(&path, &item[..len]).unwrap();
        assert_code(
            &env.run(&["export", "prod", "--no-session"]),
            TAMPERED,
            &format!("item cut to {len}"),
        );
    }
}

#[test]
fn slot_asking_for_more_than_4_gib_is_refused_at_once() {
    let env = Env::init();
    let path = env.item("slot.passphrase");
    let slot = std::fs::read(&path).unwrap();
    let at = slot.windows(11).position(|w| w == b" 65536 3 4\n").unwrap();
    let forged = [&slot[..at], &b" 8388608 3 4\n"[..], &slot[at + 11..]].concat();
    std::fs::write(&path, forged).unwrap();
    let start = Instant::now();
    let out = env.run(&["recover"]);
    assert_code(&out, TAMPERED, "5 GiB slot");
    assert!(String::from_utf8_lossy(&out.stderr).contains("4096 MiB"));
    // No 8 GiB KDF ran: that would take many seconds (and fail to allocate).
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn kdf_flags_outside_bounds_are_usage_errors() {
    for args in [
        &["init", "--kdf-memory", "32"][..],
        &["init", "--kdf-memory", "5000"],
        &["init", "--kdf-memory", "64", "--kdf-time", "11"],
        &["init", "--kdf-memory", "64", "--kdf-parallelism", "17"],
    ] {
        let env = Env::new();
        assert_code(&env.run(args), 2, &format!("{args:?}"));
        assert!(!env.item("slot.passphrase").exists());
    }
}

#[test]
fn init_twice_is_refused_and_keeps_the_vault() {
    let env = Env::init();
    let slot = std::fs::read(env.item("slot.passphrase")).unwrap();
    assert_code(&env.run(&["init", "--kdf-memory", "64"]), 2, "second init");
    assert_eq!(std::fs::read(env.item("slot.passphrase")).unwrap(), slot);
}

#[test]
fn missing_vault_is_not_found() {
    let env = Env::new();
    assert_code(&env.run(&["list"]), NOT_FOUND, "list without init");
    assert_code(&env.run(&["export", "x"]), NOT_FOUND, "export without init");
}

#[test]
fn stock_age_cli_decrypts_items_with_the_recovery_identity() {
    if !require("the age CLI", have("age")) {
        return;
    }
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let identity = env.ok(&["recover"]);
    assert!(identity.contains("AGE-SECRET-KEY-1"));
    let idfile = env.path("identity.txt");
    std::fs::write(&idfile, &identity).unwrap();
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&idfile)
        .arg(env.item("key.prod"))
        .output()
        .unwrap();
    assert_success(&out, &["age -d"]);
    let item: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(item["v"], 3);
    assert_eq!(item["name"], "key.prod");
    assert_eq!(item["generation"], 0);
    assert_eq!(item["kind"], "long-term-key");
    assert_eq!(item["key"]["secret_access_key"], CANARY);
}

#[test]
fn loose_modes_and_symlinks_are_refused() {
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let item = env.item("key.prod");
    std::fs::set_permissions(&item, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.run(&["export", "prod", "--no-session"]);
    assert_code(&out, UNSAFE, "0644 item");
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    std::fs::set_permissions(&item, std::fs::Permissions::from_mode(0o600)).unwrap();

    std::fs::set_permissions(&env.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.run(&["list"]);
    assert_code(&out, UNSAFE, "0755 dir");
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 700"));
    std::fs::set_permissions(&env.dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    let link = env.path("link");
    std::os::unix::fs::symlink(&env.dir, &link).unwrap();
    let out = env.run_env(&["list"], &[("VAULT_DIR", link.to_str().unwrap())]);
    assert_code(&out, UNSAFE, "symlinked vault dir");

    // A symlinked item pointing at a file we own.
    let target = env.path("elsewhere.age");
    std::fs::copy(&item, &target).unwrap();
    std::fs::remove_file(&item).unwrap();
    std::os::unix::fs::symlink(&target, &item).unwrap();
    assert_code(
        &env.run(&["export", "prod", "--no-session"]),
        UNSAFE,
        "symlinked item",
    );
}

#[test]
fn item_owned_by_another_real_user_is_refused() {
    if !require(
        "root to create a second Unix user",
        is_root() && have("useradd"),
    ) {
        return;
    }
    let user = "vaulttest-other";
    let _ = Command::new("useradd")
        .args(["--no-create-home", "--shell", "/usr/sbin/nologin", user])
        .output();
    let uid = String::from_utf8(
        Command::new("id")
            .args(["-u", user])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let uid: u32 = uid.trim().parse().expect("useradd made the user");
    let env = Env::init();
    env.add_key("prod", KEY_ID, CANARY);
    let item = env.item("key.prod");
    rustix::fs::chown(&item, Some(rustix::process::Uid::from_raw(uid)), None).unwrap();
    let out = env.run(&["export", "prod", "--no-session"]);
    assert_code(&out, UNSAFE, "item owned by another user");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("uid {uid}")));
    rustix::fs::chown(&env.dir, Some(rustix::process::Uid::from_raw(uid)), None).unwrap();
    assert_code(&env.run(&["list"]), UNSAFE, "dir owned by another user");
}

/// SIGKILL `vault add` at random moments: the item always opens to the old or the new key,
/// and the next successful write leaves no temp file.
#[test]
fn sigkill_during_add_never_corrupts() {
    let env = Env::init();
    env.add_key("prod", "AKIAOLD0", "old-secret");
    let identity = env.ok(&["recover"]);
    let master = vault::vault::crypto::MasterIdentity::parse(
        identity
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY"))
            .unwrap(),
    )
    .unwrap();
    let runs: u64 = std::env::var("VAULT_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // Spread the kill times over the whole life of an `add` (it is dominated by the KDF).
    let start = Instant::now();
    env.add_key("probe", "AKIAPROBE", "x");
    let life = start.elapsed().as_micros() as u64 + 2_000;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ life;
    let mut killed_mid_write = 0;
    for i in 0..runs {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % life);
        let (id, secret) = if i % 2 == 0 {
            ("AKIANEW1", "new-one")
        } else {
            ("AKIAOLD0", "old-secret")
        };
        let mut child = env
            .cmd(&["add", "prod", "--env"])
            .env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_write += 1;
        }
        let bytes = std::fs::read(env.item("key.prod")).expect("item always exists");
        let pt = master
            .open(&bytes)
            .unwrap_or_else(|e| panic!("run {i}: item unreadable: {e}"));
        let item = vault::vault::item::Item::from_bytes(&pt).unwrap();
        let got = item.key.unwrap().access_key_id;
        assert!(got == "AKIANEW1" || got == "AKIAOLD0", "run {i}: {got}");
    }
    assert!(
        killed_mid_write > runs / 4,
        "only {killed_mid_write} of {runs} were killed"
    );
    env.add_key("prod", "AKIAFINAL", "final");
    let leftovers: Vec<_> = files_under(&env.dir)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    assert!(env
        .ok(&["export", "prod", "--no-session"])
        .contains("AKIAFINAL"));
}

#[test]
fn completions_and_help_work() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        assert!(env.ok(&["completions", shell]).contains("vault"));
    }
    let help = env.ok(&["--help"]);
    for word in [
        "init",
        "add",
        "list",
        "export",
        "passwd",
        "recover",
        "completions",
    ] {
        assert!(help.contains(word), "{word} missing from --help");
    }
    let out = env.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "unknown subcommand");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

/// `vault list | head -1` and the like: a reader that went away ends the command quietly with
/// success, never a panic (std's print macros panic on a closed pipe).
#[test]
fn a_closed_stdout_is_a_quiet_success() {
    let env = Env::init();
    env.add_key("p", "AKIACLOSED", "closed-secret");
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["status"],
        &["slot", "list"],
        &["completions", "bash"],
        &["export", "p", "--no-session", "--format", "env"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env.cmd(args).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("closed-secret"), "{args:?}: {stderr}");
    }
}

#[test]
fn hostile_profile_names_are_refused() {
    let env = Env::init();
    for name in ["../x", "a\u{1b}]0;owned\u{7}", "", "a b"] {
        let out = env.run_env(
            &["add", name, "--env"],
            &[
                ("AWS_ACCESS_KEY_ID", "AKIAX"),
                ("AWS_SECRET_ACCESS_KEY", "y"),
            ],
        );
        assert_code(&out, 2, &format!("add {name:?}"));
        assert!(!contains(&out.stderr, b"\x1b"), "raw escape echoed");
    }
}
