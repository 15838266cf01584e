//! The agent's side of the warm path (issue 17): `exec` and `export` answered in one round
//! trip from the session cache, for the small `vault` front binary (`src/main.rs`).
//!
//! The agent parses the client's command line with the CLI's own parser and resolves the
//! profile with the CLI's own code against the client's environment, so a warm answer is
//! what the full CLI would have computed. Whatever the warm path does not cover is answered
//! `cold`, and the front then runs the full CLI (`vault-core`) with the same arguments, which
//! does the rest and reports any error itself. Cold, among others: a flag that changes what
//! runs or what is printed (`--fork`, `--server`, `-v`, `--no-agent`, `--passphrase-fd`); a
//! chain whose source is a `credential_process` (the agent never runs a program for a
//! client); a backend other than the file backend (its items are read by programs or
//! services that see the agent's environment, not the client's); another vault than the
//! agent's; a relative path in the client's environment (the agent's working directory is not
//! the client's); a session due for refresh.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use clap::{CommandFactory, FromArgMatches};
use zeroize::Zeroizing;

use super::{Cli, Command};
use crate::agent::protocol::{Response, WarmCreds};
use crate::aws::{self, profile::Config};
use crate::error::{Error, Result};
use crate::settings::{BackendKind, BackendSpec, Flags, Settings};
use crate::vault::crypto::CryptoError;
use crate::vault::{Sealer, Vault};

/// Opens a ciphertext with the agent's identity.
pub type Open<'a> = &'a dyn Fn(&[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, CryptoError>;

/// What the agent holds: the identity (as a way to open items), its slot generation, and
/// the vault it serves.
pub struct Held<'a> {
    /// Opens a ciphertext with the identity.
    pub open: Open<'a>,
    /// Its slot generation.
    pub generation: u64,
    /// The agent's vault directory.
    pub vault_dir: &'a Path,
    /// The store it was unlocked from.
    pub backend: &'a BackendSpec,
}

impl std::fmt::Debug for Held<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("generation", &self.generation)
            .field("vault_dir", &self.vault_dir)
            .finish_non_exhaustive()
    }
}

/// Opens items with the held identity; the warm path never seals (a refresh is the CLI's).
struct HeldSealer<'a>(Open<'a>, u64);

impl Sealer for HeldSealer<'_> {
    fn seal(&self, _: &[u8]) -> Result<Vec<u8>> {
        Err(Error::Other("the agent's warm path never seals".into()))
    }
    fn open(&self, name: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        (self.0)(ciphertext).map_err(|e| Error::crypto(name, e))
    }
    fn generation(&self) -> u64 {
        self.1
    }
}

/// Variables whose value is a path: a relative one would be read against the agent's working
/// directory, not the client's.
const PATH_VARS: &[&str] = &[
    "HOME",
    "TMPDIR",
    "VAULT_DIR",
    "VAULT_CONFIG",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
];

/// Whether the warm path reads the variable `name` (so the front sends it): vault's own and
/// the AWS ones (without [`crate::exec::SECRET_VARS`], which the front never sends), the XDG
/// directories, `HOME`, `TMPDIR` and `BROWSER`. Everything else only reaches the child, from
/// the front's own environment.
pub fn reads(name: &str) -> bool {
    ["AWS_", "VAULT_", "XDG_"]
        .iter()
        .any(|p| name.starts_with(p))
        || matches!(name, "HOME" | "TMPDIR" | "BROWSER")
}

/// What the command asks for once it has the credentials.
enum Mode {
    Run(Vec<OsString>),
    /// The format, and whether the region is printed (`export`; `exec --json` prints none).
    Print(super::export::Format, bool),
}

fn cold(why: impl Into<String>) -> Response {
    Response::Cold { why: why.into() }
}

/// Answers a warm request: `Response::Warm` from the cache, else `Response::Cold`.
pub fn answer(held: Held<'_>, argv: Vec<String>, env: Vec<(String, String)>) -> Response {
    match warm(held, argv, env) {
        Ok(r) => r,
        // The CLI will meet (and report) the same error.
        Err(e) => cold(format!("the full CLI reports: {e}")),
    }
}

