//! Where an MFA code comes from: `--mfa-token`, the profile's `mfa_process`, else the
//! `--prompt` driver (the terminal by default; a desktop dialog; ykman); asked at most once per
//! command.

use std::process::{Command, Stdio};

use crate::error::{Error, Msg, Result};
use crate::secret::Secret;

/// How to ask for a code (`--prompt`, named as aws-vault's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Prompt {
    /// A line on the terminal.
    #[default]
    Terminal,
    /// A GNOME dialog (`zenity --entry`).
    Zenity,
    /// A KDE dialog (`kdialog --inputbox`).
    Kdialog,
    /// A macOS dialog (`osascript`).
    Osascript,
    /// The code of the profile's mfa_serial from a YubiKey (`ykman oath accounts code`).
    Ykman,
}

impl Prompt {
    /// The program and arguments that print a code for `serial` (shown as `shown`); `None`
    /// for the terminal. The serial is an argument, never spliced into a script.
    fn argv(self, serial: &str, shown: &str) -> Option<Vec<String>> {
        let text = format!("MFA code for {shown}");
        let v = |a: &[&str]| Some(a.iter().map(|s| s.to_string()).collect());
        match self {
            Prompt::Terminal => None,
            Prompt::Zenity => v(&["zenity", "--entry", "--title", "vault", "--text", &text]),
            Prompt::Kdialog => v(&["kdialog", "--title", "vault", "--inputbox", &text]),
            Prompt::Osascript => v(&[
                "osascript",
                "-e",
                "on run argv",
                "-e",
                "text returned of (display dialog (item 1 of argv) default answer \"\" with title \"vault\")",
                "-e",
                "end run",
                &text,
            ]),
            Prompt::Ykman => v(&["ykman", "oath", "accounts", "code", "--single", serial]),
        }
    }
}

/// The MFA sources of one command.
pub(crate) struct MfaSource<'a> {
    /// `--mfa-token`: used once.
    pub token: Option<Secret>,
    /// The chain's `mfa_process`.
    pub process: Option<&'a str>,
    /// `--prompt`.
    pub prompt: Prompt,
}

/// Runs a program that prints a code; the code is read in zeroed memory and never logged.
/// `fix` is the hint when it fails.
fn code_from(mut cmd: Command, what: &str, fix: &str) -> Result<Secret> {
    let out = crate::exec::scrub(&mut cmd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            Error::Config(Msg::hinted(
                format!("running {what}: {e}"),
                "install it, or choose another way to give the MFA code (--prompt, --mfa-token, mfa_process)",
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Config(Msg::hinted(
            format!("{what} exited with {}", out.status),
            fix.to_string(),
        )));
    }
    let stdout = zeroize::Zeroizing::new(out.stdout);
    let code = std::str::from_utf8(&stdout).unwrap_or_default().trim();
    if code.is_empty() {
        return Err(Error::Usage(Msg::hinted(
            format!("{what} gave no MFA code; nothing was sent to STS"),
            "enter the device's current code",
        )));
    }
    Ok(Secret::new(code))
}

impl MfaSource<'_> {
    /// The code for the device `serial`.
    pub fn code(&mut self, serial: &str) -> Result<Secret> {
        if let Some(t) = self.token.take() {
            return Ok(t);
        }
        if let Some(cmd) = self.process {
            tracing::info!("running mfa_process for {serial}");
            let mut sh = Command::new("/bin/sh");
            sh.arg("-c").arg(cmd);
            return code_from(
                sh,
                "mfa_process",
                "check the command in the profile's mfa_process",
            );
        }
        let shown = crate::sanitize(serial);
        if let Some(argv) = self.prompt.argv(serial, &shown) {
            tracing::info!("asking for the MFA code of {shown} with {}", argv[0]);
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..]);
            return code_from(
                cmd,
                &format!("--prompt {}", argv[0]),
                "check that it runs on its own, or pass --mfa-token CODE",
            );
        }
        match crate::passphrase::prompt_line(&format!("MFA code for {shown}: ")) {
            Ok(code) if !code.is_empty() => Ok(Secret::new(code)),
            Ok(_) => Err(Error::Usage(Msg::hinted(
                format!("no MFA code was typed for {shown}; nothing was sent to STS"),
                "type the current code of the device (or pass --mfa-token CODE)",
            ))),
            Err(_) => Err(Error::NoMfaSource(shown)),
        }
    }
}
