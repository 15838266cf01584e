//! `--duration`: what STS can grant for a chain's last step, checked before any call.
//!
//! AssumeRole grants at most 12 h, and 1 h to a role assumed with another role's credentials
//! (role chaining); GetSessionToken at most 36 h; none less than 15 minutes. Emulators accept
//! shorter sessions (tests of refresh rely on them), so with the STS endpoint overridden a
//! shorter duration is passed through with a warning.

use std::time::Duration;

use super::chain::Chain;
use crate::error::{Error, Msg, Result};

/// STS's shortest session.
const MIN: Duration = Duration::from_secs(900);
/// AssumeRole's longest (a role's MaxSessionDuration can be at most this).
const ROLE_MAX: Duration = Duration::from_secs(12 * 3600);
/// A chained role's longest.
const CHAINED_MAX: Duration = Duration::from_secs(3600);
/// GetSessionToken's longest.
const SESSION_MAX: Duration = Duration::from_secs(36 * 3600);

/// Refuses a `--duration` STS cannot grant for the last step of `chain`.
pub fn check(chain: &Chain, duration: Duration, endpoint_overridden: bool) -> Result<()> {
    let (max, what) = match chain.roles.len() {
        0 => (SESSION_MAX, "GetSessionToken"),
        1 => (ROLE_MAX, "AssumeRole"),
        _ => (
            CHAINED_MAX,
            "AssumeRole with another role's credentials (role chaining)",
        ),
    };
    let secs = duration.as_secs();
    if duration > max {
        return Err(Error::Usage(Msg::hinted(
            format!(
                "--duration {secs}s is longer than {what} grants ({} s)",
                max.as_secs()
            ),
            format!("ask for at most {}", humantime::format_duration(max)),
        )));
    }
    if duration < MIN {
        if !endpoint_overridden {
            return Err(Error::Usage(Msg::hinted(
                format!(
                    "--duration {secs}s is shorter than STS grants ({} s)",
                    MIN.as_secs()
                ),
                "ask for at least 15m",
            )));
        }
        tracing::warn!(
            "--duration {secs}s is shorter than AWS's STS grants; passing it to the overridden STS endpoint"
        );
    }
    Ok(())
}
