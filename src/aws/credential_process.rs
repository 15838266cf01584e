//! A profile's `credential_process`: run through `/bin/sh -c` with no stdin, its output
//! capped at 1 MiB and held in zeroed memory, parsed as the JSON `Version: 1` shape.

use std::io::Read;
use std::process::{Command, Stdio};

use time::OffsetDateTime;

use super::profile::Settings;
use crate::creds::Credentials;
use crate::error::{Error, Msg, Result};
use crate::secret::Secret;

/// Runs a profile's `credential_process` and parses its `Version: 1` JSON.
pub(crate) fn run(s: &Settings) -> Result<Credentials> {
    let cmd = s.credential_process.as_deref().unwrap_or_default();
    let fail = |m: String| {
        Error::Config(Msg::hinted(
            format!("credential_process of profile {:?}: {m}", s.name),
            "run the command by hand to see what it prints",
        ))
    };
    let mut child = crate::exec::scrub(&mut Command::new("/bin/sh"))
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let mut out = zeroize::Zeroizing::new(Vec::new());
    child
        .stdout
        .take()
        .expect("piped")
        .take(1 << 20)
        .read_to_end(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!("it exited with {status}")));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Out {
        version: u32,
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
        #[serde(default, with = "time::serde::rfc3339::option")]
        expiration: Option<OffsetDateTime>,
    }
    let o: Out = serde_json::from_slice(&out)
        .map_err(|_| fail("it did not print the JSON Version 1 shape".into()))?;
    if o.version != 1 {
        return Err(fail(format!("unsupported Version {}", o.version)));
    }
    if let Some(field) = crate::creds::bad_field(
        &o.access_key_id,
        o.secret_access_key.expose(),
        o.session_token.as_ref().map(|t| t.expose()),
    ) {
        return Err(fail(format!(
            "its {field} has characters AWS credentials never have (it is not shown)"
        )));
    }
    Ok(Credentials {
        access_key_id: o.access_key_id,
        secret_access_key: o.secret_access_key,
        session_token: o.session_token,
        // Every timestamp vault hands out is UTC (`Z`): the JS SDK's container provider refuses
        // an offset, and aws-vault converts for the same reason.
        expiration: o.expiration.map(|e| e.to_offset(time::UtcOffset::UTC)),
        issued: None,
    })
}
