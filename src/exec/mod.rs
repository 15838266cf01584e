//! Running programs: the child's environment (kept as bytes, so a variable that is not UTF-8
//! passes through unchanged), exec or fork with signal forwarding, and the ECS endpoint of
//! `exec --server` (`ecs.rs`).
//!
//! The child gets the parent's environment minus every stale AWS credential/profile variable
//! and vault's own secret-bearing variables ([`SECRET_VARS`]: the passphrase never reaches a
//! child; HashiCorp Vault's `VAULT_ADDR`, `VAULT_TOKEN`, ... pass through), plus the credentials,
//! `AWS_CREDENTIAL_EXPIRATION`, the region, and `AWS_VAULT=<profile>`: the nesting guard, which
//! shell prompts (starship, oh-my-zsh) already read to show the active profile.
//!
//! Every other program vault starts (`credential_process`, `mfa_process`, `VAULT_ASKPASS`, the
//! agent, and through the backends crate `pass`, gpg and helpers) runs without
//! [`SECRET_VARS`] ([`scrub`]); no child of any kind inherits `--passphrase-fd` or a descriptor
//! vault opened ([`keep_from_children`]; Rust opens everything close-on-exec).

pub mod ecs;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::process::Command;

use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::aws::Resolved;
use crate::error::{Error, Msg, Result};

/// The nesting guard variable.
pub const GUARD: &str = "AWS_VAULT";

/// vault's own variables that carry a passphrase or say where one comes from: removed from
/// the environment of every program vault starts. (Other `VAULT_*` variables, and HashiCorp
/// Vault's `VAULT_ADDR` / `VAULT_TOKEN`, are not vault's secrets and pass through to helper
/// programs; `exec`'s child gets no `VAULT_*` variable at all, see [`child_env`].)
pub const SECRET_VARS: &[&str] = &[
    "VAULT_PASSPHRASE",
    "VAULT_PASSPHRASE_FILE",
    "VAULT_NEW_PASSPHRASE",
    "VAULT_NEW_PASSPHRASE_FILE",
    "VAULT_ASKPASS",
];

/// The child policy for a program vault starts that is not `exec`'s child: without
/// [`SECRET_VARS`].
pub fn scrub(cmd: &mut Command) -> &mut Command {
    for k in SECRET_VARS {
        cmd.env_remove(k);
    }
    cmd
}

/// Makes an inherited descriptor (`--passphrase-fd N`) close-on-exec, so no child of any
/// kind inherits it; vault itself can still read it. Standard streams are left alone (a
/// passphrase on stdin is consumed already, and the child needs its stdin).
pub fn keep_from_children(fd: i32) {
    if fd > 2 {
        if let Err(e) = crate::agent::harden::close_on_exec(fd) {
            tracing::debug!("fd {fd}: {e}");
        }
    }
}

/// Variables removed from the child's environment because they would override or confuse
/// the credentials vault sets.
const STALE: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_VAULT",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
];

/// Refuses to run inside another `vault exec`.
pub fn check_not_nested(parent: &[(OsString, OsString)]) -> Result<()> {
    if let Some((_, v)) = parent.iter().find(|(k, _)| k == GUARD) {
        return Err(Error::Usage(Msg::hinted(
            format!(
                "already inside `vault exec` for {:?} ({GUARD} is set)",
                crate::sanitize(&v.to_string_lossy())
            ),
            format!("exit that shell first, or unset {GUARD} if it is stale"),
        )));
    }
    Ok(())
}

/// The command to run: the one given, else the user's shell (`SHELL`, else `/bin/sh`).
pub fn command_or_shell(command: Vec<OsString>, shell: Option<OsString>) -> Vec<OsString> {
    if command.is_empty() {
        vec![shell.unwrap_or_else(|| "/bin/sh".into())]
    } else {
        command
    }
}

/// What the child gets besides the cleaned environment.
#[derive(Debug)]
pub enum Inject<'a> {
    /// Static credentials in `AWS_*` variables.
    Static(&'a Resolved),
    /// An ECS container-credentials endpoint (`vault exec --server`): URL and bearer token.
    Endpoint {
        /// The region, when a profile sets one.
        region: Option<&'a str>,
        /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
        url: &'a str,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
        token: &'a str,
    },
}

/// A child's environment: names, and values as bytes. Holds secrets: zeroed on drop.
pub type ChildEnv = Vec<(OsString, Zeroizing<Vec<u8>>)>;

