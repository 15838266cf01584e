//! `vault exec PROFILE [-- CMD ARGS...]`: run a program with fresh credentials.

use std::ffi::OsString;

use crate::aws::{self, profile::Config};
use crate::error::{Error, Msg, Result};
use crate::exec;
use crate::secret::Secret;

use crate::settings::Settings;

/// Arguments of `vault exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile.
    #[arg(value_parser = super::args::profile_name)]
    pub profile: String,
    #[command(flatten)]
    pub session: super::args::SessionArgs,
    /// Stay the parent of the command: forward signals to it and return its exit status
    /// (by default vault replaces itself with the command).
    #[arg(long)]
    pub fork: bool,
    /// Serve credentials to the command over an ECS container-credentials endpoint on
    /// 127.0.0.1 (random port, random bearer token) instead of static variables, so its SDK
    /// refreshes them as they expire. Implies --fork.
    #[arg(long, short)]
    pub server: bool,
    /// Print the credentials as credential_process JSON instead of running a command (as
    /// aws-vault's `exec --json`; the same as `vault export --format credential-process`).
    #[arg(long, short, conflicts_with_all = ["server", "fork", "command"])]
    pub json: bool,
    /// With --server: fetch the first credentials when the command first asks, not before
    /// starting it.
    #[arg(long, requires = "server")]
    pub lazy: bool,
    /// The command and its arguments [default: $SHELL]: everything after the profile (and
    /// vault's own flags), with or without a `--` before it.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<OsString>,
}

/// Runs `vault exec`; returns the child's exit status when vault stays its parent.
pub fn run(ctx: &Settings, mut args: Args) -> Result<u8> {
    let parent: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    exec::check_not_nested(&parent)?;
    let argv = exec::command_or_shell(args.command.clone(), std::env::var_os("SHELL"));
    let vault = crate::vault::Vault::open(ctx)?;
    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    let mut mfa_token = args.session.mfa_token.take().map(Secret::new);
    // No async runtime until something needs the network (or --fork / --server).
    let config = super::now(Config::load())??;
    let mut request = args.session.request(ctx);
    // The endpoint renews a lead before the margin, while it still serves the old session.
    request.refresh_ahead = args.server;
    let plan = aws::plan(&unlocked, &config, &args.profile, request)?;
    if args.server && plan.long_term_key_only() {
        return Err(Error::Usage(Msg::hinted(
            format!(
                "--server --no-session would serve {}'s long-term key without a session token, which every SDK's container provider rejects",
                crate::sanitize(&args.profile),
            ),
            "drop --no-session (the endpoint serves a session), or drop --server",
        )));
    }
    let resolve = |mfa_token| -> Result<aws::Resolved> {
        match aws::resolve_warm(&unlocked, &plan)? {
            Some(warm) => Ok(warm),
            None => super::runtime()?.block_on(aws::resolve(&unlocked, &plan, mfa_token)),
        }
    };
    if args.json {
        let resolved = resolve(mfa_token)?;
        let text = super::export::render(
            &resolved.creds,
            super::export::Format::CredentialProcess,
            &args.profile,
            None,
        );
        return super::print(format_args!("{}", text.as_str())).map(|()| 0);
    }
    if !args.server {
        let resolved = resolve(mfa_token)?;
        let env = exec::child_env(parent, &args.profile, exec::Inject::Static(&resolved));
        drop(resolved);
        return if args.fork {
            super::runtime()?.block_on(exec::run_forwarding(&argv, &env, std::future::pending()))
        } else {
            Err(exec::replace(&argv, &env))
        };
    }
    // --server: refresh later needs an MFA source that works without a terminal.
    let rt = super::runtime()?;
    let first = if args.lazy {
        None
    } else {
        Some(
            rt.block_on(aws::resolve(&unlocked, &plan, mfa_token.take()))?
                .creds,
        )
    };
    let region = plan.region.child.clone();
    rt.block_on(async {
        let endpoint = crate::exec::ecs::Endpoint::bind().await?;
        let url = endpoint.url();
        let env = exec::child_env(
            parent,
            &args.profile,
            exec::Inject::Endpoint {
                region: region.as_deref(),
                url: &url,
                token: endpoint.token(),
            },
        );
        tracing::info!("serving credentials for {} at {url}", args.profile);
        // One task renews the credentials ahead of their margin; requests read its memory.
        let (refresher, creds) = crate::exec::ecs::refresh::channel(first);
        let serve = endpoint.serve(creds);
        let refresh = refresher.run(|| {
            let token = mfa_token.take();
            let plan = &plan;
            let unlocked = &unlocked;
            async move { aws::resolve(unlocked, plan, token).await.map(|r| r.creds) }
        });
        // The child is using the credentials for as long as it runs: keep the agent from
        // idle-locking under it, or its next refresh would fail.
        let keepalive_every = (ctx.agent_idle / 3).clamp(
            std::time::Duration::from_millis(500),
            std::time::Duration::from_secs(30),
        );
        let keepalive = async {
            loop {
                tokio::time::sleep(keepalive_every).await;
                if let Err(e) = unlocked.keepalive() {
                    tracing::warn!("keeping the agent unlocked: {e}");
                }
            }
        };
        let alongside = async {
            tokio::join!(serve, refresh, keepalive);
        };
        exec::run_forwarding(&argv, &env, alongside).await
    })
}
