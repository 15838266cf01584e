//! The CLI round trip on each backend (issue 5) against real parts: `pass` with real GnuPG,
//! and Debian's `docker-credential-pass` as a `vault-backend-pass` helper; then migration.

mod common;

use std::path::Path;

use common::*;

fn run_in(env: &Env, gpg: &Gpg, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
    let mut c = env.cmd(args);
    c.envs(gpg.vars());
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok_in(env: &Env, gpg: &Gpg, args: &[&str], extra: &[(&str, &str)]) -> String {
    let out = run_in(env, gpg, args, extra);
    assert_success(&out, args);
    String::from_utf8(out.stdout).unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = files_under(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_on_every_backend_and_pass_history_stays_small() {
    let Some(gpg) = Gpg::new() else { return };
    let Some(moto) = Moto::start(&[]) else { return };
    for backend in ["file", "pass", "helper:pass"] {
        let env = Env::new();
        std::fs::write(env.path("home/aws-config"), "[profile src]\nregion = us-east-1\n[profile prod]\nsource_profile = src\nrole_arn = arn:aws:iam::123456789012:role/prod\n").unwrap();
        let sts = [("AWS_ENDPOINT_URL_STS", moto.url())];
        let sts: Vec<(&str, &str)> = sts.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ok_in(
            &env,
            &gpg,
            &["--backend", backend, "init", "--kdf-memory", "64"],
            &[],
        );
        ok_in(
            &env,
            &gpg,
            &["add", "src", "--env", "--force"],
            &[
                ("AWS_ACCESS_KEY_ID", "AKIABACKEND"),
                ("AWS_SECRET_ACCESS_KEY", "backend-secret"),
            ],
        );
        let status = ok_in(&env, &gpg, &["status"], &[]);
        let expect_kind = if backend == "file" { "file" } else { "pass" };
        assert!(
            status.contains(&format!(
                "backend:  {}",
                if backend.starts_with("helper") {
                    "helper"
                } else {
                    expect_kind
                }
            )),
            "{backend}: {status}"
        );
        let out = ok_in(&env, &gpg, EXEC_PROD_CALLER_ARN, &sts);
        assert!(out.contains(":assumed-role/prod/"), "{backend}: {out}");
        let list = ok_in(&env, &gpg, &["list"], &[]);
        assert!(
            list.contains("src") && list.contains("session"),
            "{backend}: {list}"
        );
        // Only age ciphertext on disk locally: for pass and the helper, the key is not there.
        let local = files(&env.dir);
        if backend != "file" {
            assert!(
                !local
                    .iter()
                    .any(|f| f.starts_with("key.") || f.starts_with("slot.")),
                "{backend}: {local:?}"
            );
            let store_files = files(&gpg.store());
            assert!(
                store_files.iter().any(|f| f.ends_with(".gpg")),
                "{backend}: nothing in the store"
            );
        }
        ok_in(&env, &gpg, &["remove", "src", "-f"], &[]);
        assert_eq!(
            run_in(&env, &gpg, &["export", "src", "--no-session"], &[])
                .status
                .code(),
            Some(66),
            "{backend}"
        );
    }

    // 100 session refreshes on the pass backend add no commit to the store's history.
    // A second vault in the same store lives under its own prefix.
    const P: (&str, &str) = ("VAULT_PASS_PREFIX", "vault-history");
    let env = Env::new();
    std::fs::write(
        env.path("home/aws-config"),
        "[profile src]\nregion = us-east-1\n",
    )
    .unwrap();
    ok_in(
        &env,
        &gpg,
        &["--backend", "pass", "init", "--kdf-memory", "64"],
        &[P],
    );
    ok_in(
        &env,
        &gpg,
        &["add", "src", "--env", "--force"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAHIST"),
            ("AWS_SECRET_ACCESS_KEY", "h"),
            P,
        ],
    );
    let before = gpg.commits();
    let url = moto.url();
    let gst = moto.count("GetSessionToken");
    ok_in(&env, &gpg, &["unlock"], &[("VAULT_NO_AGENT", "0"), P]);
    for _ in 0..100 {
        ok_in(&env, &gpg, &["clear", "src"], &[P]);
        ok_in(
            &env,
            &gpg,
            &["exec", "src", "--", "true"],
            &[("AWS_ENDPOINT_URL_STS", &url), ("VAULT_NO_AGENT", "0"), P],
        );
    }
    ok_in(
        &env,
        &gpg,
        &["lock", "--stop"],
        &[("VAULT_NO_AGENT", "0"), P],
    );
    assert_eq!(
        moto.count("GetSessionToken") - gst,
        100,
        "every exec refreshed"
    );
    let after = gpg.commits();
    assert!(
        after - before <= 2,
        "pass history grew by {} commits",
        after - before
    );
}

fn exported(env: &Env, gpg: &Gpg, profile: &str) -> String {
    ok_in(
        env,
        gpg,
        &[
            "export",
            profile,
            "--no-session",
            "--format",
            "credential-process",
        ],
        &[],
    )
}

#[test]
fn migrate_file_pass_keychain_file_keeps_every_item_and_survives_sigkill() {
    let Some(gpg) = Gpg::new() else { return };
    let Some(keyring) = Keyring::start() else {
        return;
    };
    if !require("keyctl (package keyutils)", have("keyctl")) {
        return;
    }
    let mut env = Env::init();
    // Every command in a session keyring of its own, with the Secret Service at hand.
    let svc = format!("vt-migrate-{}", std::process::id());
    env.use_keyutils(&svc);
    env.vars.extend(keyring.vars(&svc));
    for i in 0..5 {
        let id = format!("AKIAMIGRATE{i}");
        ok_in(
            &env,
            &gpg,
            &["add", &format!("p{i}"), "--env", "--force"],
            &[("AWS_ACCESS_KEY_ID", &id), ("AWS_SECRET_ACCESS_KEY", "m")],
        );
    }
    let originals: Vec<String> = (0..5)
        .map(|i| exported(&env, &gpg, &format!("p{i}")))
        .collect();
    let check = |when: &str| {
        for (i, want) in originals.iter().enumerate() {
            assert_eq!(
                &exported(&env, &gpg, &format!("p{i}")),
                want,
                "{when}: p{i}"
            );
        }
    };
    for to in [
        "pass",
        "helper:pass",
        "keychain",
        "keychain:keyutils",
        "file",
    ] {
        ok_in(&env, &gpg, &["migrate", "--to", to], &[]);
        check(&format!("after migrate --to {to}"));
        let status = ok_in(&env, &gpg, &["status"], &[]);
        assert!(
            !status.contains("backend:  file") || to == "file",
            "{status}"
        );
    }
    // SIGKILL a migration at several moments; a rerun always leaves every item readable.
    for (to, delay_ms) in [
        ("pass", 5u64),
        ("keychain", 5),
        ("pass", 30),
        ("keychain", 30),
        ("pass", 80),
        ("keychain:keyutils", 20),
        ("pass", 150),
    ] {
        let mut c = env.cmd(&["migrate", "--to", to]);
        c.envs(gpg.vars());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Rerun (or, when it had already switched, migrate back) until on the target.
        let out = run_in(&env, &gpg, &["migrate", "--to", to], &[]);
        assert!(
            out.status.success() || String::from_utf8_lossy(&out.stderr).contains("already on"),
            "{out:?}"
        );
        check(&format!("after a kill at {delay_ms} ms migrating to {to}"));
        ok_in(&env, &gpg, &["migrate", "--to", "file"], &[]);
        check("back on file");
    }
    assert!(keyring.items(&svc).is_empty(), "{:?}", keyring.items(&svc));
    assert!(
        keyutils_items(&svc).is_empty(),
        "{:?}",
        keyutils_items(&svc)
    );
}

#[test]
fn a_pass_write_killed_at_any_moment_leaves_the_old_or_the_new_key() {
    let Some(gpg) = Gpg::new() else { return };
    let env = Env::new();
    ok_in(
        &env,
        &gpg,
        &["--backend", "pass", "init", "--kdf-memory", "64"],
        &[],
    );
    let id = |i: usize| format!("AKIAPASSKILL{i:04}");
    let add = |i: usize| {
        let mut c = env.cmd(&["add", "p", "--env", "--force"]);
        c.envs(gpg.vars())
            .env("AWS_ACCESS_KEY_ID", id(i))
            .env("AWS_SECRET_ACCESS_KEY", "k");
        c
    };
    assert_success(&add(0).output().unwrap(), &["add p"]);
    let mut current = 0;
    let mut interrupted = 0;
    for i in 1..=16 {
        let mut child = add(i).spawn().unwrap();
        // Spread the kills over the whole write (KDF, gpg insert, pass mv).
        std::thread::sleep(std::time::Duration::from_millis(40 + (i as u64 * 37) % 400));
        let _ = child.kill();
        let status = child.wait().unwrap();
        interrupted += usize::from(!status.success());
        let got = exported(&env, &gpg, "p");
        assert!(
            got.contains(&id(current)) || got.contains(&id(i)),
            "after a kill of write {i}: {got}"
        );
        if got.contains(&id(i)) {
            current = i;
        }
    }
    assert!(interrupted > 0, "no write was interrupted");
    assert_success(&add(99).output().unwrap(), &["add p"]);
    assert!(exported(&env, &gpg, "p").contains(&id(99)));
    // A scratch entry a killed writer left long ago goes with the next write of its item.
    let stale = "vault/.tmp.1.0000abcd.key.p";
    let mut c = gpg.cmd("pass");
    c.args(["insert", "--multiline", "--force", stale])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let stale_file = gpg.store().join(format!("{stale}.gpg"));
    std::fs::File::options()
        .write(true)
        .open(&stale_file)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    assert_success(&add(100).output().unwrap(), &["add p"]);
    assert!(
        !stale_file.exists(),
        "the stale scratch entry is still there"
    );
    // Scratch entries of killed writers never show up as items.
    let list = ok_in(&env, &gpg, &["list", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["keys"], serde_json::json!(["p"]), "{list}");
}

/// The agent read the slot from the backend *it* worked out (its own environment and the
/// directory's record) rather than the one the unlocking client named, so `--backend pass
/// unlock` opened the file store's slot. The client now hands the agent its backend settings.
#[test]
fn the_agent_unlocks_the_store_the_client_names() {
    let Some(gpg) = Gpg::new() else { return };
    let env = Env::new();
    let other_pass = env.path("pass-of-the-pass-store");
    write_secret(&other_pass, "another passphrase for pass\n");
    let pass_file = other_pass.to_str().unwrap();
    let on_pass = [("VAULT_PASSPHRASE_FILE", pass_file)];
    // A vault on pass, then one in the file store of the same directory: the directory now
    // records `file`, and the two slots have different passphrases and master keys.
    ok_in(
        &env,
        &gpg,
        &["--backend", "pass", "init", "--kdf-memory", "64"],
        &on_pass,
    );
    ok_in(
        &env,
        &gpg,
        &["--backend", "file", "init", "--kdf-memory", "64"],
        &[],
    );
    ok_in(
        &env,
        &gpg,
        &["--backend", "pass", "add", "pk", "--env", "--force"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAONPASS"),
            ("AWS_SECRET_ACCESS_KEY", "p"),
            on_pass[0],
        ],
    );
    let agent = |args: &[&str], extra: &[(&str, &str)]| {
        let mut c = env.cmd(args);
        c.envs(gpg.vars()).env_remove("VAULT_NO_AGENT");
        for (k, v) in extra {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = agent(&["--backend", "pass", "unlock"], &on_pass);
    assert_success(&out, &["--backend", "pass", "unlock"]);
    // No passphrase source at all: only the agent can open the item.
    let args = [
        "--backend",
        "pass",
        "export",
        "pk",
        "--no-session",
        "--format",
        "credential-process",
    ];
    let out = agent(&args, &[("VAULT_PASSPHRASE_FILE", "")]);
    assert_success(&out, &args);
    assert!(String::from_utf8_lossy(&out.stdout).contains("AKIAONPASS"));
    let _ = agent(&["lock", "--stop"], &[]);
}
