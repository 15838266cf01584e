//! Argument types the subcommands share: profile names, durations, regions, the session
//! flags of `exec` and `export`, and the KDF flags of `init` and `passwd`.

use std::time::Duration;

use crate::aws::Request;
use crate::error::{Error, Msg, Result};
use crate::settings::Settings;
use crate::vault::slot::KdfParams;

/// A profile name (clap's value parser for every PROFILE argument): every name the AWS SDK's
/// config parser accepts (letters, digits and `_-/.%@:+`), plus `=` and `,`; the backends
/// encode item names injectively, so `/` and `%` are safe in them.
pub fn profile_name(name: &str) -> std::result::Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@+=,:/%".contains(&b))
        && !name.starts_with('.');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "invalid profile name {:?}: use letters, digits and -_.@+=,:/% not starting with a dot (at most 128)",
            name.escape_debug().to_string()
        ))
    }
}

/// The longest duration any flag or setting takes (`--duration`, `--idle-timeout`,
/// `VAULT_AGENT_TIMEOUT`): 7 days. STS issues at most 36 h, and a timer this long never
/// overflows a clock.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses `900` (seconds), or a humantime duration: `15m`, `1h`, `1h30m`, `90s`; at most
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let shown = crate::sanitize(s);
    let bad = || format!("{shown:?} is not a duration like 900, 15m or 1h");
    let too_long = || format!("{shown:?} is longer than the maximum, 7 days");
    let d = match s.parse::<u64>() {
        Ok(n) => Duration::from_secs(n),
        Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => return Err(too_long()),
        Err(_) => humantime::parse_duration(s).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(),
            _ => bad(),
        })?,
    };
    // Whole seconds: STS and the agent's timer count in them.
    if d.as_secs() == 0 || d.subsec_nanos() != 0 {
        return Err(bad());
    }
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

/// A region name as AWS spells them (`eu-west-1`, `us-gov-east-1`, `cn-north-1`).
pub fn parse_region(s: &str) -> std::result::Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err("expected a region name like eu-west-1".into())
    }
}

/// How a profile's credentials are made: the flags `exec` and `export` share.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// Lifetime of the final session or role (e.g. 900, 15m, 1h) [default: 1h].
    #[arg(long, short, value_parser = parse_duration, value_name = "D")]
    pub duration: Option<Duration>,
    /// Use the stored long-term key directly instead of a GetSessionToken session.
    #[arg(long, short)]
    pub no_session: bool,
    /// The current MFA code (else the profile's mfa_process, else --prompt).
    #[arg(long, short = 't', value_name = "CODE")]
    pub mfa_token: Option<String>,
    /// The region for STS and for the credentials' user (AWS_REGION, AWS_DEFAULT_REGION)
    /// [default: the profile's region, else its source's].
    #[arg(long, short, value_parser = parse_region, value_name = "REGION")]
    pub region: Option<String>,
    /// How to ask for an MFA code when one is needed: terminal, or a dialog (zenity,
    /// kdialog, osascript), or ykman (reads the code of the profile's mfa_serial from a
    /// YubiKey) [default: terminal].
    #[arg(long, value_enum, value_name = "DRIVER")]
    pub prompt: Option<crate::aws::mfa::Prompt>,
}

impl SessionArgs {
    /// What to ask the resolver for, with what the environment says about regions and
    /// the STS endpoint.
    pub fn request(&self, settings: &Settings) -> Request {
        Request {
            duration: self.duration,
            no_session: self.no_session,
            region: self.region.clone(),
            env_region: settings.aws_region.clone(),
            sts_endpoint_overridden: settings.sts_endpoint_overridden,
            prompt: self.prompt.unwrap_or_default(),
            interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            browser: settings.browser.clone(),
            refresh_ahead: false,
        }
    }
}

/// The Argon2id flags of `init` and `passwd`.
#[derive(Debug, clap::Args)]
pub struct KdfArgs {
    /// Argon2id memory in MiB [init: calibrated to about 1 s, between 64 and 256; passwd:
    /// keep the slot's].
    #[arg(long, value_name = "MiB")]
    pub kdf_memory: Option<u32>,
    /// Argon2id passes over memory (3 to 10) [init: 3; passwd: keep].
    #[arg(long, value_name = "T")]
    pub kdf_time: Option<u32>,
    /// Argon2id lanes (1 to 16) [init: 4; passwd: keep].
    #[arg(long, value_name = "P")]
    pub kdf_parallelism: Option<u32>,
}

impl KdfArgs {
    /// The flags over `base`, checked against the bounds before any KDF runs.
    pub fn over(&self, base: KdfParams) -> Result<KdfParams> {
        let params = KdfParams {
            m_kib: match self.kdf_memory {
                Some(mib) => mib
                    .checked_mul(1024)
                    .ok_or_else(|| Error::Usage("--kdf-memory is too large".into()))?,
                None => base.m_kib,
            },
            t: self.kdf_time.unwrap_or(base.t),
            p: self.kdf_parallelism.unwrap_or(base.p),
        };
        params.check().map_err(|e| {
            Error::Usage(Msg::hinted(
                format!("{e}"),
                "--kdf-memory takes 64 to 4096 (MiB), --kdf-time 3 to 10, --kdf-parallelism 1 to 16",
            ))
        })?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("900").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        for bad in ["", "1x", "h", "10m5", "0", "0s", "500ms"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("7d").unwrap(), MAX_DURATION);
        // u64::MAX seconds aborted the agent on unlock (Instant + Duration overflowed), and
        // values this large in hours must not wrap into something short.
        for huge in [
            "604801",
            "8d",
            "18446744073709551615",
            "18446744073709551616",
            "5124095576030432h",
            "18446744073709551615h",
            "99999999999999999999999d",
        ] {
            let e = parse_duration(huge).unwrap_err();
            assert!(e.contains("7 days"), "{huge}: {e}");
        }
    }

    #[test]
    fn kdf_flags_are_checked_alike() {
        let huge = KdfArgs {
            kdf_memory: Some(u32::MAX),
            kdf_time: None,
            kdf_parallelism: None,
        };
        // passwd once saturated this to 4 GiB - 1 KiB and accepted it; init refused it.
        assert!(huge.over(KdfParams::DEFAULT).is_err());
        let none = KdfArgs {
            kdf_memory: None,
            kdf_time: Some(4),
            kdf_parallelism: None,
        };
        assert_eq!(none.over(KdfParams::DEFAULT).unwrap().t, 4);
    }
}
