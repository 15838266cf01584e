//! CLI transcripts (trycmd): the exact stderr, stdout and exit status of the failures whose
//! `hint:` lines need no real part. One case a file under tests/cmd/: `NAME.toml` for one
//! command, `NAME.trycmd` for a sequence; `NAME.in/` holds a case's files, and every case runs
//! in a sandbox (a temp copy of them). `TRYCMD=overwrite cargo test --test cli` rewrites the
//! expected output after a deliberate change.

use std::io::Write;

#[test]
fn cli_transcripts() {
    // Hermetic: nothing of the caller's environment but PATH (and trycmd's own switches) reaches
    // a case; HOME, the XDG dirs and the AWS files point where nothing is.
    for (key, _) in std::env::vars_os() {
        if !matches!(key.to_str(), Some("PATH" | "TRYCMD" | "SNAPSHOTS")) {
            std::env::remove_var(&key);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    writeln!(std::fs::File::create(&pass).unwrap(), "trycmd passphrase").unwrap();
    std::fs::set_permissions(&pass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let nowhere = dir.path().join("nowhere").display().to_string();
    trycmd::TestCases::new()
        .register_bin("vault", trycmd::cargo::cargo_bin!("vault"))
        .env("HOME", &nowhere)
        .env("XDG_CONFIG_HOME", &nowhere)
        .env("XDG_DATA_HOME", &nowhere)
        .env("XDG_RUNTIME_DIR", &nowhere)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("VAULT_NO_AGENT", "1")
        .env("VAULT_PASSPHRASE_FILE", pass.display().to_string())
        .case("tests/cmd/*.toml")
        .case("tests/cmd/*.trycmd")
        .run();
}
