//! `vault login PROFILE`: open the AWS console as a profile (DESIGN.md §5b).
//!
//! Console credentials (a role's session as it is, or GetFederationToken for a plain IAM-user
//! key) are traded at the federation endpoint for a sign-in token, and the `Action=login` URL
//! is opened in the browser or, with `--stdout`, printed. The URL is a bearer secret for 15
//! minutes: it is printed only on success, only on stdout, and never logged.
//!
//! The federation base URL is `AWS_ENDPOINT_URL_SIGNIN` when set (tests, emulators), else the
//! partition's `https://signin.<domain>/federation`.

use std::time::Duration;

use crate::aws::{self, federation, profile::Config, Request};
use crate::error::{Msg, Result};
use crate::secret::Secret;
use crate::settings::Settings;

/// How long the browser opener may take to fail before it is left running.
const OPENER_WAIT: Duration = Duration::from_secs(3);

/// Arguments of `vault login`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile.
    #[arg(value_parser = super::args::profile_name)]
    pub profile: String,
    /// Print the sign-in URL on stdout (one line) instead of opening it in the browser. It is a
    /// bearer secret for 15 minutes.
    #[arg(long)]
    pub stdout: bool,
    /// The console page to open, under the region's console (e.g. /s3/home)
    /// [default: the console home].
    #[arg(long, value_parser = federation::parse_path, value_name = "PATH")]
    pub path: Option<String>,
    /// Lifetime of the role session (also the console session's length, for a role assumed
    /// with a stored key) or of the GetFederationToken session (e.g. 900, 15m, 1h) [default:
    /// 1h].
    #[arg(long, short, value_parser = super::args::parse_duration, value_name = "D")]
    pub duration: Option<Duration>,
    /// The current MFA code (else the profile's mfa_process, else --prompt).
    #[arg(long, short = 't', value_name = "CODE")]
    pub mfa_token: Option<String>,
    /// How to ask for an MFA code: terminal, zenity, kdialog, osascript or ykman
    /// [default: terminal].
    #[arg(long, value_enum, value_name = "DRIVER")]
    pub prompt: Option<crate::aws::mfa::Prompt>,
    /// The region for STS and of the console [default: AWS_REGION, AWS_DEFAULT_REGION, the
    /// profile's region, else its source's, else us-east-1].
    #[arg(long, value_parser = super::args::parse_region, value_name = "REGION")]
    pub region: Option<String>,
}

/// Runs `vault login`.
pub fn run(ctx: &Settings, mut args: Args) -> Result<()> {
    // Read and checked before anything is unlocked or called.
    let signin_override = match std::env::var_os("AWS_ENDPOINT_URL_SIGNIN") {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v.into_string().map_err(|_| {
            crate::error::Error::Config(Msg::hinted(
                "AWS_ENDPOINT_URL_SIGNIN is not UTF-8",
                "set it to the federation endpoint's URL, or unset it",
            ))
        })?),
    };
    if let Some(base) = &signin_override {
        federation::check_base(base)?;
    }
    let rt = super::runtime()?;
    let vault = crate::vault::Vault::open(ctx)?;
    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    let mfa_token = args.mfa_token.take().map(Secret::new);
    let request = Request {
        duration: args.duration,
        no_session: false,
        region: args.region.clone(),
        env_region: ctx.aws_region.clone(),
        sts_endpoint_overridden: ctx.sts_endpoint_overridden,
        prompt: args.prompt.unwrap_or_default(),
        interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        browser: ctx.browser.clone(),
        refresh_ahead: false,
    };
    let url = rt.block_on(async {
        let config = Config::load().await?;
        let plan = aws::plan(&unlocked, &config, &args.profile, request)?;
        let console = aws::resolve_console(&unlocked, &plan, mfa_token).await?;
        let region = plan.region.sts.as_str();
        let base = signin_override
            .clone()
            .unwrap_or_else(|| federation::default_base(region));
        tracing::info!(
            "signing in to the {} console in {region}{}",
            federation::partition(region).name,
            match console.session_duration {
                Some(d) => format!(" for {d} s (SessionDuration)"),
                None => " for the credentials' lifetime".into(),
            }
        );
        let token =
            federation::signin_token(&base, &console.creds, console.session_duration).await?;
        drop(console);
        let destination = federation::destination(region, args.path.as_deref());
        Ok::<_, crate::error::Error>(federation::login_url(&base, &destination, &token))
    })?;
    if args.stdout {
        return super::print(format_args!("{}\n", url.expose()));
    }
    crate::browser::open_and_check(
        ctx.browser.as_deref(),
        url.expose(),
        "--stdout",
        OPENER_WAIT,
    )?;
    tracing::info!(
        "opened the console sign-in for {} in the browser",
        args.profile
    );
    Ok(())
}
