//! Settings: flags > `VAULT_*` variables > the configuration file, resolved once per process
//! into [`Settings`] and passed down. This file and `cli/` are the only places that read the
//! environment; the agent is handed the backend settings of the client that unlocks it, so
//! client and agent agree by construction.
//!
//! The configuration file: `VAULT_CONFIG` (empty: no file), else
//! `$XDG_CONFIG_HOME/vault/config.toml`, else `~/.config/vault/config.toml`. A missing file is
//! an empty configuration; an unreadable or invalid one (including an unknown key, so a typo is
//! never silently ignored) is an error, and so is one that another user owns or can write
//! (exit 80, as for the vault directory).
//!
//! ```toml
//! vault_dir = "/home/me/.local/share/vault"  # --vault-dir, VAULT_DIR
//! backend = "keychain"      # for `vault init`: a vault's recorded backend wins over it
//! agent = false             # --no-agent, VAULT_NO_AGENT
//! agent_timeout = "30m"     # VAULT_AGENT_TIMEOUT
//! keychain_service = "vault"  # VAULT_KEYCHAIN_SERVICE
//! pass_prefix = "vault"     # VAULT_PASS_PREFIX
//! ```

use std::ffi::OsString;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::secret::Secret;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Msg, Result};
use crate::passphrase::Sources;

/// The file in the vault directory that records which backend holds the vault.
pub const BACKEND_FILE: &str = "backend";

/// The file's settings; each is optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
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

/// The largest config file read (it holds six short keys).
const MAX_CONFIG: u64 = 64 * 1024;

/// Where the file is looked for, if anywhere.
fn path(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
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
pub fn parse(text: &str, origin: &str) -> Result<ConfigFile> {
    toml::from_str(text).map_err(|e| {
        Error::Config(Msg::hinted(
            format!("{origin}: {}", crate::sanitize_message(e.message())),
            "the keys are vault_dir, backend, agent, agent_timeout, keychain_service and pass_prefix",
        ))
    })
}

fn load(env: &dyn Fn(&str) -> Option<OsString>) -> Result<ConfigFile> {
    let Some(path) = path(env) else {
        return Ok(ConfigFile::default());
    };
    let io_error = |e: std::io::Error| {
        Error::Config(Msg::hinted(
            format!("reading {}: {e}", path.display()),
            "fix its permissions, or set VAULT_CONFIG= to use none",
        ))
    };
    // O_NONBLOCK: a FIFO planted in its place must not make every command wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(io_error(e)),
    };
    // Like the vault directory, the file must be ours and not writable by others: whoever can
    // edit it chooses the backend (a helper program) and the vault directory.
    let meta = file.metadata().map_err(io_error)?;
    if !meta.is_file() {
        return Err(Error::Config(Msg::hinted(
            format!("{} is not a regular file", path.display()),
            "replace it with a config file, or set VAULT_CONFIG= to use none",
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    vault_backends::fs::check_owner_mode(&path, &meta, me, 0o022, "chmod go-w")?;
    if meta.len() > MAX_CONFIG {
        return Err(Error::Config(Msg::hinted(
            format!(
                "{} is {} bytes, more than a config file can be (64 KiB)",
                path.display(),
                meta.len()
            ),
            "it holds six keys; fix it, or set VAULT_CONFIG= to use none",
        )));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_CONFIG), &mut text)
        .map_err(io_error)?;
    parse(&text, &path.display().to_string())
}

/// Which store holds the vault's items (cached sessions always stay in the vault directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum BackendKind {
    /// One file per item in the vault directory.
    File,
    /// The OS keychain: this system's own store, or a named one (`secret-service`,
    /// `keyutils`).
    Keychain(Option<vault_backends::keychain::Store>),
    /// The standard Unix password manager.
    Pass,
    /// A docker-style credential helper `vault-backend-NAME` on PATH.
    Helper(String),
}

impl std::str::FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "file" => BackendKind::File,
            "pass" => BackendKind::Pass,
            "keychain" => BackendKind::Keychain(None),
            k if k.starts_with("keychain:") => {
                let name = &k["keychain:".len()..];
                let store = vault_backends::keychain::Store::parse(name).ok_or_else(|| {
                    Error::Usage(Msg::hinted(
                        format!("unknown keychain store {:?}", crate::sanitize(name)),
                        "use keychain (this system's own), keychain:secret-service or keychain:keyutils",
                    ))
                })?;
                BackendKind::Keychain(Some(store))
            }
            k if k.starts_with("helper:") && k.len() > "helper:".len() => {
                BackendKind::Helper(k["helper:".len()..].to_owned())
            }
            other => {
                return Err(Error::Usage(Msg::hinted(
                    format!("unknown backend {:?}", crate::sanitize(other)),
                    "use file, keychain, keychain:keyutils, pass or helper:NAME",
                )))
            }
        })
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendKind::File => f.write_str("file"),
            BackendKind::Pass => f.write_str("pass"),
            BackendKind::Keychain(None) => f.write_str("keychain"),
            BackendKind::Keychain(Some(store)) => write!(f, "keychain:{}", store.name()),
            BackendKind::Helper(name) => write!(f, "helper:{name}"),
        }
    }
}

