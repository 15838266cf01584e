//! `vault sso login|logout|accounts`: IAM Identity Center sign-in, sign-out and discovery
//! (DESIGN.md §5a). The tokens are sealed in the vault (`sso::token`), never written to
//! `~/.aws/sso/cache`.

use std::time::Duration;

use crate::aws::profile::Config;
use crate::error::Result;
use crate::settings::Settings;
use crate::sso::portal::{Portal, PortalError};
use crate::sso::token::{self, Login, Need};

/// Arguments of `vault sso`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// Which sso-session: by name, or the one a profile uses.
#[derive(Debug, clap::Args)]
pub struct Which {
    /// The sso-session ([sso-session NAME] in the AWS config) [default: the only one].
    #[arg(conflicts_with = "profile")]
    pub session: Option<String>,
    /// The sso-session this SSO profile uses (also the legacy in-profile form).
    #[arg(long, value_parser = super::args::profile_name, value_name = "P")]
    pub profile: Option<String>,
}

/// The `vault sso` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Sign in (always a fresh sign-in, as `aws sso login`): authorization code with PKCE in
    /// the browser, or the device code; the tokens are sealed in the vault.
    Login {
        #[command(flatten)]
        which: Which,
        /// Print the sign-in URL on stderr instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// Sign in with a device code (for machines without a local browser).
        #[arg(long)]
        use_device_code: bool,
        /// How long to wait for the browser to come back [default: 5m].
        #[arg(long, value_parser = super::args::parse_duration, value_name = "D")]
        timeout: Option<Duration>,
    },
    /// Sign out: the portal's Logout, then drop the sealed token and its role sessions.
    Logout {
        #[command(flatten)]
        which: Which,
    },
    /// List the accounts and roles the sso-session may use.
    Accounts {
        #[command(flatten)]
        which: Which,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `vault sso`.
pub fn run(ctx: &Settings, args: Args) -> Result<()> {
    let rt = super::runtime()?;
    let config = rt.block_on(Config::load())?;
    let which = match &args.command {
        Command::Login { which, .. }
        | Command::Logout { which }
        | Command::Accounts { which, .. } => which,
    };
    let (session, profile) =
        crate::sso::find_session(&config, which.session.as_deref(), which.profile.as_deref())?;
    let vault = crate::vault::Vault::open(ctx)?;
    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    match args.command {
        Command::Login {
            no_browser,
            use_device_code,
            timeout,
            ..
        } => {
            let how = Login {
                no_browser,
                device_code: use_device_code,
                timeout: timeout.unwrap_or(Login::default().timeout),
            };
            rt.block_on(token::login(&unlocked, &session, &profile, &how))?;
            Ok(())
        }
        Command::Logout { .. } => {
            if let Some(t) = token::read(&unlocked, &session)? {
                let oidc = rt.block_on(crate::sso::oidc::Oidc::new(&session, &profile));
                match rt.block_on(Portal::new(oidc.sdk_config()).logout(&t.access_token)) {
                    Ok(()) | Err(PortalError::Unauthorized) => {}
                    // Signing out locally still happens; say the remote part failed.
                    Err(PortalError::Other(e)) => eprintln!(
                        "vault: warning: {}",
                        crate::sanitize_message(&e.to_string())
                    ),
                }
            }
            let dropped = token::forget(&unlocked, &session)?;
            eprintln!(
                "vault: signed out of the sso-session {} ({dropped} role session{} dropped)",
                crate::sanitize(&session.name),
                if dropped == 1 { "" } else { "s" }
            );
            Ok(())
        }
        Command::Accounts { json, .. } => {
            let need = Need {
                session: &session,
                profile: &profile,
                interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let accounts = rt.block_on(token::accounts(&unlocked, need))?;
            if json {
                outln!("{:#}", serde_json::json!(accounts))?;
                return Ok(());
            }
            outln!("{:<14} {:<32} ROLES", "ACCOUNT", "NAME")?;
            for a in &accounts {
                outln!(
                    "{:<14} {:<32} {}",
                    crate::sanitize(&a.account_id),
                    crate::sanitize(&a.account_name),
                    crate::sanitize(&a.roles.join(", "))
                )?;
            }
            Ok(())
        }
    }
}
