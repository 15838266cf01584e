//! A newcomer's first hour (issue 16): advice that never loses data, a second chance at
//! prompts, confirmation before destroying a key, aws-vault's habits, true messages.

mod common;

use common::{assert_code, assert_success, Env};

/// A lost passphrase slot beside stored keys: vault says so (not "run `vault init`"), refuses
/// a plain `init` that would orphan the keys, and re-creates the slot from the recovery
/// identity so every key opens again.
#[test]
fn a_lost_slot_is_recovered_from_the_identity_not_replaced() {
    let env = Env::init();
    env.add_key("prod", "AKIAPROD0000000000001", "prod-secret");
    let identity = env.ok(&["recover"]);
    let idfile = env.path("identity.txt");
    std::fs::write(&idfile, &identity).unwrap();
    std::fs::remove_file(env.item("slot.passphrase")).unwrap();

    let out = env.run(&["export", "prod", "--no-session", "--format", "env"]);
    assert_code(&out, 65, "export with the slot gone");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("slot") && err.contains("--from-identity"),
        "{err}"
    );
    assert!(!err.contains("run `vault init`"), "{err}");

    let out = env.run(&["init", "--kdf-memory", "64", "--kdf-time", "3"]);
    assert_code(&out, 65, "plain init beside orphaned keys");
    assert!(!env.item("slot.passphrase").exists());

    // Another vault's identity is refused: new keys would be sealed to it.
    let other = Env::init();
    let wrong = env.path("wrong.txt");
    std::fs::write(&wrong, other.ok(&["recover"])).unwrap();
    let out = env.run(&["init", "--from-identity", wrong.to_str().unwrap()]);
    assert_code(&out, 2, "init from another vault's identity");
    assert!(!env.item("slot.passphrase").exists());

    let args = [
        "init",
        "--kdf-memory",
        "64",
        "--kdf-time",
        "3",
        "--from-identity",
        idfile.to_str().unwrap(),
    ];
    assert_success(&env.run(&args), &args);
    let out = env.ok(&["export", "prod", "--no-session", "--format", "env"]);
    assert!(out.contains("prod-secret"), "{out}");
}

/// A corrupted slot's hint names what can be done for a slot (not `vault remove`).
#[test]
fn a_corrupted_slot_hint_is_one_that_can_be_followed() {
    let env = Env::init();
    let slot = env.item("slot.passphrase");
    let mut bytes = std::fs::read(&slot).unwrap();
    let n = bytes.len();
    bytes.truncate(n / 2);
    std::fs::write(&slot, bytes).unwrap();
    let out = env.run(&["list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let out = env.run(&["export", "prod", "--no-session"]);
    let err2 = String::from_utf8_lossy(&out.stderr);
    for e in [&err, &err2] {
        assert!(!e.contains("`vault remove` it"), "{e}");
    }
    assert!(
        err2.contains("--from-identity") || err2.contains("backup"),
        "{err2}"
    );
}
