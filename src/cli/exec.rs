//! `vault exec PROFILE [-- CMD ARGS...]`: run a program with fresh credentials.

use std::ffi::OsString;

use crate::aws::{self, profile::Config, Request};
use crate::error::Result;
use crate::exec;
use crate::vault::item::Secret;

use super::{check_profile, Ctx};

/// How a profile's credentials are made: the flags `exec` and `export` share.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// Lifetime of the final session or role (e.g. 900, 15m, 1h) [default: 1h].
    #[arg(long, short, value_parser = parse_duration, value_name = "D")]
    pub duration: Option<std::time::Duration>,
    /// Use the stored long-term key directly instead of a GetSessionToken session.
    #[arg(long)]
    pub no_session: bool,
    /// The current MFA code (else the profile's mfa_process, else a prompt on the terminal).
    #[arg(long, value_name = "CODE")]
    pub mfa_token: Option<String>,
    /// The region for STS and for the credentials' user (AWS_REGION, AWS_DEFAULT_REGION)
    /// [default: the profile's region, else its source's].
    #[arg(long, value_parser = parse_region, value_name = "REGION")]
    pub region: Option<String>,
}

/// A region name as AWS spells them (`eu-west-1`, `us-gov-east-1`, `cn-north-1`).
fn parse_region(s: &str) -> std::result::Result<String, String> {
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

impl SessionArgs {
    /// What to ask the resolver for; `env_region` is the environment's region.
    pub fn request(&self, env_region: Option<String>) -> Request {
        Request {
            duration: self.duration,
            no_session: self.no_session,
            region: self.region.clone(),
            env_region,
        }
    }
}

/// Arguments of `vault exec`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile.
    pub profile: String,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Stay the parent of the command: forward signals to it and return its exit status
    /// (by default vault replaces itself with the command).
    #[arg(long)]
    pub fork: bool,
    /// Serve credentials to the command over an ECS container-credentials endpoint on
    /// 127.0.0.1 (random port, random bearer token) instead of static variables, so its SDK
    /// refreshes them as they expire. Implies --fork.
    #[arg(long)]
    pub server: bool,
    /// With --server: fetch the first credentials when the command first asks, not before
    /// starting it.
    #[arg(long, requires = "server")]
    pub lazy: bool,
    /// The command and its arguments [default: $SHELL].
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Parses `900`, `900s`, `15m`, `1h`, `1h30m`.
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    let bad = || format!("{s:?} is not a duration like 900, 15m or 1h");
    if let Ok(n) = s.parse::<u64>() {
        return (n > 0)
            .then(|| std::time::Duration::from_secs(n))
            .ok_or_else(bad);
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(total))
}

/// Runs `vault exec`; returns the child's exit status when vault stays its parent.
pub fn run(ctx: &Ctx, mut args: Args) -> Result<u8> {
    check_profile(&args.profile)?;
    let parent: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    exec::check_not_nested(&parent)?;
    let argv = if args.command.is_empty() {
        vec![std::env::var_os("SHELL").unwrap_or_else(|| "/bin/sh".into())]
    } else {
        args.command.clone()
    };
    let rt = super::runtime()?;
    let vault = ctx.vault()?;
    let unlocked = ctx.unlock(&vault)?;
    let mut mfa_token = args.session.mfa_token.take().map(Secret::new);
    let config = rt.block_on(Config::load())?;
    let plan = aws::plan(
        &unlocked,
        &config,
        &args.profile,
        args.session.request(ctx.aws_region.clone()),
    )?;
    if !args.server {
        let resolved = rt.block_on(aws::resolve(&unlocked, &plan, mfa_token))?;
        let env = exec::child_env(parent, &args.profile, exec::Inject::Static(&resolved));
        drop(resolved);
        return if args.fork {
            rt.block_on(exec::run_forwarding(&argv, &env, std::future::pending()))
        } else {
            Err(exec::replace(&argv, &env))
        };
    }
    // --server: refresh later needs an MFA source that works without a terminal.
    if !args.lazy {
        rt.block_on(aws::resolve(&unlocked, &plan, mfa_token.take()))?;
    }
    let region = plan.region.child.clone();
    rt.block_on(async {
        let endpoint = crate::ecs::Endpoint::bind().await?;
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
        let serve = endpoint.serve(|| {
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
            tokio::join!(serve, keepalive);
        };
        exec::run_forwarding(&argv, &env, alongside).await
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("900").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        for bad in ["", "1x", "h", "10m5", "0"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
