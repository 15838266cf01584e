//! The one sealed token item per sso-session (`sso.<name>`), and the single flight that
//! refreshes it: every process reads the item without a lock while its access token is fresh
//! (the sessions' early-refresh rule); one that finds it stale takes the item's lock (waiting
//! a bounded time), reads it again (another process may have refreshed it meanwhile), and
//! only then calls CreateToken with the refresh token, or starts one sign-in. N parallel
//! `exec`s after expiry make one CreateToken between them.
//!
//! A refresh that fails starts a sign-in when there is a terminal; without one it fails at
//! once with exit 79 and the command to run, so a `credential_process` never waits on a
//! browser nobody sees.

use std::time::Duration;

use time::OffsetDateTime;

use super::oidc::{Oidc, Registration, TokenError, AUTH_CODE, DEVICE_CODE};
use super::portal::{Portal, PortalError};
use super::Session;
use crate::error::{Error, Msg, Result};
use crate::secret::Secret;
use crate::vault::item::{Item, Session as RoleSession, SsoToken};
use crate::vault::Unlocked;

/// How a sign-in runs.
#[derive(Debug, Clone)]
pub struct Login {
    /// Print the URL instead of opening a browser.
    pub no_browser: bool,
    /// The device authorization grant instead of the authorization code.
    pub device_code: bool,
    /// How long to wait for the browser (or the device approval is bounded by its expiry).
    pub timeout: Duration,
    /// `BROWSER`: the program that opens the URL.
    pub browser: Option<std::ffi::OsString>,
}

impl Default for Login {
    fn default() -> Self {
        Login {
            no_browser: false,
            device_code: false,
            timeout: Duration::from_secs(300),
            browser: None,
        }
    }
}

/// Where a token is needed: the vault, the sso-session, the profile whose endpoint settings
/// apply, and whether a sign-in may be started (a terminal is there).
#[derive(Debug, Clone, Copy)]
pub struct Need<'a> {
    /// The sso-session.
    pub session: &'a Session,
    /// The profile whose `[services]` / endpoint settings the clients use.
    pub profile: &'a str,
    /// Whether a sign-in may be started.
    pub interactive: bool,
    /// `BROWSER`, for that sign-in.
    pub browser: Option<&'a std::ffi::OsStr>,
}

/// The early-refresh rule of sessions, for access tokens.
fn fresh(t: &SsoToken, now: OffsetDateTime) -> bool {
    let s = RoleSession {
        access_key_id: String::new(),
        secret_access_key: Secret::new(""),
        session_token: Secret::new(""),
        expiration: t.expires_at,
        issued: t.issued,
        serves: String::new(),
        made_by: String::new(),
    };
    crate::aws::cache::fresh(&s, now).is_some()
}

