//! Where the passphrase comes from, in order: `--passphrase-fd N`, `VAULT_PASSPHRASE_FILE`,
//! `VAULT_ASKPASS` (a program that prints it), `VAULT_PASSPHRASE`, then a prompt on
//! `/dev/tty` with echo off. Never from argv. Only the first line is used.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::secret::Secret;
use zeroize::Zeroizing;

use crate::error::{Error, Msg, Result};

/// Limit on a passphrase source's output, so a wrong file cannot eat memory.
const MAX_LEN: u64 = 64 * 1024;

/// Tries at a terminal, as sudo gives: a typo costs a retype, not the command.
pub const TRIES: u32 = 3;

/// The configured passphrase sources, read once from flags and the environment.
#[derive(Debug, Default)]
pub struct Sources {
    /// `--passphrase-fd`.
    pub fd: Option<i32>,
    /// `VAULT_PASSPHRASE_FILE`.
    pub file: Option<PathBuf>,
    /// `VAULT_ASKPASS`.
    pub askpass: Option<OsString>,
    /// `VAULT_PASSPHRASE`.
    pub env: Option<Secret>,
}

impl Sources {
    /// Whether any non-interactive source is configured.
    pub fn any(&self) -> bool {
        self.fd.is_some() || self.file.is_some() || self.askpass.is_some() || self.env.is_some()
    }

    /// Gets the passphrase from the first configured source, else prompts on the terminal.
    pub fn read(&self, prompt: &str) -> Result<Secret> {
        if let Some(fd) = self.fd {
            let path = PathBuf::from(format!("/dev/fd/{fd}"));
            let f = File::open(&path).map_err(|e| Error::Passphrase {
                source_name: format!("--passphrase-fd {fd}"),
                detail: e.to_string(),
                hint: "pass a file descriptor that is open for reading".into(),
            })?;
            return first_line(f, &format!("--passphrase-fd {fd}"));
        }
        if let Some(path) = &self.file {
            let f = File::open(path).map_err(|e| Error::Passphrase {
                source_name: format!("VAULT_PASSPHRASE_FILE ({})", path.display()),
                detail: e.to_string(),
                hint: "point VAULT_PASSPHRASE_FILE at a readable file".into(),
            })?;
            // Refused like every other vault file another user could read (exit 80): checked
            // on the open file, so it cannot be swapped between the check and the read.
            let meta = f.metadata().map_err(|e| Error::Passphrase {
                source_name: format!("VAULT_PASSPHRASE_FILE ({})", path.display()),
                detail: e.to_string(),
                hint: "point VAULT_PASSPHRASE_FILE at a regular file".into(),
            })?;
            vault_backends::fs::check_owner_mode(
                path,
                &meta,
                rustix::process::geteuid().as_raw(),
                0o077,
                "chmod 600",
            )?;
            return first_line(f, "VAULT_PASSPHRASE_FILE");
        }
        if let Some(program) = &self.askpass {
            return askpass(program, prompt);
        }
        if let Some(p) = &self.env {
            return Ok(p.clone());
        }
        prompt_tty(prompt)
    }

    /// Runs `attempt` with the passphrase. At a terminal (no other source configured) a
    /// wrong passphrase is asked for again, [`TRIES`] times in all; a configured source gets
    /// one try, since asking it again gives the same answer.
    pub fn retry<T>(
        &self,
        prompt: &str,
        mut attempt: impl FnMut(&Secret) -> Result<T>,
    ) -> Result<T> {
        let tries = if self.any() { 1 } else { TRIES };
        let mut n = 1;
        loop {
            let pass = self.read(prompt)?;
            match attempt(&pass) {
                Err(Error::WrongPassphrase) if n < tries => {
                    n += 1;
                    eprintln!("vault: wrong passphrase, try again ({n} of {tries})");
                }
                result => return result,
            }
        }
    }

