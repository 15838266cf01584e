//! Vault files made once by an earlier vault and committed (tests/testdata/, see its README):
//! today's binary must open every normal fixture with the recorded contents, and refuse every
//! `fail_*` twin with its documented exit code and no panic. A release that cannot open the
//! vaults people already have fails here.
//!
//! `cargo test --test testdata -- --ignored make_fixtures` remakes them (with moto, for a real
//! cached session); the test reads the committed bytes, never freshly made ones.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

const PROFILE: &str = "prod";
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// v2 on: a second key, whose file the swapped twin copies over prod's.
const DEV_KEY_ID: &str = "AKIAI44QH8DHBEXAMPLE";
const DEV_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";

/// The fixture set this build's item format makes (`make_fixtures`); older sets are frozen.
const CURRENT: &str = "v3";

/// The normal fixtures: a vault directory each, beside `NAME.expected.json` (every item's
/// plaintext, by item name).
const VAULTS: &[&str] = &["v1", "v2", "v3"];

/// The `fail_*` twins: each is `v1` (or, where it says so, `v2`) with one file spoiled. The command that must fail on it,
/// the exit code it must fail with (the README's table) and words its message must hold.
const FAILS: &[(&str, &[&str], i32, &str)] = &[
    // The last byte of key.prod.age: the payload's Poly1305 tag.
    (
        "fail_tampered_mac",
        EXPORT,
        65,
        "payload fails authentication",
    ),
    // key.prod.age cut in half.
    ("fail_truncated", EXPORT, 65, "truncated or not an age file"),
    // v2's key.prod.age: a well-sealed item of format v99.
    (
        "fail_item_version",
        EXPORT,
        65,
        "item format v99 is not supported",
    ),
    // v2 with key.dev.age copied over key.prod.age: refused, not served as prod's key.
    (
        "fail_v2_swapped_item",
        EXPORT,
        65,
        r#"sealed as "key.dev", not "key.prod""#,
    ),
    // The slot stanza asks for m = 4 GiB + 1 KiB: refused before the KDF.
    ("fail_stanza_m_over_max", EXPORT, 65, "above 4096 MiB"),
    // The slot stanza's m is not a decimal number.
    (
        "fail_stanza_m_not_a_number",
        EXPORT,
        65,
        "not a decimal number",
    ),
    // The slot stanza has a sixth argument.
    (
        "fail_stanza_extra_arg",
        EXPORT,
        65,
        "wrong number of stanza arguments",
    ),
];

const EXPORT: &[&str] = &["export", PROFILE, "--no-session", "--format", "json"];

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata")
}

