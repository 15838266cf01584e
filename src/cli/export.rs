//! `vault export PROFILE --format env|fish|powershell|json|credential-process|ini`.

use time::format_description::well_known::Rfc3339;

use crate::aws::{self, profile::Config};
use crate::creds::{shapes, Credentials};
use crate::error::Result;
use crate::secret::Secret;

use crate::settings::Settings;

/// Output formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// `export AWS_...=...` lines for a POSIX shell (with the region, as aws-vault's).
    Env,
    /// `set -gx AWS_... '...'` lines for fish.
    Fish,
    /// `$Env:AWS_... = '...'` lines for PowerShell.
    Powershell,
    /// A JSON object with AWS_* names.
    Json,
    /// The `credential_process` JSON (`Version: 1`), for `~/.aws/config`.
    CredentialProcess,
    /// A `~/.aws/credentials` section.
    Ini,
}

/// Arguments of `vault export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile.
    #[arg(value_parser = super::args::profile_name)]
    pub profile: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "env")]
    pub format: Format,
    #[command(flatten)]
    pub session: super::args::SessionArgs,
}

/// Runs `vault export`.
pub fn run(ctx: &Settings, mut args: Args) -> Result<()> {
    let vault = crate::vault::Vault::open(ctx)?;
    let unlocked = crate::unlock::unlock(ctx, &vault)?;
    let rt = super::runtime()?;
    let mfa_token = args.session.mfa_token.take().map(Secret::new);
    let resolved = rt.block_on(async {
        let config = Config::load().await?;
        let request = args.session.request(ctx);
        let plan = aws::plan(&unlocked, &config, &args.profile, request)?;
        aws::resolve(&unlocked, &plan, mfa_token).await
    })?;
    let text = render(
        &resolved.creds,
        args.format,
        &args.profile,
        resolved.region.as_deref(),
    );
    super::print(format_args!("{}", text.as_str()))
}

/// Renders credentials in `format`; the shell formats also set `region` (AWS_REGION and
/// AWS_DEFAULT_REGION) when the profile chain names one. The result holds secrets: write it
/// and drop it.
pub fn render(
    c: &Credentials,
    format: Format,
    profile: &str,
    region: Option<&str>,
) -> zeroize::Zeroizing<String> {
    let exp = c.expiration.and_then(|e| e.format(&Rfc3339).ok());
    let s = match format {
        Format::Env | Format::Fish | Format::Powershell => {
            // Every value single-quoted for its shell: the shell that evals this sees data,
            // never code. Reserved up front (values are at most 16 KiB) so no copy of a
            // secret is left behind by a reallocation.
            let mut s = String::with_capacity(64 * 1024);
            let mut line = |k: &str, v: &str| {
                let (head, mid, tail) = match format {
                    Format::Env => ("export ", "='", "'\n"),
                    Format::Fish => ("set -gx ", " '", "';\n"),
                    _ => ("$Env:", " = '", "'\n"),
                };
                s.push_str(head);
                s.push_str(k);
                s.push_str(mid);
                for ch in v.chars() {
                    match (format, ch) {
                        (Format::Env, '\'') => s.push_str(r"'\''"),
                        (Format::Fish, '\'' | '\\') => {
                            s.push('\\');
                            s.push(ch);
                        }
                        (Format::Powershell, '\'' | '\u{2018}'..='\u{201b}') => {
                            s.push(ch);
                            s.push(ch);
                        }
                        (_, ch) => s.push(ch),
                    }
                }
                s.push_str(tail);
            };
            line("AWS_ACCESS_KEY_ID", &c.access_key_id);
            line("AWS_SECRET_ACCESS_KEY", c.secret_access_key.expose());
            if let Some(t) = &c.session_token {
                line("AWS_SESSION_TOKEN", t.expose());
            }
            if let Some(e) = &exp {
                line("AWS_CREDENTIAL_EXPIRATION", e);
            }
            if let Some(r) = region {
                line("AWS_REGION", r);
                line("AWS_DEFAULT_REGION", r);
            }
            s
        }
        Format::Json | Format::CredentialProcess => {
            let mut json = match format {
                Format::Json => shapes::json(&shapes::Env::of(c)),
                _ => shapes::json(&shapes::Process::of(c)),
            };
            json.push('\n');
            return json;
        }
        Format::Ini => {
            let mut s = format!(
                "[{profile}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                c.access_key_id,
                c.secret_access_key.expose()
            );
            if let Some(t) = &c.session_token {
                s += &format!("aws_session_token = {}\n", t.expose());
            }
            s
        }
    };
    zeroize::Zeroizing::new(s)
}
