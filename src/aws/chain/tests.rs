//! The chain planner's rules, each named for what it checks.

use super::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

const CONF: &str = "
[profile src]
region = eu-west-1
mfa_serial = arn:aws:iam::111111111111:mfa/me
[profile a]
source_profile = src
role_arn = arn:aws:iam::222222222222:role/A
[profile b]
source_profile = a
role_arn = arn:aws:iam::333333333333:role/B
external_id = xyz
duration_seconds = 1800
session_tags = team=core, env = prod
[profile loop1]
source_profile = loop2
role_arn = arn:aws:iam::1:role/x
[profile loop2]
source_profile = loop1
role_arn = arn:aws:iam::1:role/y
[profile self]
source_profile = self
role_arn = arn:aws:iam::1:role/self
[profile dangling]
source_profile = nowhere
role_arn = arn:aws:iam::1:role/d
[profile sso]
sso_start_url = https://example.awsapps.com/start
sso_account_id = 123456789012
sso_role_name = Admin
[profile via-sso]
source_profile = sso
role_arn = arn:aws:iam::1:role/v
[profile webid]
role_arn = arn:aws:iam::1:role/w
web_identity_token_file = /var/run/token
[profile meta]
role_arn = arn:aws:iam::1:role/m
credential_source = Ec2InstanceMetadata
";

#[test]
fn two_hop_chain() {
    let c = rt().block_on(Config::from_text(CONF));
    let chain = c.chain("b", &|p| Ok(p == "src")).unwrap();
    assert_eq!(source_settings(&chain.source).name, "src");
    let names: Vec<_> = chain.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(chain.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        chain.mfa_serial.as_deref(),
        Some("arn:aws:iam::111111111111:mfa/me")
    );
    let b = &chain.roles[1];
    assert_eq!(b.external_id.as_deref(), Some("xyz"));
    assert_eq!(b.duration_seconds, Some(1800));
    assert_eq!(
        b.session_tags,
        vec![
            ("team".into(), "core".into()),
            ("env".into(), "prod".into())
        ]
    );
}

#[test]
fn loops_missing_and_self_source() {
    let c = rt().block_on(Config::from_text(CONF));
    let e = c.chain("loop1", &|_| Ok(false)).unwrap_err();
    assert!(e.to_string().contains("loop1 -> loop2 -> loop1"), "{e}");
    assert!(matches!(
        c.chain("nope", &|_| Ok(false)),
        Err(Error::NoProfile(_))
    ));
    assert!(matches!(
        c.chain("dangling", &|_| Ok(false)),
        Err(Error::Config(_))
    ));
    // Not in the config, but stored in the vault: usable.
    let only_vault = c.chain("vaultonly", &|p| Ok(p == "vaultonly")).unwrap();
    assert!(only_vault.roles.is_empty());
    let s = c.chain("self", &|p| Ok(p == "self")).unwrap();
    assert_eq!(source_settings(&s.source).name, "self");
    assert_eq!(s.roles.len(), 1);
}

#[test]
fn foreign_sources_are_named() {
    let c = rt().block_on(Config::from_text(CONF));
    for (profile, key) in [
        ("sso", "sso_region"),
        ("via-sso", "sso_region"),
        ("webid", "web_identity_token_file"),
        ("meta", "credential_source"),
    ] {
        match c.chain(profile, &|_| Ok(false)) {
            Err(Error::Config(m)) => assert!(m.contains(key), "{profile}: {m}"),
            other => panic!("{profile}: {other:?}"),
        }
    }
    // An SSO profile with a key stored for it has two sources: refused, not guessed.
    let sso = "[sso-session s]\nsso_start_url = https://x/start\nsso_region = eu-west-1\n[profile sso]\nsso_session = s\nsso_account_id = 1\nsso_role_name = r\n[profile via-sso]\nsource_profile = sso\nrole_arn = arn:aws:iam::1:role/v\n";
    let c = rt().block_on(Config::from_text(sso));
    match c.chain("via-sso", &|p| Ok(p == "sso")) {
        Err(Error::Config(m)) => assert!(m.contains("both IAM Identity Center"), "{m}"),
        other => panic!("{other:?}"),
    }
    let chain = c.chain("via-sso", &|_| Ok(false)).unwrap();
    assert!(matches!(&chain.source, Source::Sso(s) if s.name == "sso"));
    assert_eq!(chain.roles.len(), 1);
}

const RULES: &str = "
[profile key-src]
region = eu-west-1
[profile own-process]
source_profile = key-src
credential_process = echo unused
[profile own-key]
source_profile = key-src
[profile mid]
source_profile = key-src
role_arn = arn:aws:iam::1:role/Mid
[profile top]
source_profile = mid
role_arn = arn:aws:iam::1:role/Top
[profile both]
source_profile = key-src
credential_source = Environment
role_arn = arn:aws:iam::1:role/Both
";

#[test]
fn own_credential_process_ends_the_walk_despite_source_profile() {
    let c = rt().block_on(Config::from_text(RULES));
    let chain = c.chain("own-process", &|p| Ok(p == "key-src")).unwrap();
    assert!(matches!(&chain.source, Source::Process(s) if s.name == "own-process"));
    assert!(chain.roles.is_empty());
}

#[test]
fn own_stored_key_ends_the_walk_despite_source_profile() {
    let c = rt().block_on(Config::from_text(RULES));
    let has = |p: &str| Ok(p == "key-src" || p == "own-key");
    let chain = c.chain("own-key", &has).unwrap();
    assert!(matches!(&chain.source, Source::StoredKey(s) if s.name == "own-key"));
    assert!(chain.roles.is_empty());
    // Without a key of its own it still borrows its source's.
    let chain = c.chain("own-key", &|p| Ok(p == "key-src")).unwrap();
    assert_eq!(source_settings(&chain.source).name, "key-src");
}

#[test]
fn a_source_profile_with_a_stored_key_is_a_leaf() {
    let c = rt().block_on(Config::from_text(RULES));
    // mid holds a key: top's role is assumed from it, mid's own role is not.
    let chain = c
        .chain("top", &|p| Ok(p == "key-src" || p == "mid"))
        .unwrap();
    assert!(matches!(&chain.source, Source::StoredKey(s) if s.name == "mid"));
    let roles: Vec<_> = chain.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(roles, ["top"]);
    // The requested profile's own role is still assumed when it holds a key too.
    let chain = c
        .chain("mid", &|p| Ok(p == "key-src" || p == "mid"))
        .unwrap();
    assert_eq!(source_settings(&chain.source).name, "key-src");
    assert_eq!(chain.roles.len(), 1);
}

#[test]
fn source_profile_with_credential_source_is_refused() {
    let c = rt().block_on(Config::from_text(RULES));
    match c.chain("both", &|p| Ok(p == "key-src")) {
        Err(Error::Config(m)) => assert!(
            m.contains("both source_profile and credential_source"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}
