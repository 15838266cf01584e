//! `vault rekey`: every key re-encrypted to a new master identity, safe to interrupt.

mod common;

use std::process::Command;

use common::*;

fn export(env: &Env, profile: &str) -> String {
    env.ok(&[
        "export",
        profile,
        "--no-session",
        "--format",
        "credential-process",
    ])
}

/// Whether the stock age CLI opens `item` with `identity`.
fn age_opens(env: &Env, identity: &str, item: &str) -> bool {
    let idfile = env.path("identity.txt");
    std::fs::write(&idfile, identity).unwrap();
    Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&idfile)
        .arg(env.item(item))
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn rekey_replaces_the_master_identity_and_keeps_every_key() {
    if !require("the age CLI", have("age")) {
        return;
    }
    let env = Env::init();
    for i in 0..3 {
        env.add_key(&format!("p{i}"), &format!("AKIAREKEY{i}"), "rekey-secret");
    }
    // A cached session (sealed like any item) is dropped, not carried over.
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(env.item("session.p0.0123456789abcdef"))
            .unwrap();
    }
    let before: Vec<String> = (0..3).map(|i| export(&env, &format!("p{i}"))).collect();
    let old = env.ok(&["recover"]);
    assert!(age_opens(&env, &old, "key.p0"));

    let out = env.run(&["rekey"]);
    assert_success(&out, &["rekey"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("re-encrypted 3 stored keys")
            && stderr.contains("dropped 1 cached session"),
        "{stderr}"
    );

    let new = env.ok(&["recover"]);
    assert_ne!(old, new, "the master identity did not change");
    for (i, want) in before.iter().enumerate() {
        assert_eq!(&export(&env, &format!("p{i}")), want, "p{i}");
        assert!(
            !age_opens(&env, &old, &format!("key.p{i}")),
            "old identity still opens p{i}"
        );
        assert!(
            age_opens(&env, &new, &format!("key.p{i}")),
            "new identity cannot open p{i}"
        );
    }
    assert!(!env.item("session.p0.0123456789abcdef").exists());
    assert!(!env.item("slot.rekey").exists());
}

#[test]
fn a_wrong_passphrase_rekeys_nothing() {
    let env = Env::init();
    env.add_key("p", "AKIAWRONG", "w");
    let snapshot = |env: &Env| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        files_under(&env.dir)
            .into_iter()
            .map(|f| {
                let b = std::fs::read(&f).unwrap();
                (f, b)
            })
            .collect()
    };
    let before = snapshot(&env);
    let wrong = env.path("wrong");
    write_secret(&wrong, "not the passphrase\n");
    let out = env.run_env(
        &["rekey"],
        &[("VAULT_PASSPHRASE_FILE", wrong.to_str().unwrap())],
    );
    assert_code(&out, 77, "rekey with a wrong passphrase");
    let after: Vec<_> = snapshot(&env)
        .into_iter()
        .filter(|(f, _)| !f.starts_with(env.dir.join("locks")))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(f, _)| !f.starts_with(env.dir.join("locks")))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn an_interrupted_rekey_loses_nothing_and_a_rerun_finishes_it() {
    const N: usize = 30;
    let env = Env::init();
    for i in 0..N {
        env.add_key(&format!("p{i}"), &format!("AKIAKILL{i}"), "kill-secret");
    }
    let before: Vec<String> = (0..N).map(|i| export(&env, &format!("p{i}"))).collect();
    // How long a whole rekey takes here; the kills are spread over it.
    let start = std::time::Instant::now();
    env.ok(&["rekey"]);
    let whole = start.elapsed();
    let mut unfinished = 0;
    for k in 1..=12u32 {
        let mut child = env.cmd(&["rekey"]).spawn().unwrap();
        std::thread::sleep(whole * k / 13);
        let _ = child.kill();
        let _ = child.wait();
        let out = env.run(&["export", "p0", "--no-session"]);
        if !out.status.success() {
            // Killed mid-way: unlocking refuses, clearly, until a rerun finishes.
            assert_code(&out, 1, "export during an unfinished rekey");
            assert!(String::from_utf8_lossy(&out.stderr).contains("vault rekey"));
            unfinished += 1;
            let out = env.run(&["rekey"]);
            assert_success(&out, &["rekey rerun"]);
            assert!(String::from_utf8_lossy(&out.stderr).contains("finished an interrupted rekey"));
        }
        for (i, want) in before.iter().enumerate() {
            assert_eq!(
                &export(&env, &format!("p{i}")),
                want,
                "after a kill at {k}/13"
            );
        }
    }
    assert!(
        unfinished > 0,
        "no kill landed inside a rekey (one takes {whole:?})"
    );
}

#[test]
fn rekey_stops_the_agent_and_moves_the_keychain_slot() {
    let Some(keyring) = Keyring::start() else {
        return;
    };
    let mut env = Env::init();
    env.vars = keyring.vars("vault-rekey-test");
    env.add_key("p", "AKIAAGENT", "a");
    env.ok(&["slot", "add", "keychain"]);
    let agent = |args: &[&str], pass: bool| {
        let mut c = env.cmd(args);
        c.env("VAULT_NO_AGENT", "0");
        if !pass {
            c.env_remove("VAULT_PASSPHRASE_FILE");
        }
        c.output().unwrap()
    };
    assert_success(&agent(&["unlock"], false), &["unlock"]);
    let before = export(&env, "p");
    assert_success(&agent(&["rekey"], true), &["rekey"]);
    let status = String::from_utf8(agent(&["status"], false).stdout).unwrap();
    assert!(status.contains("agent:    not running"), "{status}");
    // The keychain slot now holds the new identity: password-less unlock still works.
    let out = agent(
        &[
            "export",
            "p",
            "--no-session",
            "--format",
            "credential-process",
        ],
        false,
    );
    assert_success(&out, &["export through a keychain-unlocked agent"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), before);
    assert_eq!(
        keyring.items("vault-unlock").len(),
        1,
        "one identity in the keychain"
    );
    assert_success(&agent(&["lock", "--stop"], false), &["lock"]);

    // A keychain that cannot take the new identity loses the slot, never keeps the old one.
    keyring.lock();
    let out = env.run(&["rekey"]);
    assert_success(&out, &["rekey with a locked keychain"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not move"), "{stderr}");
    let slots = env.ok(&["slot", "list"]);
    assert!(!slots.contains("keychain"), "{slots}");
    assert_eq!(export(&env, "p"), before);
}
