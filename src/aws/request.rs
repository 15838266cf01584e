//! What a command asks of the chain ([`Request`]) and the one region rule ([`region`]) every
//! command uses, so exec, export, login and rotate never pick a region differently.

use std::time::Duration;

use super::mfa;

/// How `exec`/`export` want their credentials.
#[derive(Debug, Default, Clone)]
pub struct Request {
    /// `--duration`: the last step's lifetime.
    pub duration: Option<Duration>,
    /// `--no-session`: use the long-term key directly (AssumeRole still runs for roles).
    pub no_session: bool,
    /// `--region`: overrides the profiles' region for STS and the child.
    pub region: Option<String>,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`, from the environment vault was started in.
    pub env_region: Option<String>,
    /// Whether STS is not AWS's own (`AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL`): an
    /// emulator may grant sessions shorter than AWS's 15 minutes.
    pub sts_endpoint_overridden: bool,
    /// `--prompt`: how to ask for an MFA code.
    pub prompt: mfa::Prompt,
    /// Whether a sign-in may be started when an IAM Identity Center token cannot be
    /// refreshed (a terminal is there); else such a command fails at once (exit 79).
    pub interactive: bool,
    /// `BROWSER`, for such a sign-in.
    pub browser: Option<std::ffi::OsString>,
    /// `exec --server`: the last step's session is due a [`super::cache::lead`] before the
    /// cache's margin, so the endpoint's background refresh gets new credentials while the
    /// ones it serves still have more than the margin left.
    pub refresh_ahead: bool,
}

/// The regions a command uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// What the child is given (`AWS_REGION`, `AWS_DEFAULT_REGION`); `None` leaves the
    /// child's own variables alone.
    pub child: Option<String>,
    /// What STS calls are signed for.
    pub sts: String,
}

/// The one region rule, for every command, as the SDKs resolve it: `--region`, else
/// `AWS_REGION` / `AWS_DEFAULT_REGION` (which the child keeps as the user set them), else the
/// profile's (for a chain, the requested profile's, else its nearest source's), else
/// us-east-1 for STS.
pub fn region(flag: Option<&str>, profile: Option<&str>, env: Option<&str>) -> Region {
    let sts = flag.or(env).or(profile).unwrap_or("us-east-1").to_owned();
    let child = match (flag, env) {
        (Some(flag), _) => Some(flag.to_owned()),
        (None, Some(_)) => None,
        (None, None) => profile.map(str::to_owned),
    };
    Region { child, sts }
}