impl From<BackendKind> for String {
    fn from(k: BackendKind) -> String {
        k.to_string()
    }
}

impl TryFrom<String> for BackendKind {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// A backend and its options: everything needed to open it. The agent is sent this by the
/// client that unlocks it, so both read the same store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendSpec {
    /// The store.
    pub kind: BackendKind,
    /// `VAULT_PASS_PREFIX` / `pass_prefix`: the folder of vault's entries in the password
    /// store.
    pub pass_prefix: String,
    /// `VAULT_KEYCHAIN_SERVICE` / `keychain_service`: the keychain service of vault's items.
    pub keychain_service: String,
}

/// The flags every subcommand takes, as parsed (the CLI's `Global`).
#[derive(Debug, Default)]
pub struct Flags {
    /// `--vault-dir` (or `VAULT_DIR`, read by clap).
    pub vault_dir: Option<PathBuf>,
    /// `--backend`.
    pub backend: Option<BackendKind>,
    /// `--passphrase-fd`.
    pub passphrase_fd: Option<i32>,
    /// `--no-agent` (or `VAULT_NO_AGENT`, read by clap).
    pub no_agent: bool,
    /// `-v`.
    pub verbose: u8,
}

/// What every command needs, resolved once.
#[derive(Debug)]
pub struct Settings {
    /// Where the vault's local files live (and, for the file backend, its items).
    pub vault_dir: PathBuf,
    /// The backend: `--backend`, else `VAULT_BACKEND`, else the one recorded in the vault
    /// directory by `init`/`migrate`, else `backend` in the config file, else `file`.
    pub backend: BackendSpec,
    /// Passphrase sources.
    pub pass: Sources,
    /// New-passphrase sources (`passwd`): `VAULT_NEW_PASSPHRASE_FILE`, `VAULT_NEW_PASSPHRASE`.
    pub new_pass: Sources,
    /// Verbosity.
    pub verbose: u8,
    /// Unlock in-process instead of through the agent.
    pub no_agent: bool,
    /// The agent's idle lock (`VAULT_AGENT_TIMEOUT`, `agent_timeout`, default 15 min).
    pub agent_idle: Duration,
    /// The agent sockets' directory: `$XDG_RUNTIME_DIR/vault`, else `$TMPDIR/vault-UID`
    /// (checked for owner and mode when used).
    pub runtime_dir: PathBuf,
    /// Where the newest generation of each vault is recorded (outside the vault directory,
    /// issue 13, point 4): `$XDG_STATE_HOME/vault`, else `~/.local/state/vault`.
    pub state_dir: Option<PathBuf>,
    /// `VAULT_ALLOW_SLOW_KDF=1`: open a slot whose KDF is far above what `init` sets
    /// without asking (issue 13, point 15).
    pub allow_slow_kdf: bool,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub aws_region: Option<String>,
    /// `AWS_ENDPOINT_URL_STS` or `AWS_ENDPOINT_URL` is set: STS is not AWS's own.
    pub sts_endpoint_overridden: bool,
    /// `BROWSER`: the program that opens sign-in URLs (else the platform's opener).
    pub browser: Option<OsString>,
}

impl Settings {
    /// Resolves the settings from the parsed flags, the process environment and the
    /// configuration file.
    pub fn resolve(flags: Flags) -> Result<Settings> {
        Settings::resolve_with(flags, &|k| std::env::var_os(k))
    }