/// The sealed token of `session`, if there is one for its start URL.
pub fn read(vault: &Unlocked<'_>, session: &Session) -> Result<Option<SsoToken>> {
    match vault.get(&session.item_name()) {
        Ok(Some(Item {
            sso_token: Some(t), ..
        })) if t.start_url == session.start_url => Ok(Some(t)),
        Ok(_) => Ok(None),
        Err(Error::Tampered { item, detail }) => {
            tracing::warn!("the sealed token {item} is unreadable ({detail}); signing in again");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// How long a process waits for another one's refresh or sign-in.
const LOCK_WAIT: Duration = Duration::from_secs(330);

/// Takes the token item's lock, waiting at most [`LOCK_WAIT`] (and saying so).
fn lock(vault: &Unlocked<'_>, session: &Session) -> Result<vault_backends::LockGuard> {
    let name = session.item_name();
    let start = std::time::Instant::now();
    let mut said = false;
    loop {
        if let Some(guard) = vault.vault().backend().try_lock(&name)? {
            return Ok(guard);
        }
        if !said && start.elapsed() > Duration::from_secs(1) {
            eprintln!(
                "vault: waiting for another vault process refreshing or signing in to the sso-session {}",
                crate::sanitize(&session.name)
            );
            said = true;
        }
        if start.elapsed() > LOCK_WAIT {
            return Err(Error::SsoLogin(Msg::hinted(
                format!(
                    "another vault process has been signing in to the sso-session {} for {} s",
                    crate::sanitize(&session.name),
                    LOCK_WAIT.as_secs()
                ),
                format!("finish that sign-in, or run `{}`", session.login_hint(None)),
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A fresh access token for `need.session`: the sealed one, else refreshed, else (at a
/// terminal) a sign-in. `bad` is an access token the portal just refused: it is refreshed
/// even if it looks fresh, unless another process has replaced it already.
pub async fn access_token(
    vault: &Unlocked<'_>,
    need: Need<'_>,
    bad: Option<&Secret>,
) -> Result<SsoToken> {
    let now = OffsetDateTime::now_utc();
    let usable = |t: &SsoToken| fresh(t, now) && bad.is_none_or(|b| *b != t.access_token);
    if let Some(t) = read(vault, need.session)? {
        if usable(&t) {
            tracing::info!(
                "using the sealed token of the sso-session {}: {} min left",
                need.session.name,
                (t.expires_at - now).whole_minutes()
            );
            return Ok(t);
        }
    }
    let _guard = lock(vault, need.session)?;
    // Another process may have refreshed it while this one waited.
    let old = read(vault, need.session)?;
    if let Some(t) = &old {
        if usable(t) {
            tracing::info!(
                "another process refreshed the sso-session {}",
                need.session.name
            );
            return Ok(t.clone());
        }
    }
    let oidc = Oidc::new(need.session, need.profile).await;
    if let Some(old) = &old {
        tracing::info!(
            "the token of the sso-session {} {}; refreshing it",
            need.session.name,
            if bad.is_some() {
                "was refused"
            } else {
                "expires soon"
            }
        );
        match oidc.refresh(need.session, old).await {
            Ok(t) => {
                vault.put(&need.session.item_name(), &Item::sso_token(t.clone()))?;
                return Ok(t);
            }
            Err(TokenError::Invalid(why)) => {
                tracing::info!("the refresh was refused ({why})");
            }
            Err(TokenError::Other(e)) => return Err(e),
        }
    }
    // Refresh impossible: the sealed token is useless now.
    vault.vault().remove(&need.session.item_name())?;
    if !need.interactive {
        return Err(needs_login(need.session, need.profile, old.is_some()));
    }
    eprintln!(
        "vault: the sso-session {} needs a sign-in",
        crate::sanitize(&need.session.name)
    );
    let how = Login {
        browser: need.browser.map(Into::into),
        ..Login::default()
    };
    login_locked(vault, &oidc, need.session, old.as_ref(), &how).await
}

/// The exit-79 error of a sign-in nobody can see.
fn needs_login(session: &Session, profile: &str, expired: bool) -> Error {
    Error::SsoLogin(Msg::hinted(
        format!(
            "the IAM Identity Center sso-session {} {} and there is no terminal to sign in on",
            crate::sanitize(&session.name),
            if expired {
                "has expired and cannot be refreshed"
            } else {
                "is not signed in"
            }
        ),
        session.login_hint(Some(profile)).to_string(),
    ))
}

/// `vault sso login`: always a fresh sign-in (as `aws sso login`), under the item's lock so
/// that parallel commands wait for it and reuse it. The client registration is reused.
pub async fn login(
    vault: &Unlocked<'_>,
    session: &Session,
    profile: &str,
    how: &Login,
) -> Result<SsoToken> {
    let _guard = lock(vault, session)?;
    let old = read(vault, session)?;
    let oidc = Oidc::new(session, profile).await;
    login_locked(vault, &oidc, session, old.as_ref(), how).await
}

async fn login_locked(
    vault: &Unlocked<'_>,
    oidc: &Oidc,
    session: &Session,
    old: Option<&SsoToken>,
    how: &Login,
) -> Result<SsoToken> {
    let grant = if how.device_code {
        DEVICE_CODE
    } else {
        AUTH_CODE
    };
    let reg = match old
        .filter(|t| t.client_grant == grant)
        .and_then(|t| Registration::reusable(t, OffsetDateTime::now_utc()))
    {
        Some(reg) => {
            tracing::info!("reusing the registered OIDC client");
            reg
        }
        None => {
            tracing::info!("registering an OIDC client");
            oidc.register(session, grant).await?
        }
    };
    let mut token = if how.device_code {
        let device = oidc.start_device(session, &reg).await?;
        eprintln!(
            "vault: to sign in to {}, open\n\n    {}\n\nand confirm the code {}",
            crate::sanitize(&session.start_url),
            crate::sanitize(&device.verification_uri_complete),
            crate::sanitize(&device.user_code)
        );
        if !how.no_browser {
            open(how.browser.as_deref(), &device.verification_uri_complete);
        }
        oidc.poll_device(session, &reg, &device).await?
    } else {
        let callback = super::callback::Callback::bind().await?;
        let redirect = callback.redirect_uri();
        let verifier = super::oidc::random_token();
        let state = super::oidc::random_token();
        let url = format!(
            "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state={}&code_challenge_method=S256&scopes={}&code_challenge={}",
            oidc.base_url().await?,
            super::oidc::encode(&reg.client_id),
            super::oidc::encode(&redirect),
            super::oidc::encode(state.expose()),
            super::oidc::encode(&session.scopes.join(" ")),
            super::oidc::challenge(&verifier),
        );
        if how.no_browser {
            eprintln!(
                "vault: to sign in to {}, open this URL in a browser on this machine:\n\n    {url}\n",
                crate::sanitize(&session.start_url)
            );
        } else {
            eprintln!(
                "vault: signing in to {} in your browser (--no-browser prints the URL instead)",
                crate::sanitize(&session.start_url)
            );
            let child = crate::browser::open(how.browser.as_deref(), &url, "--no-browser")?;
            std::thread::spawn(move || {
                let mut child = child;
                child.wait()
            });
        }
        let code = callback.code(&state, how.timeout).await?;
        oidc.redeem_code(session, &reg, &code, &verifier, &redirect)
            .await?
    };
    token.client_grant = grant.to_owned();
    vault.put(&session.item_name(), &Item::sso_token(token.clone()))?;
    eprintln!(
        "vault: signed in to the sso-session {} (token sealed; {} min left)",
        crate::sanitize(&session.name),
        (token.expires_at - OffsetDateTime::now_utc()).whole_minutes()
    );
    Ok(token)
}

/// Opens `url` for the device flow; a failure is only a warning (the URL is printed).
fn open(browser: Option<&std::ffi::OsStr>, url: &str) {
    match crate::browser::open(browser, url, "--no-browser") {
        Ok(child) => {
            std::thread::spawn(move || {
                let mut child = child;
                child.wait()
            });
        }
        Err(e) => tracing::warn!("{}", crate::sanitize_message(&e.to_string())),
    }
}

/// GetRoleCredentials for an SSO profile, sealed by the caller as a session: a refused (401)
/// token is refreshed once; refused again, it is dropped and a sign-in is needed.
pub async fn role_credentials(
    vault: &Unlocked<'_>,
    need: Need<'_>,
    account_id: &str,
    role_name: &str,
    serves: String,
) -> Result<RoleSession> {
    let mut token = access_token(vault, need, None).await?;
    let mut retried = false;
    loop {
        let oidc = Oidc::new(need.session, need.profile).await;
        let portal = Portal::new(oidc.sdk_config());
        tracing::info!(
            "calling GetRoleCredentials for {account_id}/{role_name} ({})",
            need.profile
        );
        match portal
            .role_credentials(&token.access_token, account_id, role_name, serves.clone())
            .await
        {
            Ok(s) => return Ok(s),
            Err(PortalError::Other(e)) => return Err(e),
            Err(PortalError::Unauthorized) if !retried => {
                tracing::info!("the portal refused the access token; refreshing it");
                retried = true;
                token = access_token(vault, need, Some(&token.access_token)).await?;
            }
            Err(PortalError::Unauthorized) => {
                drop_token(vault, need.session, &token.access_token)?;
                if need.interactive {
                    let how = Login {
                        browser: need.browser.map(Into::into),
                        ..Login::default()
                    };
                    let t = login(vault, need.session, need.profile, &how).await?;
                    let oidc = Oidc::new(need.session, need.profile).await;
                    return Portal::new(oidc.sdk_config())
                        .role_credentials(&t.access_token, account_id, role_name, serves)
                        .await
                        .map_err(|e| match e {
                            PortalError::Other(e) => e,
                            PortalError::Unauthorized => Error::StsRefused(Msg::hinted(
                                format!(
                                    "IAM Identity Center refused a fresh token for {}/{}",
                                    crate::sanitize(account_id),
                                    crate::sanitize(role_name)
                                ),
                                format!(
                                    "check the account id and role name of profile {}",
                                    crate::sanitize(need.profile)
                                ),
                            )),
                        });
                }
                return Err(needs_login(need.session, need.profile, true));
            }
        }
    }
}

/// Drops the sealed token if it still holds `access` (under its lock).
fn drop_token(vault: &Unlocked<'_>, session: &Session, access: &Secret) -> Result<()> {
    let _guard = lock(vault, session)?;
    if read(vault, session)?.is_some_and(|t| t.access_token == *access) {
        vault.vault().remove(&session.item_name())?;
        tracing::info!(
            "dropped the refused token of the sso-session {}",
            session.name
        );
    }
    Ok(())
}

/// Drops the sealed token of `session` and every role session made from it (directly or by
/// a role chained from it); returns how many sessions went. Locks one item at a time (the
/// token, then each session), never the token across the sessions, so a concurrent
/// `exec` (which holds a session's lock while it needs the token's) cannot deadlock with it.
pub fn forget(vault: &Unlocked<'_>, session: &Session) -> Result<usize> {
    {
        let _guard = lock(vault, session)?;
        vault.vault().remove(&session.item_name())?;
    }
    let doomed = crate::aws::cache::sessions_made_from(vault, &format!("sso:{}", session.name))?;
    vault
        .vault()
        .drop_sessions(crate::vault::Busy::Wait, doomed, |_| Ok(true))
}

/// ListAccounts + ListAccountRoles with the session's token (refreshed once on a 401).
pub async fn accounts(vault: &Unlocked<'_>, need: Need<'_>) -> Result<Vec<super::portal::Account>> {
    let mut token = access_token(vault, need, None).await?;
    let oidc = Oidc::new(need.session, need.profile).await;
    let portal = Portal::new(oidc.sdk_config());
    for retried in [false, true] {
        match portal.accounts(&token.access_token).await {
            Ok(a) => return Ok(a),
            Err(PortalError::Other(e)) => return Err(e),
            Err(PortalError::Unauthorized) if !retried => {
                token = access_token(vault, need, Some(&token.access_token)).await?;
            }
            Err(PortalError::Unauthorized) => {
                drop_token(vault, need.session, &token.access_token)?;
            }
        }
    }
    Err(needs_login(need.session, need.profile, true))
}
