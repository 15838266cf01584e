//! Command-line definitions (clap derive), one file per subcommand, and the context they share.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use secrecy::SecretString;
use vault_backends::{Backend, FileBackend};

use crate::error::{Error, Result};
use crate::passphrase::Sources;
use crate::vault::{Unlocked, Vault};

/// `println!` that returns [`Error::StdoutClosed`] (or another write error) instead of
/// panicking when stdout cannot be written, e.g. `vault list | head -1`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout and flushes; see `outln!`.
pub fn print(args: std::fmt::Arguments<'_>) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(Error::stdout)
}

mod add;
mod agent;
mod clear;
mod completions;
mod exec;
mod export;
mod import;
mod init;
mod list;
mod migrate;
mod passwd;
mod recover;
mod rekey;
mod remove;
mod rotate;
mod slot;

/// An encrypted credential vault for AWS.
///
/// Long-term access keys and STS sessions are sealed with age under a master key that an
/// Argon2id passphrase unlocks. Exit codes: 0 ok, 1 failure, 2 usage, 65 tampered vault,
/// 66 not found, 69 backend failure, 75 STS unreachable, 76 STS refused, 77 wrong passphrase,
/// 78 configuration error, 79 locked (no passphrase source), 80 unsafe permissions.
#[derive(Debug, Parser)]
#[command(name = "vault", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Vault directory [default: $XDG_DATA_HOME/vault, i.e. ~/.local/share/vault].
    #[arg(long, global = true, env = "VAULT_DIR", value_name = "DIR")]
    pub vault_dir: Option<PathBuf>,

    /// Storage backend: file, keychain[:secret-service|keyutils], pass or helper:NAME [default:
    /// VAULT_BACKEND, else what init or migrate recorded in the vault directory, else `backend`
    /// in the config file, else file].
    #[arg(long, global = true, value_name = "B")]
    pub backend: Option<String>,

    /// Read the passphrase from this open file descriptor (first line).
    #[arg(long, global = true, value_name = "N")]
    pub passphrase_fd: Option<i32>,

    /// Do not use or start the unlock agent: unlock in this process (also VAULT_NO_AGENT=1).
    #[arg(long, global = true, env = "VAULT_NO_AGENT", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_agent: bool,

    /// More logging on stderr (-v decisions, -vv details). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a vault: a random master key sealed under your passphrase.
    Init(init::Args),
    /// Store a profile's long-term access key (prompted, or from AWS_* variables with --env).
    Add(add::Args),
    /// List stored keys and cached sessions (needs no passphrase).
    List(list::Args),
    /// Remove a profile's stored key.
    Remove(remove::Args),
    /// Run a command with fresh credentials for a profile (default: $SHELL).
    Exec(exec::Args),
    /// Print a profile's credentials as env, json, credential-process or ini.
    Export(export::Args),
    /// Move long-term keys from the plaintext AWS credentials file into the vault.
    Import(import::Args),
    /// Drop cached sessions (all, or one profile's).
    Clear(clear::Args),
    /// Replace a stored key with a new IAM access key and delete the old one.
    Rotate(rotate::Args),
    /// Change the passphrase (rewrites only the passphrase slot).
    Passwd(passwd::Args),
    /// Re-encrypt every stored key to a new master identity (after a possible leak of the old).
    Rekey(rekey::Args),
    /// Move every item to another backend (file, keychain, pass, helper:NAME), verified before removal.
    Migrate(migrate::Args),
    /// Print the master identity (AGE-SECRET-KEY-1...) for recovery with the `age` CLI.
    Recover(recover::Args),
    /// Add, remove or list key slots (the keychain slot unlocks without a passphrase).
    Slot(slot::Args),
    /// Unlock the agent so later commands need no passphrase.
    Unlock(agent::UnlockArgs),
    /// Drop the agent's key now (--stop also ends the agent).
    Lock(agent::LockArgs),
    /// Show the backend, the passphrase slot and the agent.
    Status(agent::StatusArgs),
    /// Run the unlock agent in the foreground (other commands start it on demand).
    Agent(agent::AgentArgs),
    /// Print shell completions.
    Completions(completions::Args),
}

