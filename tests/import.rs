//! Black-box tests of `vault import`: keys move from the plaintext credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, `home/aws-credentials` in each test's temp dir) into the
//! vault, and with `--remove-plaintext` only their two lines leave the file.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

const NOT_FOUND: i32 = 66;
const WRONG_PASSPHRASE: i32 = 77;
const CONFIG: i32 = 78;

const DEV_ID: &str = "AKIADEVEXAMPLE000001";
const DEV_SECRET: &str = "dev-CANARY-wJalrXUtnFEMI/K7MDENG+bPxRfiCY";
const PROD_ID: &str = "AKIAPRODEXAMPLE00002";
const PROD_SECRET: &str = "prod-CANARY-je7MtGbClwBF/2Zp9Utk+h3yCo8nvb";
const TEMP_SECRET: &str = "temp-CANARY-secret";

/// Two long-term keys (odd spacing, a trailing comment, an MFA serial), one session, comments,
/// blank lines and a `region` line.
const CREDENTIALS: &str = "\
# AWS keys, managed by hand
[dev]
aws_access_key_id = AKIADEVEXAMPLE000001
aws_secret_access_key = dev-CANARY-wJalrXUtnFEMI/K7MDENG+bPxRfiCY
region = eu-west-1

; production: rotate quarterly
[ prod ]
AWS_ACCESS_KEY_ID=AKIAPRODEXAMPLE00002
aws_secret_access_key\t =   prod-CANARY-je7MtGbClwBF/2Zp9Utk+h3yCo8nvb   # rotated in May
mfa_serial = arn:aws:iam::123456789012:mfa/me

[temp]
aws_access_key_id = ASIATEMPEXAMPLE00003
aws_secret_access_key = temp-CANARY-secret
aws_session_token = temp-token
";

/// `CREDENTIALS` after importing dev and prod with `--remove-plaintext`.
const AFTER: &str = "\
# AWS keys, managed by hand
[dev]
region = eu-west-1

; production: rotate quarterly
[ prod ]
mfa_serial = arn:aws:iam::123456789012:mfa/me

[temp]
aws_access_key_id = ASIATEMPEXAMPLE00003
aws_secret_access_key = temp-CANARY-secret
aws_session_token = temp-token
";

