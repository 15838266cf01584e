//! The configuration file: defaults below flags and variables, errors that name the file.

mod common;

use common::*;

fn write_config(env: &Env, text: &str) {
    let dir = env.path("home/.config/vault");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

#[test]
fn a_broken_config_file_is_a_clear_error_naming_it() {
    let env = Env::new();
    for (text, want) in [
        ("backned = \"file\"\n", "backned"),
        ("agent = \"sometimes\"\n", "agent"),
        ("agent_timeout = \"soon\"\n", "agent_timeout"),
        ("vault_dir = \n", "config.toml"),
    ] {
        write_config(&env, text);
        let out = env.run(&["list"]);
        assert_code(&out, 78, text);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{text}: {stderr}");
    }
    // A file another user could edit is refused, like a loose vault directory.
    write_config(&env, "agent = false\n");
    let file = env.path("home/.config/vault/config.toml");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let out = env.run(&["list"]);
    assert_code(&out, 80, "a world-writable config file");
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod go-w"));
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    assert_code(&env.run(&["list"]), 66, "a private config file, no vault");
    // VAULT_CONFIG= (empty) reads no file at all.
    let out = env.run_env(&["init", "--kdf-memory", "64"], &[("VAULT_CONFIG", "")]);
    assert_success(&out, &["init with VAULT_CONFIG empty"]);
}

#[test]
fn settings_come_from_the_file_below_flags_variables_and_the_recorded_backend() {
    let env = Env::new();
    let dir = env.path("from-config");
    write_config(
        &env,
        &format!(
            "vault_dir = \"{}\"\nbackend = \"helper:missing\"\nagent = false\n",
            dir.display()
        ),
    );
    let without_dir = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.env_remove("VAULT_DIR").env_remove("VAULT_NO_AGENT");
        c.output().unwrap()
    };
    // The file's backend is used for a new vault...
    let out = without_dir(&["init", "--kdf-memory", "64"]);
    assert_code(&out, 69, "init on the config's helper backend");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("vault-backend-missing"),
        "{out:?}"
    );
    assert!(!dir.join("slot.passphrase.age").exists());
    // ...a flag beats it, and the vault's recorded backend then wins over it.
    assert_success(
        &without_dir(&["--backend", "file", "init", "--kdf-memory", "64"]),
        &["init --backend file"],
    );
    assert!(
        dir.join("slot.passphrase.age").exists(),
        "vault_dir from the file"
    );
    let out = without_dir(&["add", "p", "--env", "--force"]);
    assert_code(&out, 2, "add --env without the variables");
    let mut c = env.cmd(&["add", "p", "--env", "--force"]);
    c.env_remove("VAULT_DIR")
        .env_remove("VAULT_NO_AGENT")
        .env("AWS_ACCESS_KEY_ID", "AKIACONFIG")
        .env("AWS_SECRET_ACCESS_KEY", "c");
    assert_success(&c.output().unwrap(), &["add"]);
    // `agent = false`: no agent was started, though VAULT_NO_AGENT is unset.
    let status = String::from_utf8(without_dir(&["status"]).stdout).unwrap();
    assert!(status.contains("backend:  file"), "{status}");
    assert!(status.contains("agent:    not running"), "{status}");
    // VAULT_DIR beats the file's vault_dir.
    let out = env.run(&["list"]);
    assert_code(&out, 66, "VAULT_DIR points at no vault");
}

#[test]
fn keychain_service_comes_from_the_file_unless_the_variable_says_otherwise() {
    let Some(keyring) = Keyring::start() else {
        return;
    };
    let mut env = Env::new();
    env.vars = keyring.vars("unused");
    env.vars.retain(|(k, _)| k != "VAULT_KEYCHAIN_SERVICE");
    write_config(
        &env,
        "backend = \"keychain\"\nkeychain_service = \"vault-from-config\"\n",
    );
    env.ok(&["init", "--kdf-memory", "64"]);
    assert_eq!(keyring.items("vault-from-config"), ["slot.passphrase"]);
    // The variable wins over the file: that service holds no vault.
    let out = env.run_env(&["list"], &[("VAULT_KEYCHAIN_SERVICE", "vault-from-env")]);
    assert_code(&out, 66, "another service");
    env.ok(&["migrate", "--to", "file"]);
    assert!(keyring.items("vault-from-config").is_empty());
}
