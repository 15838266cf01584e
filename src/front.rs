//! The `vault` front binary (issue 17): the warm path of `exec` and `export` at the cost of
//! one small program, one Unix-socket round trip and the child's `execve`.
//!
//! `vault` is a small program that links only this module's reach of the library: no clap,
//! no async runtime, no SDK, no age. For `vault exec ...` and `vault export ...` it asks the
//! vault's running, unlocked agent to answer the whole command line from the session cache
//! ([`crate::cli::warm`], one `warm` request). With a warm answer it builds the child's
//! environment with the CLI's own [`crate::exec::child_env`] and `execve`s the child (or prints
//! what `export` prints). Everything else — another command, no agent, a locked agent, a cold
//! cache, any error — it hands to the full CLI, `vault-core` in the same directory, by
//! `execve` with the same arguments, environment and descriptors, so behaviour and messages
//! are the CLI's own. Nothing is read from stdin and no descriptor is opened that a child
//! could inherit (the socket is close-on-exec).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::agent::protocol::Response;
use crate::error::{Error, Msg};
use crate::settings::{BackendKind, Flags, Settings};

/// The full CLI's file name, next to `vault`.
pub const CORE: &str = "vault-core";

/// Runs the front: the warm path, else the full CLI. Returns the exit code when it does not
/// `execve`.
pub fn main() -> u8 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if let Some(code) = warm(&argv) {
        return code;
    }
    let e = core(&argv);
    eprintln!("vault: {}", crate::sanitize_message(&e.report()));
    e.exit_code() as u8
}

/// Hands the command line to `vault-core`; returns only on failure.
fn core(argv: &[OsString]) -> Error {
    let path = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(CORE),
        Err(e) => return Error::Other(format!("finding vault's own path: {e}").into()),
    };
    let mut cmd = std::process::Command::new(&path);
    if let Some(arg0) = argv.first() {
        cmd.arg0(arg0);
    }
    // The warm path may have set RLIMIT_CORE to 0: the CLI starts with the user's limit.
    crate::agent::harden::restore_core_limit(&mut cmd);
    let e = cmd.args(argv.iter().skip(1)).exec();
    Error::Other(Msg::hinted(
        format!("cannot run {}: {e}", path.display()),
        format!("install {CORE} next to vault (`cargo install` installs both)"),
    ))
}

/// The warm path: `Some(exit code)` when it printed, `None` when the full CLI must run (it
/// does not return when it started the child).
fn warm(argv: &[OsString]) -> Option<u8> {
    if !matches!(argv.get(1)?.to_str()?, "exec" | "export") {
        return None;
    }
    let argv: Vec<String> = argv
        .iter()
        .map(|a| a.to_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    let parent: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let var = |k: &str| parent.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // The agent's socket, as the CLI finds it (the agent checks the rest: flags, the vault).
    let settings = Settings::resolve_with(
        Flags {
            vault_dir: var("VAULT_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            ..Flags::default()
        },
        &var,
    )
    .ok()?;
    if settings.backend.kind != BackendKind::File || var("VAULT_NO_AGENT").is_some() {
        return None;
    }
    // What the agent reads to resolve as the CLI would ([`crate::cli::warm::reads`]), never
    // vault's secret-bearing variables; one of them that is not UTF-8 sends the command line
    // to the full CLI.
    let mut env = vec![];
    for (k, v) in &parent {
        let Some(k) = k.to_str().filter(|k| crate::cli::warm::reads(k)) else {
            continue;
        };
        if !crate::exec::SECRET_VARS.contains(&k) {
            env.push((k.to_owned(), v.to_str()?.to_owned()));
        }
    }
    let socket = crate::agent::socket_path(&settings).ok()?;
    let mut client = crate::agent::client::Client::connect(&socket).ok()?;
    // Credentials arrive next: no core file of them.
    crate::agent::harden::no_core_dumps();
    let answer = client.warm(argv, env).ok()?;
    let Response::Warm {
        profile,
        command,
        creds,
        region,
        print,
    } = answer
    else {
        return None;
    };
    if let Some(text) = print {
        crate::agent::harden::ignore_sigpipe();
        return Some(match crate::cli::print(format_args!("{}", text.expose())) {
            Ok(()) | Err(Error::StdoutClosed) => 0,
            Err(e) => {
                eprintln!("vault: {}", crate::sanitize_message(&e.report()));
                e.exit_code() as u8
            }
        });
    }
    let resolved = crate::aws::Resolved {
        creds: creds.into(),
        region,
    };
    let command: Vec<OsString> = command.into_iter().map(OsString::from).collect();
    let command = crate::exec::command_or_shell(command, var("SHELL"));
    let env = crate::exec::child_env(parent, &profile, crate::exec::Inject::Static(&resolved));
    drop(resolved);
    // Returns only when the child cannot be started: the CLI then says why, as it would.
    let _ = crate::exec::replace(&command, &env);
    None
}
