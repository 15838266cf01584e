//! The AWS SDK for JavaScript v3 as a real client of vault (issue 12): `@aws-sdk/client-sts`
//! with its default chain and `@aws-sdk/credential-providers` (pinned in
//! tests/js/package-lock.json, installed by scripts/setup.sh) calling GetCallerIdentity
//! against moto, with credentials from `vault exec` (environment), `vault exec --server`
//! (`fromHttp` on the container endpoint) and `credential_process = vault export`.
//! tests/js/caller.mjs prints one JSON line per call: the ARN, the Expiration the SDK
//! resolved, and the raw Expiration text its source sent.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const JS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js");
const CALLER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/caller.mjs");

const CONFIG_TEXT: &str = "
[profile src]
region = us-east-1

[profile prod]
region = us-east-1
source_profile = src
role_arn = arn:aws:iam::123456789012:role/prod
";

/// node and the pinned SDK packages, or a skip (a failure in CI).
fn js_ready() -> bool {
    let modules = ["@aws-sdk/client-sts", "@aws-sdk/credential-providers"]
        .iter()
        .all(|m| {
            Path::new(JS)
                .join("node_modules")
                .join(m)
                .join("package.json")
                .is_file()
        });
    require(
        "node + @aws-sdk (scripts/setup.sh)",
        have("node") && modules,
    )
}

fn setup(extra_config: &str) -> Option<(Env, Moto)> {
    if !js_ready() {
        return None;
    }
    let moto = Moto::start(&[])?;
    let env = Env::init();
    std::fs::write(
        env.path("home/aws-config"),
        format!("{CONFIG_TEXT}\n{extra_config}"),
    )
    .unwrap();
    env.add_key("src", "AKIAJSSDKSOURCE00000", "jssdk-secret");
    Some((env, moto))
}

/// One line of caller.mjs.
struct Call {
    arn: String,
    key: String,
    /// What the SDK resolved (toISOString, so always `Z`).
    expiration: Option<OffsetDateTime>,
    /// What the credentials' source sent, as text.
    raw: Option<String>,
}

