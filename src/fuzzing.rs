//! Entry points for the fuzz targets (`fuzz/`) and their corpus replay (`tests/fuzz_corpora.rs`):
//! one `fn(&[u8])` per parser of untrusted bytes, none of which may panic on any input. The
//! few `assert!`s here are oracles: they fail only on a broken invariant, which is a bug.
//!
//! This is the one place that names the parsers' modules, so moving a parser means fixing a
//! path here and nowhere in `fuzz/` or `tests/`. Not an API: hidden from the docs.

use std::io::BufReader;

use aws_config::profile::ProfileSet;

use crate::agent::protocol::{read_frame, FrameError, Request, Response};
use crate::vault::crypto::MasterIdentity;
use crate::vault::item::Item;
use crate::vault::slot::SlotStanza;

/// A fuzz target: takes any bytes, never panics.
pub type Target = fn(&[u8]);

/// Every target by name: the name is its `fuzz/fuzz_targets/NAME.rs` and `fuzz/corpus/NAME/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("slot_stanza", slot_stanza),
    ("slot_params", slot_params),
    ("item", item),
    ("item_file", item_file),
    ("agent_request", agent_request),
    ("agent_response", agent_response),
    ("helper_reply", helper_reply),
    ("credentials_file", credentials_file),
    ("ecs_request", ecs_request),
];

/// A throwaway master identity for [`item_file`] (its corpus holds items sealed to it).
pub const ITEM_FILE_IDENTITY: &str =
    "AGE-SECRET-KEY-1WXP7R8K4Q0KUU5T8W2QQACNU5YM00X4Q48UA7EL5X78QJAN8XDAS95ENXU";

/// A `vault-argon2id` stanza as age hands it over: the first line is `TAG ARG...`, the rest is
/// the body. Parsed strictly, then bounds-checked (never derived: that is the KDF's cost).
pub fn slot_stanza(data: &[u8]) {
    let (line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let mut words = line.split(' ');
    let stanza = age_core::format::Stanza {
        tag: words.next().unwrap_or_default().to_owned(),
        args: words.map(str::to_owned).collect(),
        body: body.to_vec(),
    };
    if let Ok(parsed) = SlotStanza::parse(&stanza) {
        let _ = parsed.params.check();
    }
}

/// A whole `slot.passphrase.age` file, read without the passphrase (`vault status`).
pub fn slot_params(data: &[u8]) {
    if let Ok(params) = MasterIdentity::slot_params(data) {
        let _ = params.check();
    }
}

/// An item's plaintext: what a valid item parses to must serialise and parse back the same.
pub fn item(data: &[u8]) {
    if let Ok(item) = Item::from_bytes(data) {
        let again = Item::from_bytes(&item.to_bytes()).expect("a parsed item re-parses");
        assert!(again == item, "an item changed through a round trip");
    }
}

/// An item file: age's header and payload under a master identity, then the item.
pub fn item_file(data: &[u8]) {
    let master = MasterIdentity::parse(ITEM_FILE_IDENTITY).expect("the fuzz identity parses");
    if let Ok(plaintext) = master.open(data) {
        item(&plaintext);
    }
}

/// Frames on one agent connection, read as the agent reads them; the first byte picks the
/// read buffer's size so frames straddle buffer boundaries.
fn frames<T: for<'de> serde::Deserialize<'de>>(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut r = BufReader::with_capacity(usize::from(first) + 1, rest);
    for _ in 0..64 {
        match read_frame::<T>(&mut r) {
            Ok(_) | Err(FrameError::Malformed(_)) => {}
            Err(_) => return,
        }
    }
}

/// What a client sends the agent.
pub fn agent_request(data: &[u8]) {
    frames::<Request>(data);
}

/// What the agent answers a client.
pub fn agent_response(data: &[u8]) {
    frames::<Response>(data);
}

/// A docker credential helper's stdout, as the answer to `get` and to `list`.
pub fn helper_reply(data: &[u8]) {
    let _ = vault_backends::helper::parse_get_reply(data);
    let _ = vault_backends::helper::parse_list_reply(data);
}

/// An AWS shared credentials file, edited as `vault import --remove-plaintext` does: the
/// line editor must drop exactly what the SDK read as the named profiles' keys.
pub fn credentials_file(data: &[u8]) {
    use crate::aws::credentials_file::{check_removed, ignored_sections, parse, remove_keys};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ignored_sections(text);
    let Ok(before) = parse(text) else {
        return;
    };
    if sdk_merge_is_random(text) {
        return;
    }
    // As `vault import`: only profiles with a name vault accepts are imported and removed (the
    // SDK also reads sections such as `[ ]`, a profile named "", which import skips).
    let mut profiles: Vec<String> = before
        .profiles()
        .filter(|p| crate::cli::args::profile_name(p).is_ok())
        .map(str::to_owned)
        .collect();
    profiles.sort();
    // Every other profile: some named, some not.
    let named: Vec<String> = profiles.iter().step_by(2).cloned().collect();
    let after_text = remove_keys(text, &named);
    let after = parse(&after_text).expect("the edited file parses");
    if let Err(e) = check_removed(&before, &after, &named) {
        // The SDK merges some duplicates in `HashMap` order (see `sdk_merge_is_random`): a
        // text it does not read the same way every time checks nothing.
        let stable = |t: &str, first: &ProfileSet| {
            (0..16).all(|_| parse(t).is_ok_and(|again| same_profiles(&again, first)))
        };
        if stable(text, &before) && stable(&after_text, &after) {
            panic!("the edit disagrees with the SDK: {e}");
        }
    }
    assert_eq!(
        remove_keys(text, &[]),
        text,
        "an edit with no profiles changed the file"
    );
}

fn same_profiles(a: &ProfileSet, b: &ProfileSet) -> bool {
    let mut names: Vec<&str> = a.profiles().chain(b.profiles()).collect();
    names.sort_unstable();
    names.dedup();
    names.iter().all(|n| a.get_profile(n) == b.get_profile(n))
}

/// Whether two sections that the SDK keys apart (`[\ra]`, `[a]`) name the same profile: it
/// merges those in `HashMap` order, so which value wins changes from one parse to the next and
/// no edit can be checked against it. Header names as the SDK's `SectionPair::parse` trims them.
fn sdk_merge_is_random(text: &str) -> bool {
    const SPACE_TAB: &[char] = &[' ', '\t'];
    let mut raw_by_name = std::collections::HashMap::new();
    for line in text.lines() {
        let Some(inner) = line.trim_matches(SPACE_TAB).strip_prefix('[') else {
            continue;
        };
        if line.starts_with(SPACE_TAB) {
            continue; // a continuation line, to the SDK
        }
        let inner = inner.split([']', '#', ';']).next().unwrap_or_default();
        let raw = inner.trim_matches(SPACE_TAB);
        let name = if raw.contains(SPACE_TAB) {
            raw
        } else {
            raw.trim()
        };
        if *raw_by_name.entry(name).or_insert(raw) != raw {
            return true;
        }
    }
    false
}

/// An HTTP request head to the `vault exec --server` credential endpoint.
pub fn ecs_request(data: &[u8]) {
    let _ = crate::exec::ecs::check_request(data, 4242, b"0123456789abcdef");
}
