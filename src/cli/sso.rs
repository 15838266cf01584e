//! `vault sso login|logout|accounts`: IAM Identity Center sign-in, sign-out and discovery
//! (DESIGN.md §5a). The tokens are sealed in the vault (`sso::token`), never written to
//! `~/.aws/sso/cache`.

use std::time::Duration;

use crate::aws::profile::Config;
use crate::error::Result;
use crate::settings::Settings;
use crate::sso::portal::{Portal, PortalError};
use crate::sso::token::{self, Login, Need};

mod cache;
mod populate;

use cache::{export_plaintext, import, plaintext_cache, CacheFile};
use populate::populate;

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
        /// ALSO write the token in PLAINTEXT to ~/.aws/sso/cache/<sha1>.json, as `aws sso
        /// login` does, for tools that read only that file (the SSM plugin, other SDK-based
        /// tools). Off by default: vault's sealed copy is all vault needs.
        #[arg(long)]
        write_plaintext_cache: bool,
    },
    /// Sign out: the portal's Logout, then drop the sealed token and its role sessions.
    Logout {
        #[command(flatten)]
        which: Which,
    },
    /// Append one profile per account and role of the sso-session to the AWS config
    /// (atomically, every other byte kept; a second run adds nothing).
    Populate {
        /// The sso-session.
        session: String,
        /// The `region` of each new profile [default: none: the SDK's default applies].
        #[arg(long, value_parser = super::args::parse_region, value_name = "R")]
        region: Option<String>,
        /// A prefix for the new profiles' names.
        #[arg(long, value_name = "P", default_value = "")]
        prefix: String,
    },
    /// Seal the token the AWS CLI / SDKs left in plaintext `~/.aws/sso/cache/<sha1>.json`.
    Import {
        #[command(flatten)]
        which: Which,
        /// Delete the plaintext file once the sealed copy reads back.
        #[arg(long)]
        remove_plaintext: bool,
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
    let populate_which;
    let which = match &args.command {
        Command::Login { which, .. }
        | Command::Logout { which }
        | Command::Import { which, .. }
        | Command::Accounts { which, .. } => which,
        Command::Populate { session, .. } => {
            populate_which = Which {
                session: Some(session.clone()),
                profile: None,
            };
            &populate_which
        }
    };
    let (session, profile) =
        crate::sso::find_session(&config, which.session.as_deref(), which.profile.as_deref())?;
    let vault = crate::vault::Vault::open(ctx)?;
    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    // What `accounts` and `populate` ask the portal with (a sign-in only at a terminal).
    let need = || Need {
        session: &session,
        profile: &profile,
        interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        browser: ctx.browser.as_deref(),
    };
    match args.command {
        Command::Login {
            no_browser,
            use_device_code,
            timeout,
            write_plaintext_cache,
            ..
        } => {
            let how = Login {
                no_browser,
                device_code: use_device_code,
                timeout: timeout.unwrap_or(Login::default().timeout),
                browser: ctx.browser.clone(),
            };
            rt.block_on(token::login(&unlocked, &session, &profile, &how))?;
            if write_plaintext_cache {
                export_plaintext(&unlocked, &session)?;
            }
            Ok(())
        }
        Command::Logout { .. } => {
            let ours = token::read(&unlocked, &session)?;
            if let Some(t) = &ours {
                let oidc = rt.block_on(crate::sso::oidc::Oidc::new(&session, &profile));
                match rt.block_on(Portal::new(oidc.sdk_config()).logout(&t.access_token)) {
                    Ok(()) | Err(PortalError::Unauthorized) => {}
                    // Signing out locally still happens; say the remote part failed.
                    Err(PortalError::Other(e)) => {
                        eprintln!("vault: warning: {}", crate::sanitize_message(&e.report()))
                    }
                }
            }
            let dropped = token::forget(&unlocked, &session)?;
            // A plaintext copy written on request (--write-plaintext-cache) goes too: its
            // token was just revoked. Only vault's own copy: a file holding another token
            // (the AWS CLI's own sign-in) is left alone.
            if let (Some(t), Ok(path)) = (&ours, plaintext_cache(&session)) {
                let same = std::fs::read(&path)
                    .ok()
                    .map(zeroize::Zeroizing::new)
                    .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
                    .is_some_and(|f| f.access_token.expose() == t.access_token.expose());
                if same && std::fs::remove_file(&path).is_ok() {
                    eprintln!("vault: removed the plaintext token {}", path.display());
                }
            }
            eprintln!(
                "vault: signed out of the sso-session {} ({dropped} role session{} dropped)",
                crate::sanitize(&session.name),
                if dropped == 1 { "" } else { "s" }
            );
            Ok(())
        }
        Command::Populate { region, prefix, .. } => {
            let accounts = rt.block_on(token::accounts(&unlocked, need()))?;
            populate(
                &config,
                &session.name,
                &accounts,
                region.as_deref(),
                &prefix,
            )
        }
        Command::Import {
            remove_plaintext, ..
        } => import(&unlocked, &session, remove_plaintext),
        Command::Accounts { json, .. } => {
            let accounts = rt.block_on(token::accounts(&unlocked, need()))?;
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