    /// [`Sources::retry`] for a command that must have the passphrase itself (`command`
    /// names it): "locked" would be false while an agent is unlocked.
    pub fn retry_own<T>(
        &self,
        command: &'static str,
        prompt: &str,
        attempt: impl FnMut(&Secret) -> Result<T>,
    ) -> Result<T> {
        self.retry(prompt, attempt).map_err(|e| match e {
            Error::Locked => Error::PassphraseRequired(command),
            e => e,
        })
    }

    /// Gets a new passphrase: from the configured source, or typed twice on the terminal
    /// (asked again, [`TRIES`] times in all, when empty or when the two differ).
    pub fn read_new(&self, what: &str) -> Result<Secret> {
        let empty = || {
            Error::Usage(Msg::hinted(
                "the passphrase is empty; nothing changed",
                "choose a passphrase of several words",
            ))
        };
        if self.any() {
            let pass = self.read(what)?;
            if pass.expose().is_empty() {
                return Err(empty());
            }
            if let Some(why) = weak(&pass) {
                eprintln!("vault: warning: the new passphrase is weak ({why})");
            }
            return Ok(pass);
        }
        for n in 1..=TRIES {
            let last = n == TRIES;
            let first = prompt_tty(&format!("{what}: "))?;
            if first.expose().is_empty() {
                if last {
                    return Err(empty());
                }
                eprintln!("vault: the passphrase is empty, try again");
                continue;
            }
            if let Some(why) = weak(&first) {
                eprintln!("vault: this passphrase is weak ({why})");
                if confirm("use it anyway", false).is_err() {
                    if last {
                        return Err(Error::Usage(Msg::hinted(
                            "no passphrase was chosen; nothing changed",
                            "choose one of four or more random words",
                        )));
                    }
                    continue;
                }
            }
            let second = prompt_tty("Repeat it: ")?;
            if first.expose() == second.expose() {
                return Ok(first);
            }
            if last {
                break;
            }
            eprintln!("vault: the two passphrases differ, try again");
        }
        Err(Error::Usage(Msg::hinted(
            "the two passphrases differ; nothing changed",
            "type the same passphrase twice",
        )))
    }
}

/// Why a new passphrase is weak (zxcvbn's score below 3 of 4, with its advice), or `None`.
/// zxcvbn works on copies it does not zero; it runs only when a passphrase is being set.
fn weak(pass: &Secret) -> Option<String> {
    let estimate = zxcvbn::zxcvbn(pass.expose(), &["vault", "aws"]);
    let score = u8::from(estimate.score());
    if score >= 3 {
        return None;
    }
    let mut why = format!("strength {score} of 4");
    if let Some(f) = estimate.feedback() {
        if let Some(w) = f.warning() {
            why.push_str(&format!(": {w}"));
        }
        if let Some(s) = f.suggestions().first() {
            why.push_str(&format!("; {s}"));
        }
    }
    Some(why)
}

fn first_line(mut r: impl Read, name: &str) -> Result<Secret> {
    let mut buf = Zeroizing::new(Vec::with_capacity(256));
    (&mut r)
        .take(MAX_LEN)
        .read_to_end(&mut buf)
        .map_err(|e| Error::Passphrase {
            source_name: name.into(),
            detail: e.to_string(),
            hint: "check the source".into(),
        })?;
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| Error::Passphrase {
        source_name: name.into(),
        detail: "it is not UTF-8".into(),
        hint: "store the passphrase as UTF-8 text".into(),
    })?;
    Ok(Secret::new(text.to_owned()))
}

fn askpass(program: &OsString, prompt: &str) -> Result<Secret> {
    let name = format!("VAULT_ASKPASS ({})", program.to_string_lossy());
    let fail = |detail: String| Error::Passphrase {
        source_name: name.clone(),
        detail,
        hint: "VAULT_ASKPASS must name a program that prints the passphrase and exits 0".into(),
    };
    let mut child = crate::exec::scrub(&mut Command::new(program))
        .arg(prompt)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let stdout = child.stdout.take().expect("piped");
    let pass = first_line(stdout, &name);
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("it exited with {status}")));
    }
    pass
}

