//! Command-line definitions (clap derive), one file per subcommand, and the context they share.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};
use crate::settings::{BackendKind, Flags, Settings};
pub use args::parse_duration;

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
pub mod args;
mod clear;
mod completions;
mod exec;
mod export;
mod import;
mod init;
mod list;
mod login;
mod migrate;
mod passwd;
mod recover;
mod rekey;
mod remove;
mod rotate;
mod slot;
mod sso;
pub mod warm;

/// An encrypted credential vault for AWS.
///
/// Long-term access keys and STS sessions are sealed with age under a master key that an
/// Argon2id passphrase unlocks. Exit codes: 0 ok, 1 failure, 2 usage, 65 tampered vault,
/// 66 not found, 69 backend failure, 75 STS unreachable, 76 STS refused, 77 wrong passphrase,
/// 78 configuration error, 79 locked or needs a person (no passphrase or MFA source), 80
/// unsafe permissions; under `exec`, the child's status, or 126/127 when it cannot be run.
#[derive(Debug, Parser)]
#[command(name = "vault", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

fn parse_backend(s: &str) -> std::result::Result<BackendKind, String> {
    s.parse().map_err(|e: Error| e.report())
}

/// Options every subcommand takes (under their own heading in every `--help`).
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Vault directory [default: $XDG_DATA_HOME/vault, i.e. ~/.local/share/vault].
    #[arg(long, global = true, env = "VAULT_DIR", value_name = "DIR")]
    pub vault_dir: Option<PathBuf>,

    /// Storage backend: file, keychain[:secret-service|keyutils], pass or helper:NAME [default:
    /// VAULT_BACKEND, else what init or migrate recorded in the vault directory, else `backend`
    /// in the config file, else file].
    #[arg(long, global = true, value_name = "B", value_parser = parse_backend)]
    pub backend: Option<BackendKind>,

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
    /// Open the AWS console as a profile in the browser (or print the sign-in URL: --stdout).
    Login(login::Args),
    /// IAM Identity Center (SSO): sign in, sign out, list accounts; tokens stay sealed.
    Sso(sso::Args),
}

/// Runs a parsed command line; returns the exit status (a child's, for `exec --fork`).
pub fn run(cli: Cli) -> Result<u8> {
    // Every command but `completions` may hold the master identity, a session or the
    // --server token: no core file of it (the agent hardens itself further).
    if !matches!(cli.command, Command::Completions(_)) {
        crate::agent::harden::no_core_dumps();
    }
    // Before anything can start a child: vault reads it, no child inherits it.
    if let Some(fd) = cli.global.passphrase_fd {
        crate::exec::keep_from_children(fd);
    }
    if let Command::Passwd(passwd::Args {
        new_passphrase_fd: Some(fd),
        ..
    }) = &cli.command
    {
        crate::exec::keep_from_children(*fd);
    }
    let ctx = Settings::resolve(Flags {
        vault_dir: cli.global.vault_dir,
        backend: cli.global.backend,
        passphrase_fd: cli.global.passphrase_fd,
        no_agent: cli.global.no_agent,
        verbose: cli.global.verbose,
    })?;
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
        Command::Login(a) => done(login::run(&ctx, a)),
        Command::Sso(a) => done(sso::run(&ctx, a)),
    }
}

/// A single-threaded async runtime for the SDK and signal forwarding.
/// Runs `fut` to its end: polled once on this thread with no runtime (reading the AWS config
/// files never waits on anything, so it completes there), and only if it is still pending is
/// a runtime built to finish it. Keeps the warm path free of tokio's epoll, eventfd and
/// thread setup.
pub fn now<F: std::future::Future>(fut: F) -> Result<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Ok(out),
        std::task::Poll::Pending => Ok(runtime()?.block_on(fut)),
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("starting the async runtime: {e}").into()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definitions_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