    /// [`Settings::resolve`] with the environment given (tests).
    pub fn resolve_with(flags: Flags, raw: &dyn Fn(&str) -> Option<OsString>) -> Result<Settings> {
        let env = |k: &str| raw(k).filter(|v| !v.is_empty());
        let text = |k: &str| env(k).and_then(|v| v.into_string().ok());
        let config = load(raw)?;
        let vault_dir = match flags.vault_dir.or(config.vault_dir.clone()) {
            Some(d) => d,
            None => {
                let data = env("XDG_DATA_HOME")
                    .map(PathBuf::from)
                    .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local").join("share")));
                data.ok_or_else(|| {
                    Error::Config(Msg::hinted(
                        "neither XDG_DATA_HOME nor HOME is set",
                        "pass --vault-dir",
                    ))
                })?
                .join("vault")
            }
        };
        let kind = match flags.backend {
            Some(k) => k,
            None => {
                let named = text("VAULT_BACKEND")
                    .map(|k| (k, "VAULT_BACKEND".to_owned()))
                    .or_else(|| {
                        recorded_backend(&vault_dir)
                            .map(|k| (k, vault_dir.join(BACKEND_FILE).display().to_string()))
                    })
                    .or_else(|| {
                        config
                            .backend
                            .clone()
                            .map(|k| (k, "config.toml's `backend`".to_owned()))
                    });
                match named {
                    // Say where the bad name came from: a stale `DIR/backend` file is not
                    // something the user typed.
                    Some((k, origin)) => k.parse().map_err(|e: Error| {
                        Error::Config(format!("{}: {e}", crate::sanitize(&origin)).into())
                    })?,
                    None => BackendKind::File,
                }
            }
        };
        let backend = BackendSpec {
            kind,
            pass_prefix: text("VAULT_PASS_PREFIX")
                .or(config.pass_prefix.clone())
                .unwrap_or_else(|| vault_backends::pass::DEFAULT_PREFIX.to_owned()),
            keychain_service: text("VAULT_KEYCHAIN_SERVICE")
                .or(config.keychain_service.clone())
                .unwrap_or_else(|| vault_backends::keychain::DEFAULT_SERVICE.to_owned()),
        };
        let agent_idle = match text("VAULT_AGENT_TIMEOUT").or(config.agent_timeout.clone()) {
            Some(v) => crate::cli::args::parse_duration(&v).map_err(|e| {
                Error::Config(Msg::hinted(
                    format!("VAULT_AGENT_TIMEOUT / agent_timeout: {e}"),
                    "use a duration like 15m or 1h, at most 7 days",
                ))
            })?,
            None => crate::agent::DEFAULT_IDLE,
        };
        let uid = rustix::process::geteuid().as_raw();
        let runtime_dir = match env("XDG_RUNTIME_DIR") {
            Some(d) => PathBuf::from(d).join("vault"),
            None => env("TMPDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp"))
                .join(format!("vault-{uid}")),
        };
        let secret = |k: &str| text(k).map(Secret::new);
        Ok(Settings {
            vault_dir,
            backend,
            pass: Sources {
                fd: flags.passphrase_fd,
                file: env("VAULT_PASSPHRASE_FILE").map(PathBuf::from),
                askpass: env("VAULT_ASKPASS"),
                env: secret("VAULT_PASSPHRASE"),
            },
            new_pass: Sources {
                fd: None,
                file: env("VAULT_NEW_PASSPHRASE_FILE").map(PathBuf::from),
                askpass: None,
                env: secret("VAULT_NEW_PASSPHRASE"),
            },
            verbose: flags.verbose,
            // The flag or VAULT_NO_AGENT (even set to 0) wins over the file's `agent`.
            no_agent: flags.no_agent
                || (env("VAULT_NO_AGENT").is_none() && config.agent == Some(false)),
            agent_idle,
            runtime_dir,
            state_dir: env("XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))
                .map(|d| d.join("vault")),
            allow_slow_kdf: text("VAULT_ALLOW_SLOW_KDF").is_some_and(|v| v != "0"),
            aws_region: text("AWS_REGION").or_else(|| text("AWS_DEFAULT_REGION")),
            sts_endpoint_overridden: env("AWS_ENDPOINT_URL_STS").is_some()
                || env("AWS_ENDPOINT_URL").is_some(),
            browser: env("BROWSER"),
        })
    }
}

/// The backend `init`/`migrate` recorded in `vault_dir`, if any.
fn recorded_backend(vault_dir: &Path) -> Option<String> {
    let path = vault_dir.join(BACKEND_FILE);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let kind = std::fs::read_to_string(path).ok()?.trim().to_owned();
    (!kind.is_empty()).then_some(kind)
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