fn calls(out: &Output, what: &str) -> Vec<Call> {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Call {
                arn: v["arn"].as_str().unwrap().to_owned(),
                key: v["accessKeyId"].as_str().unwrap().to_owned(),
                expiration: v["expiration"]
                    .as_str()
                    .map(|e| OffsetDateTime::parse(e, &Rfc3339).unwrap()),
                raw: v["raw"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

/// The raw Expiration a JS SDK child saw: UTC `Z`, and the instant the SDK resolved.
fn assert_utc(call: &Call, what: &str) -> OffsetDateTime {
    let raw = call
        .raw
        .as_deref()
        .unwrap_or_else(|| panic!("{what}: no Expiration"));
    assert!(raw.ends_with('Z'), "{what}: not UTC: {raw}");
    let parsed = OffsetDateTime::parse(raw, &Rfc3339).unwrap();
    let resolved = call
        .expiration
        .unwrap_or_else(|| panic!("{what}: the SDK resolved no expiration"));
    // The SDK keeps milliseconds.
    assert!(
        (parsed - resolved).abs() < time::Duration::milliseconds(1),
        "{what}: sent {raw}, resolved {resolved}"
    );
    parsed
}

/// `vault exec ARGS -- node caller.mjs NODE_ARGS` with moto as STS.
fn vault_node(env: &Env, moto: &Moto, args: &[&str], node_args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--", "node", CALLER]);
    all.extend(node_args);
    let mut c = env.cmd(&all);
    c.env("AWS_ENDPOINT_URL_STS", moto.url());
    c.output().unwrap()
}

/// node caller.mjs on its own (not under vault), with the vault's environment and a profile
/// whose credential_process runs vault.
fn node_with_profile(env: &Env, moto: &Moto, profile: &str, node_args: &[&str]) -> Output {
    let vault = env.cmd(&[]);
    Command::new("node")
        .arg(CALLER)
        .args(node_args)
        .env_clear()
        .envs(
            vault
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("AWS_PROFILE", profile)
        .env("AWS_ENDPOINT_URL_STS", moto.url())
        .output()
        .unwrap()
}

/// The JS SDK's default chain reaches the `--server` endpoint through `fromHttp`
/// (`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`), calls as
/// the role, and after its 20 s credentials expire gets fresh ones that work too.
#[test]
fn js_sdk_default_chain_uses_the_server_endpoint_and_its_refreshes() {
    let Some((env, moto)) = setup("") else { return };
    let start = OffsetDateTime::now_utc();
    let out = vault_node(
        &env,
        &moto,
        &["exec", "prod", "--server", "--duration", "20"],
        &["2", "--after-expiry"],
    );
    let got = calls(&out, "exec --server prod -- node caller.mjs");
    assert_eq!(got.len(), 2, "{}", String::from_utf8_lossy(&out.stdout));
    for c in &got {
        assert!(c.arn.contains(":assumed-role/prod/"), "{}", c.arn);
    }
    let first = assert_utc(&got[0], "first call");
    let second = assert_utc(&got[1], "after expiry");
    assert!(
        second > first,
        "no fresh credentials: {first} then {second}"
    );
    assert_ne!(got[0].key, got[1].key, "the same key after expiry");
    // --duration 20 was honoured (plus the time to start): no longer session was served.
    let life = first - start;
    assert!(
        life <= time::Duration::seconds(30),
        "first session lasts {life}"
    );
    assert!(moto.count("AssumeRole") >= 2, "no refresh reached moto");
    // credential-providers' own fromHttp and fromContainerMetadata read the same endpoint.
    for provider in ["--provider=http", "--provider=container"] {
        let out = vault_node(&env, &moto, &["exec", "prod", "--server"], &["1", provider]);
        let got = calls(&out, provider);
        assert!(got[0].arn.contains(":assumed-role/prod/"), "{}", got[0].arn);
        assert_utc(&got[0], provider);
    }
}

/// `credential_process = vault export --format credential-process prod`: the JS SDK's default
/// chain (and fromProcess) with `AWS_PROFILE` calls as the role.
#[test]
fn js_sdk_credential_process_runs_vault_export() {
    let extra = format!(
        "[profile viavault]\nregion = us-east-1\ncredential_process = {BIN} export --format credential-process prod\n"
    );
    let Some((env, moto)) = setup(&extra) else {
        return;
    };
    for provider in [None, Some("--provider=process")] {
        let mut args = vec!["1"];
        args.extend(provider);
        let out = node_with_profile(&env, &moto, "viavault", &args);
        let got = calls(
            &out,
            &format!("AWS_PROFILE=viavault node caller.mjs {args:?}"),
        );
        assert!(got[0].arn.contains(":assumed-role/prod/"), "{}", got[0].arn);
        assert_utc(&got[0], "credential-process");
    }
    // Every call used the one cached session.
    assert_eq!(moto.count("AssumeRole"), 1);
}

/// Plain `vault exec`: the JS SDK's default chain takes the environment's credentials
/// (with AWS_CREDENTIAL_EXPIRATION) and calls as the role.
#[test]
fn js_sdk_reads_the_environment_of_plain_exec() {
    let Some((env, moto)) = setup("") else { return };
    for provider in [None, Some("--provider=env")] {
        let mut args = vec!["1"];
        args.extend(provider);
        let out = vault_node(&env, &moto, &["exec", "prod"], &args);
        let got = calls(&out, &format!("exec prod -- node caller.mjs {args:?}"));
        assert!(got[0].arn.contains(":assumed-role/prod/"), "{}", got[0].arn);
        assert!(got[0].key.starts_with("ASIA"), "{}", got[0].key);
        assert_utc(&got[0], "AWS_CREDENTIAL_EXPIRATION");
    }
}

/// Issue 12's bug: a `credential_process` source printing its Expiration with a UTC offset
/// (`+02:00`) was passed through, and the JS SDK's fromHttp refused it, failing the whole
/// default chain. Through `--server`, `export --format credential-process` and plain `exec`,
/// the JS SDK must get the same instant as UTC `Z`.
#[test]
fn js_sdk_accepts_a_credential_process_source_with_a_utc_offset() {
    if !js_ready() {
        return;
    }
    let later = (OffsetDateTime::now_utc() + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap();
    let plus2 = later
        .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
        .format(&Rfc3339)
        .unwrap();
    assert!(plus2.ends_with("+02:00"), "{plus2}");
    let tmp = tempfile::tempdir().unwrap();
    let cp = tmp.path().join("cp.json");
    std::fs::write(
        &cp,
        format!(
            r#"{{"Version":1,"AccessKeyId":"ASIAOFFSET0000000000","SecretAccessKey":"offsetSecretKey0000000000000000000000000","SessionToken":"offsetSessionToken0000","Expiration":"{plus2}"}}"#
        ),
    )
    .unwrap();
    let extra = format!(
        "[profile offset]\nregion = us-east-1\ncredential_process = cat {}\n\n\
         [profile offsetvia]\nregion = us-east-1\ncredential_process = {BIN} export --format credential-process offset\n",
        cp.display()
    );
    let Some((env, moto)) = setup(&extra) else {
        return;
    };

    // --server: the default chain's fromHttp, and credential-providers' fromHttp.
    for provider in [None, Some("--provider=http")] {
        let mut args = vec!["1"];
        args.extend(provider);
        let out = vault_node(&env, &moto, &["exec", "offset", "--server"], &args);
        let got = calls(&out, &format!("exec offset --server -- node {args:?}"));
        assert_eq!(got[0].key, "ASIAOFFSET0000000000");
        assert_eq!(assert_utc(&got[0], "--server"), later);
    }
    // credential_process = vault export --format credential-process offset.
    let out = node_with_profile(&env, &moto, "offsetvia", &["1"]);
    let got = calls(&out, "AWS_PROFILE=offsetvia node caller.mjs");
    assert_eq!(got[0].key, "ASIAOFFSET0000000000");
    assert_eq!(
        assert_utc(&got[0], "export --format credential-process"),
        later
    );
    // Plain exec: AWS_CREDENTIAL_EXPIRATION.
    let out = vault_node(&env, &moto, &["exec", "offset"], &["1"]);
    let got = calls(&out, "exec offset -- node caller.mjs");
    assert_eq!(got[0].key, "ASIAOFFSET0000000000");
    assert_eq!(assert_utc(&got[0], "AWS_CREDENTIAL_EXPIRATION"), later);
}