/// The child's environment.
pub fn child_env(parent: Vec<(OsString, OsString)>, profile: &str, inject: Inject<'_>) -> ChildEnv {
    let region = match &inject {
        Inject::Static(r) => r.region.as_deref(),
        Inject::Endpoint { region, .. } => *region,
    };
    let mut env: ChildEnv = parent
        .into_iter()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            !(SECRET_VARS.contains(&k.as_ref()) || STALE.contains(&k.as_ref()))
        })
        .filter(|(k, _)| region.is_none() || (k != "AWS_REGION" && k != "AWS_DEFAULT_REGION"))
        .map(|(k, v)| (k, Zeroizing::new(v.into_vec())))
        .collect();
    let mut set = |k: &str, v: &str| env.push((k.into(), Zeroizing::new(v.as_bytes().to_vec())));
    match inject {
        Inject::Static(r) => {
            set("AWS_ACCESS_KEY_ID", &r.creds.access_key_id);
            set("AWS_SECRET_ACCESS_KEY", r.creds.secret_access_key.expose());
            if let Some(t) = &r.creds.session_token {
                set("AWS_SESSION_TOKEN", t.expose());
            }
            if let Some(e) = r.creds.expiration.and_then(|e| e.format(&Rfc3339).ok()) {
                set("AWS_CREDENTIAL_EXPIRATION", &e);
            }
        }
        Inject::Endpoint { url, token, .. } => {
            set("AWS_CONTAINER_CREDENTIALS_FULL_URI", url);
            set("AWS_CONTAINER_AUTHORIZATION_TOKEN", token);
        }
    }
    if let Some(region) = region {
        set("AWS_REGION", region);
        set("AWS_DEFAULT_REGION", region);
    }
    set(GUARD, profile);
    env
}

/// Finds `program` on the child's `PATH` with one `stat` per directory, as a shell does,
/// instead of letting `execvp` try (and fail) an `execve` in each: the first regular file
/// with an execute bit wins. A name with a `/` is used as it is. Not found: `NotFound`; only
/// non-executable files of that name: `PermissionDenied` (exit 127 and 126, as shells).
fn resolve_program(program: &OsStr, path: Option<&[u8]>) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.as_bytes().contains(&b'/') {
        return Ok(program.into());
    }
    let path = path.unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
    let mut denied = false;
    for dir in path.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let candidate = std::path::Path::new(OsStr::from_bytes(dir)).join(program);
        match std::fs::metadata(&candidate) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => return Ok(candidate),
            Ok(m) if m.is_file() => denied = true,
            _ => {}
        }
    }
    Err(if denied {
        std::io::ErrorKind::PermissionDenied.into()
    } else {
        std::io::Error::new(std::io::ErrorKind::NotFound, "not found on PATH")
    })
}

fn command(argv: &[OsString], env: &ChildEnv) -> std::io::Result<Command> {
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_slice());
    let program = resolve_program(&argv[0], path)?;
    let mut cmd = Command::new(program);
    // The child sees the name it was given as argv[0], as from a shell.
    std::os::unix::process::CommandExt::arg0(&mut cmd, &argv[0]);
    cmd.args(&argv[1..]).env_clear().envs(
        env.iter()
            .map(|(k, v)| (k.as_os_str(), OsStr::from_bytes(v))),
    );
    crate::agent::harden::restore_core_limit(&mut cmd);
    Ok(cmd)
}

fn spawn_error(program: &OsStr, e: std::io::Error) -> Error {
    Error::CannotRun {
        program: crate::sanitize(&program.to_string_lossy()),
        not_found: e.kind() == std::io::ErrorKind::NotFound,
        detail: e.to_string(),
    }
}

/// Replaces this process with the child. Returns only on failure.
pub fn replace(argv: &[OsString], env: &ChildEnv) -> Error {
    let e = match command(argv, env) {
        Ok(mut cmd) => cmd.exec(),
        Err(e) => e,
    };
    spawn_error(&argv[0], e)
}

