//! Where an MFA code comes from: `--mfa-token`, the profile's `mfa_process`, else a prompt on
//! the terminal; asked at most once per command.

use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The MFA sources of one command.
pub(crate) struct MfaSource<'a> {
    /// `--mfa-token`: used once.
    pub token: Option<Secret>,
    /// The chain's `mfa_process`.
    pub process: Option<&'a str>,
}

impl MfaSource<'_> {
    /// The code for the device `serial`.
    pub fn code(&mut self, serial: &str) -> Result<Secret> {
        if let Some(t) = self.token.take() {
            return Ok(t);
        }
        if let Some(cmd) = self.process {
            tracing::info!("running mfa_process for {serial}");
            let out = crate::exec::scrub(&mut Command::new("/bin/sh"))
                .arg("-c")
                .arg(cmd)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| Error::Config(format!("running mfa_process: {e}")))?;
            if !out.status.success() {
                return Err(Error::Config(format!(
                    "mfa_process exited with {}\n  hint: check the command in the profile's mfa_process",
                    out.status
                )));
            }
            // The code is a secret too: read in zeroed memory, never logged.
            let stdout = zeroize::Zeroizing::new(out.stdout);
            let code = std::str::from_utf8(&stdout).unwrap_or_default().trim();
            return Ok(Secret::new(code));
        }
        match crate::passphrase::prompt_line(&format!("MFA code for {}: ", crate::sanitize(serial))) {
            Ok(code) if !code.is_empty() => Ok(Secret::new(code)),
            _ => Err(Error::Usage(format!(
                "an MFA code is needed for {serial} and there is no terminal to ask on\n  hint: pass --mfa-token CODE or set mfa_process in the profile"
            ))),
        }
    }
}