/// What every command needs, read once from flags and the environment.
#[derive(Debug)]
pub struct Ctx {
    /// Where the file backend lives.
    pub vault_dir: PathBuf,
    /// Passphrase sources.
    pub pass: Sources,
    /// New-passphrase sources (`passwd`): `--new-passphrase-fd`, `VAULT_NEW_PASSPHRASE_FILE`.
    pub new_pass: Sources,
    /// Verbosity.
    pub verbose: u8,
    /// Unlock in-process instead of through the agent.
    pub no_agent: bool,
    /// `--backend`.
    pub backend: Option<String>,
    /// The agent's idle lock (`VAULT_AGENT_TIMEOUT`, default 15 min).
    pub agent_idle: std::time::Duration,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub aws_region: Option<String>,
}

impl Ctx {
    /// Builds the context from the parsed flags and the process environment.
    pub fn from_env(global: &Global) -> Result<Ctx> {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let config = crate::config::get()?;
        let vault_dir = match global.vault_dir.as_ref().or(config.vault_dir.as_ref()) {
            Some(d) => d.clone(),
            None => {
                let data = env("XDG_DATA_HOME")
                    .map(PathBuf::from)
                    .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local").join("share")));
                data.ok_or_else(|| {
                    Error::Config(
                        "neither XDG_DATA_HOME nor HOME is set\n  hint: pass --vault-dir".into(),
                    )
                })?
                .join("vault")
            }
        };
        let env_secret = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(SecretString::from)
        };
        Ok(Ctx {
            vault_dir,
            pass: Sources {
                fd: global.passphrase_fd,
                file: env("VAULT_PASSPHRASE_FILE").map(PathBuf::from),
                askpass: env("VAULT_ASKPASS"),
                env: env_secret("VAULT_PASSPHRASE"),
            },
            new_pass: Sources {
                fd: None,
                file: env("VAULT_NEW_PASSPHRASE_FILE").map(PathBuf::from),
                askpass: None::<OsString>,
                env: env_secret("VAULT_NEW_PASSPHRASE"),
            },
            verbose: global.verbose,
            // The flag or VAULT_NO_AGENT (even set to 0) wins over the file's `agent`.
            no_agent: global.no_agent
                || (env("VAULT_NO_AGENT").is_none() && config.agent == Some(false)),
            backend: global.backend.clone(),
            agent_idle: match crate::config::setting("VAULT_AGENT_TIMEOUT", |c| {
                c.agent_timeout.clone()
            }) {
                Some(v) => exec::parse_duration(&v).map_err(|e| {
                    Error::Config(format!("VAULT_AGENT_TIMEOUT / agent_timeout: {e}"))
                })?,
                None => crate::agent::DEFAULT_IDLE,
            },
            aws_region: ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .into_iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty())),
        })
    }

    /// The backend, optionally creating its storage.
    pub fn backend(&self, create: bool) -> Result<Box<dyn Backend>> {
        if !create && !FileBackend::exists(&self.vault_dir) {
            return Err(Error::NotInitialized(self.vault_dir.display().to_string()));
        }
        let kind = crate::vault::backend_kind(&self.vault_dir, self.backend.as_deref());
        crate::vault::open_backend(&self.vault_dir, &kind, create)
    }

    /// The existing vault.
    pub fn vault(&self) -> Result<Vault> {
        Ok(Vault::new(self.backend(false)?))
    }

    /// Unlocks `vault`: through the agent (started when needed) unless `--no-agent`, by the
    /// keychain slot when the vault has one, else with the passphrase from its sources.
    pub fn unlock<'v>(&self, vault: &'v Vault) -> Result<Unlocked<'v>> {
        if !self.no_agent {
            // An unlocked agent answers without reading the vault's slot (for pass, a gpg run).
            let client = match crate::agent::connect_unlocked(&self.vault_dir)? {
                Some(c) => c,
                None => {
                    // Fail before starting an agent or prompting when there is no vault.
                    vault.ensure_initialized()?;
                    let mut c = crate::agent::connect_or_start(&self.vault_dir, self.agent_idle)?;
                    self.unlock_agent(vault, &mut c)?;
                    c
                }
            };
            return Ok(
                vault.with_sealer(Box::new(crate::agent::client::AgentSealer(
                    std::cell::RefCell::new(client),
                ))),
            );
        }
        // Fail before prompting when there is no vault.
        vault.ensure_initialized()?;
        if vault.keychain_slot()?.is_some() {
            match vault.unlock_keychain() {
                Ok(Some(master)) => return Ok(vault.with_sealer(Box::new(master))),
                Ok(None) => {}
                Err(e) => keychain_fallback(&e),
            }
        }
        let pass = self.pass.read("Vault passphrase: ")?;
        let (master, _) = vault.unlock_master(&pass)?;
        Ok(vault.with_sealer(Box::new(master)))
    }

    /// Unlocks a locked agent: the agent tries the keychain slot itself when the vault has
    /// one; otherwise (or when that fails) it gets the passphrase. Returns whether it was
    /// locked.
    pub fn unlock_agent(
        &self,
        vault: &Vault,
        client: &mut crate::agent::client::Client,
    ) -> Result<bool> {
        if client.status()?.unlocked {
            return Ok(false);
        }
        if vault.keychain_slot()?.is_some() {
            match client.unlock_keychain() {
                Ok(()) => return Ok(true),
                Err(e) => keychain_fallback(&e),
            }
        }
        let pass = crate::vault::item::Secret::from(self.pass.read("Vault passphrase: ")?);
        client.unlock(&pass)?;
        Ok(true)
    }
}