/// Runs the child as a subprocess, forwarding signals, and returns its exit status
/// (128 + N when a signal N killed it, as shells report).
pub async fn run_forwarding(
    argv: &[OsString],
    env: &ChildEnv,
    alongside: impl std::future::Future<Output = ()>,
) -> Result<u8> {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::terminate(), rustix::process::Signal::TERM),
        (SignalKind::interrupt(), rustix::process::Signal::INT),
        (SignalKind::hangup(), rustix::process::Signal::HUP),
        (SignalKind::quit(), rustix::process::Signal::QUIT),
        (SignalKind::user_defined1(), rustix::process::Signal::USR1),
        (SignalKind::user_defined2(), rustix::process::Signal::USR2),
        (SignalKind::window_change(), rustix::process::Signal::WINCH),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (kind, sig) in kinds {
        let mut stream = signal(kind)
            .map_err(|e| Error::Other(format!("installing signal handlers: {e}").into()))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        });
    }
    // Handlers first, then the child: a signal that arrives once the child runs is never
    // lost to the default action (which would kill vault and orphan the child).
    let mut child = command(argv, env)
        .map(tokio::process::Command::from)
        .and_then(|mut c| c.spawn())
        .map_err(|e| spawn_error(&argv[0], e))?;
    let pid = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32));
    tokio::pin!(alongside);
    let mut alongside_done = false;
    let status = loop {
        tokio::select! {
            () = &mut alongside, if !alongside_done => alongside_done = true,
            status = child.wait() => break status.map_err(|e| Error::Other(format!("waiting for the child: {e}").into()))?,
            Some(sig) = rx.recv() => {
                if let Some(pid) = pid {
                    tracing::debug!("forwarding signal {sig:?} to the child");
                    let _ = rustix::process::kill_process(pid, sig);
                }
            }
        }
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c as u8,
        (None, Some(s)) => 128u8.wrapping_add(s as u8),
        _ => 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::Credentials;
    use crate::secret::Secret;

    #[test]
    fn stale_and_vault_variables_never_reach_the_child() {
        let parent: Vec<(OsString, OsString)> = [
            ("PATH", "/bin"),
            ("AWS_ACCESS_KEY_ID", "AKIASTALE"),
            ("AWS_PROFILE", "other"),
            ("AWS_SESSION_TOKEN", "stale"),
            ("VAULT_PASSPHRASE", "hunter2"),
            ("VAULT_PASSPHRASE_FILE", "/x"),
            ("VAULT_ADDR", "https://vault.example:8200"),
            ("VAULT_TOKEN", "hvs.example"),
            ("AWS_REGION", "us-west-2"),
            ("AWS_CONFIG_FILE", "/c"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let r = Resolved {
            creds: Credentials {
                access_key_id: "ASIANEW".into(),
                secret_access_key: Secret::new("sk"),
                session_token: Some(Secret::new("tok")),
                expiration: None,
                issued: None,
            },
            region: Some("eu-west-1".into()),
        };
        let env = child_env(parent, "prod", Inject::Static(&r));
        let get = |k: &str| {
            let v: Vec<_> = env
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| std::str::from_utf8(v).unwrap())
                .collect();
            v
        };
        assert_eq!(get("AWS_ACCESS_KEY_ID"), ["ASIANEW"]);
        assert_eq!(get("AWS_SESSION_TOKEN"), ["tok"]);
        assert_eq!(get("AWS_PROFILE"), Vec::<&str>::new());
        assert_eq!(get("AWS_REGION"), ["eu-west-1"]);
        assert_eq!(get("AWS_VAULT"), ["prod"]);
        assert_eq!(get("AWS_CONFIG_FILE"), ["/c"]);
        assert!(env.iter().all(|(k, v)| {
            !SECRET_VARS.contains(&k.to_string_lossy().as_ref()) && &v[..] != b"hunter2"
        }));
        // HashiCorp Vault's variables are not vault's: `terraform apply` under exec needs them.
        assert_eq!(get("VAULT_ADDR"), ["https://vault.example:8200"]);
        assert_eq!(get("VAULT_TOKEN"), ["hvs.example"]);
    }

    #[test]
    fn nesting_is_refused() {
        let parent = vec![(OsString::from(GUARD), OsString::from("prod"))];
        assert!(matches!(check_not_nested(&parent), Err(Error::Usage(_))));
        assert!(check_not_nested(&[]).is_ok());
    }

    /// `exec` turned every value into UTF-8 with replacement characters, so a variable holding
    /// a Latin-1 path reached the child altered.
    #[test]
    fn a_variable_that_is_not_utf8_passes_through_unchanged() {
        let raw = OsString::from_vec(b"/home/j\xf6rg".to_vec());
        let parent = vec![(OsString::from("LATIN1_PATH"), raw.clone())];
        let r = Resolved {
            creds: Credentials {
                access_key_id: "ASIA".into(),
                secret_access_key: Secret::new("sk"),
                session_token: None,
                expiration: None,
                issued: None,
            },
            region: None,
        };
        let env = child_env(parent, "prod", Inject::Static(&r));
        let (_, v) = env.iter().find(|(k, _)| k == "LATIN1_PATH").unwrap();
        assert_eq!(&v[..], raw.as_bytes());
    }
}