fn write_credentials(env: &Env, text: &str) -> std::path::PathBuf {
    let path = env.path("home/aws-credentials");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The stored key, as `vault export P --no-session --format credential-process` prints it.
fn exported(env: &Env, profile: &str) -> (String, String) {
    let out = env.ok(&[
        "export",
        profile,
        "--no-session",
        "--format",
        "credential-process",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        json["AccessKeyId"].as_str().unwrap().to_owned(),
        json["SecretAccessKey"].as_str().unwrap().to_owned(),
    )
}

fn stored_keys(env: &Env) -> serde_json::Value {
    let listed: serde_json::Value = serde_json::from_str(&env.ok(&["list", "--json"])).unwrap();
    listed["keys"].clone()
}

#[test]
fn remove_plaintext_moves_the_keys_and_keeps_everything_else() {
    let env = Env::init();
    let path = write_credentials(&env, CREDENTIALS);

    let out = env.run(&["import", "--remove-plaintext"]);
    assert_success(&out, &["import", "--remove-plaintext"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "vault: imported 2 keys (dev, prod); removed them from {}",
            path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipping temp") && stderr.contains("aws_session_token"),
        "{stderr}"
    );

    assert_eq!(exported(&env, "dev"), (DEV_ID.into(), DEV_SECRET.into()));
    assert_eq!(exported(&env, "prod"), (PROD_ID.into(), PROD_SECRET.into()));
    assert_eq!(stored_keys(&env), serde_json::json!(["dev", "prod"]));

    // Byte for byte what was there, minus the four key lines; same mode; no temp file left.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), AFTER);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    let home: Vec<_> = std::fs::read_dir(env.path("home"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        // ~/.local/state/vault holds the record of the vault's newest generation (issue 13).
        .filter(|n| n != ".local")
        .collect();
    assert_eq!(home, ["aws-credentials"]);

    // The imported secrets are nowhere in plaintext; nothing was printed.
    for f in files_under(env.tmp.path()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for canary in [DEV_SECRET, PROD_SECRET] {
            assert!(
                !contains(&bytes, canary.as_bytes()),
                "{canary} in {}",
                f.display()
            );
        }
    }
    for canary in [DEV_SECRET, PROD_SECRET, TEMP_SECRET] {
        assert!(!contains(&out.stdout, canary.as_bytes()));
        assert!(!contains(&out.stderr, canary.as_bytes()));
    }

    // Again: nothing left to import, the file stays as it is.
    let again = env.run(&["import", "--remove-plaintext"]);
    assert_success(&again, &["import", "again"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), AFTER);
}

#[test]
fn without_the_flag_the_file_is_byte_identical() {
    let env = Env::init();
    let path = write_credentials(&env, CREDENTIALS);
    let out = env.run(&["import"]);
    assert_success(&out, &["import"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("imported 2 keys (dev, prod)") && stderr.contains("--remove-plaintext"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), CREDENTIALS.as_bytes());
    assert_eq!(exported(&env, "dev"), (DEV_ID.into(), DEV_SECRET.into()));
    assert_eq!(exported(&env, "prod"), (PROD_ID.into(), PROD_SECRET.into()));

    // Importing the same keys again is harmless, and now removes them.
    env.ok(&["import", "--remove-plaintext"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), AFTER);
    assert_eq!(exported(&env, "prod"), (PROD_ID.into(), PROD_SECRET.into()));
}

#[test]
fn wrong_passphrase_changes_nothing() {
    let env = Env::init();
    let path = write_credentials(&env, CREDENTIALS);
    let wrong = env.path("wrong");
    write_secret(&wrong, "not the passphrase\n");
    let out = env.run_env(
        &["import", "--remove-plaintext"],
        &[("VAULT_PASSPHRASE_FILE", wrong.to_str().unwrap())],
    );
    assert_code(&out, WRONG_PASSPHRASE, "import with a wrong passphrase");
    assert_eq!(std::fs::read(&path).unwrap(), CREDENTIALS.as_bytes());
    assert_eq!(stored_keys(&env), serde_json::json!([]));
}

#[test]
fn missing_credentials_file_is_a_clear_error() {
    let env = Env::init();
    let out = env.run(&["import", "--remove-plaintext"]);
    assert_code(&out, CONFIG, "import without a credentials file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no AWS credentials file at")
            && stderr.contains("aws-credentials")
            && stderr.contains("hint: "),
        "{stderr}"
    );
    assert!(!env.path("home/aws-credentials").exists());

    // The default location is ~/.aws/credentials when the variable is not set.
    let mut cmd = env.cmd(&["import"]);
    cmd.env_remove("AWS_SHARED_CREDENTIALS_FILE");
    let out = cmd.output().unwrap();
    assert_code(&out, CONFIG, "import without ~/.aws/credentials");
    let want = env.path("home/.aws/credentials");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&want.display().to_string()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn profile_limits_the_import() {
    let env = Env::init();
    let path = write_credentials(&env, CREDENTIALS);
    env.ok(&["import", "--profile", "prod", "--remove-plaintext"]);
    assert_eq!(stored_keys(&env), serde_json::json!(["prod"]));
    let want = CREDENTIALS
        .replace("AWS_ACCESS_KEY_ID=AKIAPRODEXAMPLE00002\n", "")
        .replace(
            "aws_secret_access_key\t =   prod-CANARY-je7MtGbClwBF/2Zp9Utk+h3yCo8nvb   # rotated in May\n",
            "",
        );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want);

    // A profile the file does not have is "not found"; a session profile is refused.
    let before = std::fs::read(&path).unwrap();
    let out = env.run(&["import", "--profile", "dev", "--profile", "nosuch"]);
    assert_code(&out, NOT_FOUND, "import --profile nosuch");
    let out = env.run(&["import", "--profile", "temp", "--remove-plaintext"]);
    assert_code(&out, CONFIG, "import --profile temp");
    assert!(String::from_utf8_lossy(&out.stderr).contains("aws_session_token"));
    let out = env.run(&["import", "--profile", "../x"]);
    assert_code(&out, 2, "import --profile ../x");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(stored_keys(&env), serde_json::json!(["prod"]));
}

#[test]
fn a_different_stored_key_is_not_overwritten_nor_removed() {
    let env = Env::init();
    env.add_key("dev", "AKIAOTHERKEY00000009", "other-secret");
    let path = write_credentials(&env, CREDENTIALS);
    let out = env.run(&["import", "--remove-plaintext"]);
    assert_success(&out, &["import", "--remove-plaintext"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("skipping dev") && stderr.contains("imported 1 key (prod)"),
        "{stderr}"
    );
    assert_eq!(
        exported(&env, "dev"),
        ("AKIAOTHERKEY00000009".into(), "other-secret".into())
    );
    // dev's lines stay; prod's are gone.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(DEV_SECRET) && !text.contains(PROD_SECRET),
        "{text}"
    );
}

#[test]
fn a_symlinked_file_is_edited_through_the_link() {
    let env = Env::init();
    let real = env.path("home/real-credentials");
    std::fs::write(&real, CREDENTIALS.replace('\n', "\r\n")).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink(&real, env.path("home/aws-credentials")).unwrap();
    env.ok(&["import", "--remove-plaintext"]);
    let link = std::fs::symlink_metadata(env.path("home/aws-credentials")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        AFTER.replace('\n', "\r\n")
    );
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
}

#[test]
fn an_unparsable_file_is_a_config_error_and_unchanged() {
    let env = Env::init();
    let bad = "[dev]\naws_access_key_id = AKIADEVEXAMPLE000001\nthis line has no equals sign\n";
    let path = write_credentials(&env, bad);
    let out = env.run(&["import", "--remove-plaintext"]);
    assert_code(&out, CONFIG, "unparsable credentials file");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&path).unwrap(), bad.as_bytes());
}