fn warm(held: Held<'_>, argv: Vec<String>, env: Vec<(String, String)>) -> Result<Response> {
    let env: HashMap<String, String> = env.into_iter().collect();
    if let Some(k) = PATH_VARS.iter().find(|k| {
        env.get(**k)
            .is_some_and(|v| !v.is_empty() && !v.starts_with('/'))
    }) {
        return Ok(cold(format!("{k} is a relative path")));
    }
    // clap reads a few flags' variables (VAULT_DIR, VAULT_NO_AGENT) from this process's
    // environment: parse here only when this process's values are the client's.
    // One command tree, built once and reused (clap's `_mut` parse is made for that):
    // building and dropping it per request was a third of a warm request's instructions.
    static COMMAND: Mutex<Option<clap::Command>> = Mutex::new(None);
    let mut guard = COMMAND.lock().unwrap_or_else(|e| e.into_inner());
    let command = guard.get_or_insert_with(Cli::command);
    let bound: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for name in bound {
        let ours = std::env::var_os(&name);
        if ours.as_deref() != env.get(&name).map(std::ffi::OsStr::new) {
            return Ok(cold(format!("{name} differs from the agent's")));
        }
    }
    let parsed = command.try_get_matches_from_mut(&argv);
    drop(guard);
    let matches = match parsed {
        Ok(m) => m,
        Err(_) => return Ok(cold("not a command line the warm path takes")),
    };
    let Ok(cli) = Cli::from_arg_matches(&matches) else {
        return Ok(cold("not a command line the warm path takes"));
    };
    let g = cli.global;
    if g.no_agent || g.passphrase_fd.is_some() || g.verbose > 0 {
        return Ok(cold("--no-agent, --passphrase-fd or -v"));
    }
    let is_exec = matches!(cli.command, Command::Exec(_));
    let (profile, session, mode) = match cli.command {
        Command::Exec(a) if !(a.server || a.fork || a.lazy) => {
            let mode = if a.json {
                Mode::Print(super::export::Format::CredentialProcess, false)
            } else {
                Mode::Run(a.command)
            };
            (a.profile, a.session, mode)
        }
        Command::Export(a) => (a.profile, a.session, Mode::Print(a.format, true)),
        _ => return Ok(cold("not exec or export")),
    };
    let client_env = |k: &str| env.get(k).map(OsString::from);
    let settings = Settings::resolve_with(
        Flags {
            vault_dir: g.vault_dir,
            backend: g.backend,
            passphrase_fd: None,
            no_agent: false,
            verbose: 0,
        },
        &client_env,
    )?;
    if settings.backend != *held.backend || settings.backend.kind != BackendKind::File {
        return Ok(cold("another backend, or not the file backend"));
    }
    let same_dir = match (
        std::fs::metadata(&settings.vault_dir),
        std::fs::metadata(held.vault_dir),
    ) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    };
    if !same_dir || !settings.vault_dir.is_absolute() {
        return Ok(cold("another vault directory"));
    }
    if is_exec {
        let guard = crate::exec::GUARD;
        let parent: Vec<(OsString, OsString)> = client_env(guard)
            .map(|v| (guard.into(), v))
            .into_iter()
            .collect();
        crate::exec::check_not_nested(&parent)?;
    }
    let vault = Vault::open(&settings)?;
    let unlocked = vault.with_sealer(Box::new(HeldSealer(held.open, held.generation)));
    let sdk_env = aws_types::os_shim_internal::Env::from(env.clone());
    let config = {
        let fut = std::pin::pin!(Config::load_with(&sdk_env));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::future::Future::poll(fut, &mut cx) {
            std::task::Poll::Ready(c) => c?,
            std::task::Poll::Pending => return Ok(cold("the AWS config did not load at once")),
        }
    };
    let plan = aws::plan(&unlocked, &config, &profile, session.request(&settings))?;
    if aws::runs_program(&plan) {
        return Ok(cold("the chain runs a credential_process"));
    }
    let Some(resolved) = aws::resolve_warm(&unlocked, &plan)? else {
        return Ok(cold("no cached session with time left"));
    };
    let (command, print) = match mode {
        Mode::Run(command) => (
            command
                .into_iter()
                .map(|c| c.into_string().unwrap_or_default())
                .collect(),
            None,
        ),
        Mode::Print(format, with_region) => {
            let region = resolved.region.as_deref().filter(|_| with_region);
            let text = super::export::render(&resolved.creds, format, &profile, region);
            (vec![], Some(crate::secret::Secret::new(text.as_str())))
        }
    };
    Ok(Response::Warm {
        profile,
        command,
        creds: WarmCreds::from(&resolved.creds),
        region: resolved.region,
        print,
    })
}