/// Prompts on `/dev/tty` with echo off; never touches stdout.
fn prompt_tty(prompt: &str) -> Result<Secret> {
    let mut tty = match OpenOptions::new().read(true).write(true).open("/dev/tty") {
        Ok(t) => t,
        Err(_) => return Err(Error::Locked),
    };
    let saved = rustix::termios::tcgetattr(&tty).ok();
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_modes &= !rustix::termios::LocalModes::ECHO;
        let _ = rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &quiet);
    }
    // The prompt only once echo is off (and typeahead flushed), as readpassphrase(3) does:
    // what is typed after it appears is never shown.
    let _ = tty.write_all(prompt.as_bytes());
    let _ = tty.flush();
    let mut line = Zeroizing::new(Vec::with_capacity(256));
    let mut byte = [0u8; 1];
    let result = loop {
        match tty.read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) if byte[0] == b'\n' => break Ok(()),
            Ok(_) if line.len() as u64 >= MAX_LEN => break Ok(()),
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
    };
    if let Some(saved) = &saved {
        let _ = rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, saved);
    }
    let _ = tty.write_all(b"\n");
    result.map_err(|e| Error::Passphrase {
        source_name: "/dev/tty".into(),
        detail: e.to_string(),
        hint: "run in a terminal or set VAULT_PASSPHRASE_FILE".into(),
    })?;
    first_line(&line[..], "/dev/tty")
}

/// Reads one line of a non-passphrase secret (an access key) from the terminal, echo off.
pub fn prompt_secret(prompt: &str) -> Result<Secret> {
    prompt_tty(prompt)
}

/// Asks a y/N question on the terminal before a destructive step; without a terminal the
/// step is refused, since nobody can say yes. `force` (`-f/--force`) skips the question.
pub fn confirm(question: &str, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let no_tty = || {
        Error::Usage(Msg::hinted(
            format!("{question}: refusing without a terminal to confirm on"),
            "pass -f/--force to do it anyway",
        ))
    };
    let answer = prompt_line_on_tty(&format!("{question}? [y/N] ")).map_err(|_| no_tty())?;
    if matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Error::Usage(Msg::hinted(
            format!("{question}: not confirmed; nothing changed"),
            "answer y to go ahead, or pass -f/--force",
        )))
    }
}

/// Reads one visible line from `/dev/tty`.
fn prompt_line_on_tty(prompt: &str) -> std::io::Result<String> {
    let mut tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    tty.write_all(prompt.as_bytes())?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while let Ok(1) = tty.read(&mut byte) {
        if byte[0] == b'\n' || line.len() >= 4096 {
            break;
        }
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line).trim().to_owned())
}

/// Reads one visible line from the terminal (an access key id).
pub fn prompt_line(prompt: &str) -> Result<String> {
    prompt_line_on_tty(prompt).map_err(|_| {
        Error::Usage(Msg::hinted(
            "no terminal to prompt on for the key",
            "use `vault add --env` with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_strips_newline_and_rest() {
        let p = first_line(&b"pw one\r\nsecond"[..], "t").unwrap();
        assert_eq!(p.expose(), "pw one");
    }

    #[test]
    fn file_source_wins_over_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p");
        std::fs::write(&f, "from-file\n").unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let s = Sources {
            file: Some(f),
            env: Some(Secret::new("from-env".to_owned())),
            ..Default::default()
        };
        assert_eq!(s.read("x").unwrap().expose(), "from-file");
    }

    #[test]
    fn failing_askpass_is_an_error() {
        let s = Sources {
            askpass: Some("false".into()),
            ..Default::default()
        };
        assert!(matches!(s.read("x"), Err(Error::Passphrase { .. })));
    }
}