/// An [`Env`] whose vault is a private copy of fixture `name`, with the modes vault insists on
/// (git keeps neither 0700 nor 0600).
fn env_with(name: &str) -> Env {
    let env = Env::new();
    std::fs::create_dir(&env.dir).unwrap();
    set_mode(&env.dir, 0o700);
    for e in std::fs::read_dir(testdata().join(name)).unwrap() {
        let e = e.unwrap();
        let to = env.dir.join(e.file_name());
        std::fs::copy(e.path(), &to).unwrap();
        set_mode(&to, 0o600);
    }
    std::fs::write(
        env.path("home/aws-config"),
        format!("[profile {PROFILE}]\nregion = us-east-1\n"),
    )
    .unwrap();
    env
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

/// `vault recover`'s identity, in a file for `age -d -i`.
fn recovered_identity(env: &Env) -> PathBuf {
    let out = env.ok(&["recover"]);
    let identity = out
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .expect("recover prints an identity");
    let path = env.path("identity.txt");
    std::fs::write(&path, format!("{identity}\n")).unwrap();
    set_mode(&path, 0o600);
    path
}

/// The stock age CLI's decryption of `file`.
fn age_decrypt(identity: &Path, file: &Path) -> Vec<u8> {
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_success(&out, &["age -d", &file.display().to_string()]);
    out.stdout
}

fn fixture_dirs() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_is_known() {
    let mut known: Vec<String> = VAULTS.iter().map(|s| s.to_string()).collect();
    known.extend(FAILS.iter().map(|(n, ..)| n.to_string()));
    known.sort();
    assert_eq!(
        fixture_dirs(),
        known,
        "tests/testdata/ and this file disagree"
    );
}

#[test]
fn fixtures_open_with_their_recorded_contents() {
    if !require("the age CLI", have("age")) {
        return;
    }
    for name in VAULTS {
        let env = env_with(name);
        let expected: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(
            &std::fs::read(testdata().join(format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();

        // The long-term key, through the CLI.
        let out = env.ok(EXPORT);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["AWS_ACCESS_KEY_ID"], KEY_ID, "{name}: {out}");
        assert_eq!(v["AWS_SECRET_ACCESS_KEY"], SECRET, "{name}");

        // Every item is listed, and decrypts with the stock age CLI under the recovered master
        // identity to exactly its recorded plaintext, which today's parser accepts.
        let list: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
        let mut listed: Vec<String> = list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| format!("key.{}", k.as_str().unwrap()))
            .chain(list["sessions"].as_array().unwrap().iter().map(|s| {
                format!(
                    "session.{}.{}",
                    s["profile"].as_str().unwrap(),
                    s["id"].as_str().unwrap()
                )
            }))
            .collect();
        listed.sort();
        let mut items: Vec<String> = expected.keys().cloned().collect();
        items.sort();
        assert_eq!(listed, items, "{name}: vault list");
        let identity = recovered_identity(&env);
        for (item, plaintext) in &expected {
            let got = age_decrypt(&identity, &env.item(item));
            let got: serde_json::Value = serde_json::from_slice(&got).unwrap();
            assert_eq!(&got, plaintext, "{name}: {item}");
            vault::vault::item::Item::from_bytes(got.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{name}: {item}: {e}"));
            // v2 on, each item is bound to its own name.
            if got["v"].as_u64() >= Some(2) {
                assert_eq!(got["name"].as_str(), Some(item.as_str()), "{name}");
            }
        }
        assert!(expected.keys().any(|k| k.starts_with("key.")), "{name}");
        assert!(expected.keys().any(|k| k.starts_with("session.")), "{name}");
    }
}

#[test]
fn fail_fixtures_fail_with_their_exit_codes() {
    for (name, args, code, why) in FAILS {
        let env = env_with(name);
        let out = env.run(args);
        assert_code(&out, *code, name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{name}: {stderr}");
    }
}

/// Remakes this build's fixture set ([`CURRENT`], its `.expected.json` and the twins spoiled
/// from it) with this build (needs moto and the age CLI), and the byte-spoiled twins of the
/// frozen `v1/` (which only an old release could make, so they are never remade). Review the
/// diff: the committed bytes are the test.
#[test]
#[ignore = "remakes the committed fixtures"]
fn make_fixtures() {
    let moto = Moto::start(&[]).expect("moto");
    let env = Env::init();
    std::fs::write(
        env.path("home/aws-config"),
        format!("[profile {PROFILE}]\nregion = us-east-1\n[profile dev]\nregion = us-east-1\n"),
    )
    .unwrap();
    env.add_key(PROFILE, KEY_ID, SECRET);
    env.add_key("dev", DEV_KEY_ID, DEV_SECRET);
    // One rekey: the slot's stanza carries `g1` and every item generation 1 (since v3).
    env.ok(&["rekey"]);
    let out = env.run_env(
        &["exec", PROFILE, "--", "true"],
        &[("AWS_ENDPOINT_URL_STS", &moto.url())],
    );
    assert_success(&out, &["exec", PROFILE]);

    let root = testdata();
    let remove = |name: &str| {
        let path = root.join(name);
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else if path.exists() {
            std::fs::remove_file(&path).unwrap();
        }
    };
    let current = root.join(CURRENT);
    remove(CURRENT);
    remove(&format!("{CURRENT}.expected.json"));
    std::fs::create_dir(&current).unwrap();
    let identity = recovered_identity(&env);
    let mut expected = serde_json::Map::new();
    for e in std::fs::read_dir(&env.dir).unwrap() {
        let e = e.unwrap();
        let file = e.file_name().into_string().unwrap();
        let Some(item) = file.strip_suffix(".age") else {
            continue; // lock files
        };
        std::fs::copy(e.path(), current.join(&file)).unwrap();
        if item != "slot.passphrase" {
            let pt = age_decrypt(&identity, &e.path());
            expected.insert(item.into(), serde_json::from_slice(&pt).unwrap());
        }
    }
    std::fs::write(
        root.join(format!("{CURRENT}.expected.json")),
        serde_json::to_string_pretty(&expected).unwrap() + "\n",
    )
    .unwrap();

    let twin = |name: &str, base: &Path, file: &str, spoil: &dyn Fn(Vec<u8>) -> Vec<u8>| {
        remove(name);
        let dir = root.join(name);
        std::fs::create_dir(&dir).unwrap();
        for e in std::fs::read_dir(base).unwrap() {
            let e = e.unwrap();
            let mut bytes = std::fs::read(e.path()).unwrap();
            if e.file_name() == file {
                bytes = spoil(bytes);
            }
            std::fs::write(dir.join(e.file_name()), bytes).unwrap();
        }
    };
    let key_file = format!("key.{PROFILE}.age");
    // v2's twins (`fail_item_version`, `fail_v2_swapped_item`) were made by the v2 release
    // and are frozen now, as `v1/` is; the v3 set needs no twin of its own: its items differ
    // from v2's only by the generation, which `tests/redteam_rollback.rs` spoils.

    // The frozen v1 set's byte-spoiled twins (deterministic: remaking them changes nothing).
    let v1 = root.join("v1");
    twin("fail_tampered_mac", &v1, &key_file, &|mut b| {
        *b.last_mut().unwrap() ^= 1;
        b
    });
    twin("fail_truncated", &v1, &key_file, &|b| {
        b[..b.len() / 2].to_vec()
    });
    let stanza = |b: &[u8], edit: &dyn Fn(&mut Vec<String>)| -> Vec<u8> {
        let text = String::from_utf8_lossy(b).into_owned();
        let line = text
            .lines()
            .find(|l| l.starts_with("-> vault-argon2id "))
            .unwrap()
            .to_owned();
        let mut words: Vec<String> = line.split(' ').map(str::to_owned).collect();
        edit(&mut words);
        let at = contains_at(b, line.as_bytes());
        let mut out = b[..at].to_vec();
        out.extend_from_slice(words.join(" ").as_bytes());
        out.extend_from_slice(&b[at + line.len()..]);
        out
    };
    let slot = "slot.passphrase.age";
    twin("fail_stanza_m_over_max", &v1, slot, &|b| {
        stanza(&b, &|w| w[4] = (4 * 1024 * 1024 + 1).to_string())
    });
    twin("fail_stanza_m_not_a_number", &v1, slot, &|b| {
        stanza(&b, &|w| w[4] = "64MiB".into())
    });
    twin("fail_stanza_extra_arg", &v1, slot, &|b| {
        stanza(&b, &|w| w.push("1".into()))
    });
}

fn contains_at(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("the stanza line is in the slot")
}