/// Says why the keychain slot did not unlock before the passphrase is asked for.
fn keychain_fallback(e: &Error) {
    eprintln!(
        "vault: warning: the keychain slot did not unlock the vault, asking for the passphrase: {}",
        crate::sanitize_message(&e.to_string())
    );
}

/// Runs a parsed command line; returns the exit status (a child's, for `exec --fork`).
pub fn run(cli: Cli) -> Result<u8> {
    let ctx = Ctx::from_env(&cli.global)?;
    let done = |r: Result<()>| r.map(|()| 0);
    match cli.command {
        Command::Init(a) => done(init::run(&ctx, a)),
        Command::Add(a) => done(add::run(&ctx, a)),
        Command::List(a) => done(list::run(&ctx, a)),
        Command::Remove(a) => done(remove::run(&ctx, a)),
        Command::Exec(a) => exec::run(&ctx, a),
        Command::Export(a) => done(export::run(&ctx, a)),
        Command::Import(a) => done(import::run(&ctx, a)),
        Command::Clear(a) => done(clear::run(&ctx, a)),
        Command::Rotate(a) => done(rotate::run(&ctx, a)),
        Command::Passwd(a) => done(passwd::run(&ctx, a)),
        Command::Rekey(a) => done(rekey::run(&ctx, a)),
        Command::Migrate(a) => done(migrate::run(&ctx, a)),
        Command::Recover(a) => done(recover::run(&ctx, a)),
        Command::Slot(a) => done(slot::run(&ctx, a)),
        Command::Unlock(a) => done(agent::unlock(&ctx, a)),
        Command::Lock(a) => done(agent::lock(&ctx, a)),
        Command::Status(a) => done(agent::status(&ctx, a)),
        Command::Agent(a) => done(agent::run_agent(&ctx, a)),
        Command::Completions(a) => done(completions::run(a)),
    }
}

/// A single-threaded async runtime for the SDK and signal forwarding.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("starting the async runtime: {e}")))
}

/// Profile names end up in item names and on terminals: keep them to a safe alphabet.
pub fn check_profile(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@+=,:".contains(&b))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid profile name {:?}: use letters, digits and -_.@+=,: not starting with a dot (at most 128)",
            name.escape_debug().to_string()
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
