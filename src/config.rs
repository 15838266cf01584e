//! The optional configuration file: defaults for settings that otherwise come from flags and
//! `VAULT_*` variables. A flag beats its variable, which beats the file.
//!
//! Path: `VAULT_CONFIG` (empty: no file), else `$XDG_CONFIG_HOME/vault/config.toml`, else
//! `~/.config/vault/config.toml`. A missing file is an empty configuration; an unreadable or
//! invalid one (including an unknown key, so a typo is never silently ignored) is an error, and
//! so is one that another user owns or can write (exit 80, as for the vault directory).
//!
//! ```toml
//! vault_dir = "/home/me/.local/share/vault"  # --vault-dir, VAULT_DIR
//! backend = "keychain"      # for `vault init`: a vault's recorded backend wins over it
//! agent = false             # --no-agent, VAULT_NO_AGENT
//! agent_timeout = "30m"     # VAULT_AGENT_TIMEOUT
//! keychain_service = "vault"  # VAULT_KEYCHAIN_SERVICE
//! pass_prefix = "vault"     # VAULT_PASS_PREFIX
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The file's settings; each is optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The vault directory.
    pub vault_dir: Option<PathBuf>,
    /// The backend for a new vault (and for a directory with none recorded).
    pub backend: Option<String>,
    /// Whether to use (and start) the unlock agent.
    pub agent: Option<bool>,
    /// The agent's idle lock, e.g. `15m`.
    pub agent_timeout: Option<String>,
    /// The keychain service name of the vault's items.
    pub keychain_service: Option<String>,
    /// The folder of vault's entries in the password store.
    pub pass_prefix: Option<String>,
}

/// Where the file is looked for, if anywhere.
pub fn path() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k);
    if let Some(p) = env("VAULT_CONFIG") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let base = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("vault").join("config.toml"))
}

/// Parses a configuration file's text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Config> {
    toml::from_str(text).map_err(|e| {
        Error::Config(format!(
            "{origin}: {}\n  hint: the keys are vault_dir, backend, agent, agent_timeout, keychain_service and pass_prefix",
            crate::sanitize_message(e.message())
        ))
    })
}

fn load() -> Result<Config> {
    let Some(path) = path() else {
        return Ok(Config::default());
    };
    let io_error = |e: std::io::Error| {
        Error::Config(format!(
            "reading {}: {e}\n  hint: fix its permissions, or set VAULT_CONFIG= to use none",
            path.display()
        ))
    };
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(e) => return Err(io_error(e)),
    };
    // Like the vault directory, the file must be ours and not writable by others: whoever can
    // edit it chooses the backend (a helper program) and the vault directory.
    let meta = file.metadata().map_err(io_error)?;
    let me = rustix::process::geteuid().as_raw();
    vault_backends::fs::check_owner_mode(&path, &meta, me, 0o022, "chmod go-w")?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(io_error)?;
    parse(&text, &path.display().to_string())
}

/// Why the file could not be used, kept so every caller gets the same error.
#[derive(Debug, Clone)]
enum Failure {
    Config(String),
    Unsafe {
        path: PathBuf,
        problem: String,
        fix: String,
    },
}

/// The configuration, read once per process.
pub fn get() -> Result<&'static Config> {
    static CONFIG: OnceLock<std::result::Result<Config, Failure>> = OnceLock::new();
    let loaded = CONFIG.get_or_init(|| {
        load().map_err(|e| match e {
            Error::Backend(vault_backends::Error::UnsafePermissions { path, problem, fix }) => {
                Failure::Unsafe { path, problem, fix }
            }
            other => Failure::Config(other.to_string()),
        })
    });
    loaded.as_ref().map_err(|f| match f.clone() {
        Failure::Config(message) => Error::Config(message),
        Failure::Unsafe { path, problem, fix } => {
            Error::Backend(vault_backends::Error::UnsafePermissions { path, problem, fix })
        }
    })
}

/// A setting from the variable `var` when set and non-empty, else from the file.
pub fn setting(var: &str, from_file: impl FnOnce(&Config) -> Option<String>) -> Option<String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| get().ok().and_then(from_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses() {
        let c = parse(
            "vault_dir = \"/v\"\nbackend = \"pass\"\nagent = false\nagent_timeout = \"30m\"\nkeychain_service = \"k\"\npass_prefix = \"p\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.vault_dir, Some(PathBuf::from("/v")));
        assert_eq!(c.backend.as_deref(), Some("pass"));
        assert_eq!(c.agent, Some(false));
        assert_eq!(c.agent_timeout.as_deref(), Some("30m"));
        assert_eq!(c.keychain_service.as_deref(), Some("k"));
        assert_eq!(c.pass_prefix.as_deref(), Some("p"));
    }

    #[test]
    fn a_typo_or_a_wrong_type_is_an_error_naming_the_file() {
        let e = parse("backned = \"pass\"\n", "/etc/x.toml").unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(e.to_string().contains("/etc/x.toml"), "{e}");
        assert!(e.to_string().contains("backned"), "{e}");
        assert!(parse("agent = \"no\"\n", "t").is_err());
        assert!(parse("", "t").unwrap().backend.is_none());
    }
}
