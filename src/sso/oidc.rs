//! The IAM Identity Center OIDC service through `aws-sdk-ssooidc`: client registration, the
//! authorization-code grant with PKCE (the browser comes back to `callback.rs`), the device
//! authorization grant (RFC 8628) and the `refresh_token` grant.
//!
//! The client is built on the STS client's SDK configuration (`aws::sts::Sts::new`): the same
//! rustls http client, timeouts and the SDK's endpoint resolution (`AWS_ENDPOINT_URL_SSO_OIDC`,
//! `AWS_ENDPOINT_URL`, `[services]`), in the sso-session's region.

use std::time::Duration;

use aws_sdk_ssooidc::config::endpoint::{Params, ResolveEndpoint};
use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::Session;
use crate::error::{Error, Msg, Result};
use crate::secret::Secret;
use crate::vault::item::SsoToken;

/// The client name vault registers under (shown in the portal's approval page).
const CLIENT_NAME: &str = "vault";
/// A registration is renewed when it expires sooner than this.
const REGISTRATION_MARGIN: time::Duration = time::Duration::hours(1);
/// The grant types of the two flows.
pub const AUTH_CODE: &str = "authorization_code";
/// RFC 8628's grant type.
pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
const REFRESH: &str = "refresh_token";

/// The OIDC client for one sso-session.
#[derive(Debug)]
pub struct Oidc {
    client: aws_sdk_ssooidc::Client,
    sdk: aws_config::SdkConfig,
    region: String,
}

/// A registered public client.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// When it expires.
    pub expires_at: OffsetDateTime,
}

impl Registration {
    /// The registration kept in a token item, if it is still good for a while.
    pub fn reusable(token: &SsoToken, now: OffsetDateTime) -> Option<Registration> {
        (token.client_secret_expires_at > now + REGISTRATION_MARGIN).then(|| Registration {
            client_id: token.client_id.clone(),
            client_secret: token.client_secret.clone(),
            expires_at: token.client_secret_expires_at,
        })
    }
}

/// Why a token call failed: whether a sign-in can fix it.
#[derive(Debug)]
pub enum TokenError {
    /// The grant or the client is no longer valid (expired, revoked): sign in again.
    Invalid(String),
    /// Anything else (network, the service).
    Other(Error),
}

impl From<Error> for TokenError {
    fn from(e: Error) -> Self {
        TokenError::Other(e)
    }
}

/// What the device authorization started.
#[derive(Debug)]
pub struct DeviceAuthorization {
    /// The code polled with.
    pub device_code: Secret,
    /// What the user confirms.
    pub user_code: String,
    /// The page to approve on, with the code filled in.
    pub verification_uri_complete: String,
    /// Seconds between polls.
    pub interval: u64,
    /// Seconds until the device code expires.
    pub expires_in: u64,
}

impl Oidc {
    /// The client for `session`, with `profile`'s endpoint settings.
    pub async fn new(session: &Session, profile: &str) -> Oidc {
        let sdk = crate::aws::sts::Sts::new(profile, &session.region)
            .await
            .sdk_config()
            .clone();
        Oidc {
            client: aws_sdk_ssooidc::Client::new(&sdk),
            sdk,
            region: session.region.clone(),
        }
    }

    /// The SDK configuration, for the portal client.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// The OIDC service's base URL (where `/authorize` is), by the SDK's own resolution.
    pub async fn base_url(&self) -> Result<String> {
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id("SSO OIDC")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("all fields set");
        let endpoint = self
            .sdk
            .service_config()
            .and_then(|c| c.load_config(key))
            .or_else(|| self.sdk.endpoint_url().map(str::to_owned));
        let mut params = Params::builder().region(self.region.clone());
        if let Some(e) = endpoint {
            params = params.endpoint(e);
        }
        let params = params
            .build()
            .map_err(|e| Error::Config(format!("the OIDC endpoint: {e}").into()))?;
        let resolved = aws_sdk_ssooidc::config::endpoint::DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_err(|e| {
                Error::Config(Msg::hinted(
                    format!(
                        "resolving the IAM Identity Center OIDC endpoint for {}: {e}",
                        crate::sanitize(&self.region)
                    ),
                    "check sso_region and AWS_ENDPOINT_URL_SSO_OIDC",
                ))
            })?;
        Ok(resolved.url().trim_end_matches('/').to_owned())
    }

    /// RegisterClient: a public client for `grant` (authorization code, with loopback
    /// redirects; or the device code).
    pub async fn register(&self, session: &Session, grant: &str) -> Result<Registration> {
        let mut req = self
            .client
            .register_client()
            .client_name(CLIENT_NAME)
            .client_type("public")
            .set_scopes(Some(session.scopes.clone()));
        if grant == AUTH_CODE {
            req = req
                .grant_types(AUTH_CODE)
                .grant_types(REFRESH)
                .redirect_uris("http://127.0.0.1/oauth/callback")
                .issuer_url(&session.start_url);
        }
        let out = req
            .send()
            .await
            .map_err(|e| oidc_error("RegisterClient", e))?;
        let (Some(id), Some(secret)) = (out.client_id(), out.client_secret()) else {
            return Err(Error::StsRefused(Msg::hinted(
                "IAM Identity Center RegisterClient returned no client",
                "check AWS_ENDPOINT_URL_SSO_OIDC / sso_region",
            )));
        };
        Ok(Registration {
            client_id: id.to_owned(),
            client_secret: Secret::new(secret),
            expires_at: epoch(out.client_secret_expires_at()),
        })
    }

    /// StartDeviceAuthorization.
    pub async fn start_device(
        &self,
        session: &Session,
        reg: &Registration,
    ) -> Result<DeviceAuthorization> {
        let out = self
            .client
            .start_device_authorization()
            .client_id(&reg.client_id)
            .client_secret(reg.client_secret.expose())
            .start_url(&session.start_url)
            .send()
            .await
            .map_err(|e| oidc_error("StartDeviceAuthorization", e))?;
        let device_code = out.device_code().ok_or_else(|| {
            Error::StsRefused("StartDeviceAuthorization returned no device code".into())
        })?;
        Ok(DeviceAuthorization {
            device_code: Secret::new(device_code),
            user_code: out.user_code().unwrap_or_default().to_owned(),
            verification_uri_complete: out
                .verification_uri_complete()
                .or(out.verification_uri())
                .unwrap_or_default()
                .to_owned(),
            interval: u64::try_from(out.interval()).unwrap_or(1).max(1),
            expires_in: u64::try_from(out.expires_in()).unwrap_or(600).max(1),
        })
    }

    /// Polls CreateToken for a device code (RFC 8628): every `interval` seconds, 5 more after
    /// each `slow_down`, until approved or the code expires.
    pub async fn poll_device(
        &self,
        session: &Session,
        reg: &Registration,
        device: &DeviceAuthorization,
    ) -> Result<SsoToken> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(device.expires_in);
        let mut interval = device.interval;
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            let sent = self
                .client
                .create_token()
                .client_id(&reg.client_id)
                .client_secret(reg.client_secret.expose())
                .grant_type(DEVICE_CODE)
                .device_code(device.device_code.expose())
                .send()
                .await;
            match sent {
                Ok(out) => return token(session, reg, &out, None),
                Err(e) => match e.code() {
                    Some("AuthorizationPendingException") => {
                        tracing::debug!("device authorization pending");
                    }
                    Some("SlowDownException") => {
                        interval += 5;
                        tracing::info!(
                            "the service asked to slow down: polling every {interval} s"
                        );
                    }
                    Some("ExpiredTokenException") => break,
                    _ => return Err(oidc_error("CreateToken", e)),
                },
            }
        }
        Err(Error::SsoLogin(Msg::hinted(
            format!(
                "the device code for the sso-session {} expired before it was approved",
                crate::sanitize(&session.name)
            ),
            format!(
                "run `{}` again and approve the code in time",
                session.login_hint(None)
            ),
        )))
    }

    /// CreateToken with an authorization code and its PKCE verifier.
    pub async fn redeem_code(
        &self,
        session: &Session,
        reg: &Registration,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<SsoToken> {
        let out = self
            .client
            .create_token()
            .client_id(&reg.client_id)
            .client_secret(reg.client_secret.expose())
            .grant_type(AUTH_CODE)
            .code(code.expose())
            .code_verifier(verifier.expose())
            .redirect_uri(redirect_uri)
            .send()
            .await
            .map_err(|e| oidc_error("CreateToken", e))?;
        token(session, reg, &out, None)
    }

    /// CreateToken with the refresh token of `old`.
    pub async fn refresh(
        &self,
        session: &Session,
        old: &SsoToken,
    ) -> std::result::Result<SsoToken, TokenError> {
        let Some(refresh) = &old.refresh_token else {
            return Err(TokenError::Invalid("the token has no refresh token".into()));
        };
        let reg = Registration::reusable(old, OffsetDateTime::now_utc())
            .ok_or_else(|| TokenError::Invalid("the client registration has expired".into()))?;
        let out = self
            .client
            .create_token()
            .client_id(&reg.client_id)
            .client_secret(reg.client_secret.expose())
            .grant_type(REFRESH)
            .refresh_token(refresh.expose())
            .send()
            .await;
        match out {
            Ok(out) => {
                let mut t = token(session, &reg, &out, Some(refresh))?;
                t.client_grant = old.client_grant.clone();
                Ok(t)
            }
            Err(e) => match e.code() {
                Some(
                    code @ ("InvalidGrantException"
                    | "ExpiredTokenException"
                    | "InvalidClientException"
                    | "UnauthorizedClientException"
                    | "AccessDeniedException"),
                ) => Err(TokenError::Invalid(crate::sanitize(code))),
                _ => Err(TokenError::Other(oidc_error("CreateToken (refresh)", e))),
            },
        }
    }
}

fn epoch(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The sealed token from a CreateToken answer; `old_refresh` is kept when the service sends
/// no new refresh token.
fn token(
    session: &Session,
    reg: &Registration,
    out: &aws_sdk_ssooidc::operation::create_token::CreateTokenOutput,
    old_refresh: Option<&Secret>,
) -> Result<SsoToken> {
    let access = out
        .access_token()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::StsRefused("IAM Identity Center CreateToken returned no access token".into())
        })?;
    let now = OffsetDateTime::now_utc();
    Ok(SsoToken {
        start_url: session.start_url.clone(),
        region: session.region.clone(),
        access_token: Secret::new(access),
        expires_at: now + time::Duration::seconds(i64::from(out.expires_in().max(0))),
        issued: now,
        refresh_token: out
            .refresh_token()
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .or_else(|| old_refresh.cloned()),
        client_id: reg.client_id.clone(),
        client_secret: reg.client_secret.clone(),
        client_secret_expires_at: reg.expires_at,
        client_grant: String::new(),
    })
}

/// 32 random bytes from the OS, base64url: PKCE verifiers and `state`.
pub fn random_token() -> Secret {
    let mut raw = zeroize::Zeroizing::new([0u8; 48]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut *raw);
    Secret::new(URL_SAFE_NO_PAD.encode(*raw))
}

/// The S256 code challenge of a PKCE verifier (RFC 7636).
pub fn challenge(verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

/// Percent-encodes a query value (RFC 3986 unreserved characters kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Maps an OIDC SDK error: a service answer is a refusal (76), no answer is "unreachable"
/// (75). Never includes a secret (the SDK's errors carry none; remote text is escaped).
pub(crate) fn oidc_error<E>(
    op: &str,
    e: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    service_error("IAM Identity Center", op, e, "AWS_ENDPOINT_URL_SSO_OIDC")
}

/// The error mapping of the OIDC and portal clients.
pub(crate) fn service_error<E>(
    service: &str,
    op: &str,
    e: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    endpoint_var: &str,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            Error::StsRefused(Msg::hinted(
                format!(
                    "{service} {op} refused: {}: {}",
                    crate::sanitize(err.code().unwrap_or("Unknown")),
                    crate::sanitize(err.message().unwrap_or(""))
                ),
                "see the message above; `vault sso login` signs in again",
            ))
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let mut s = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                s += &format!(": {c}");
                cur = c.source();
            }
            Error::StsUnreachable(Msg::hinted(
                format!(
                    "{service} {op}: could not reach the endpoint: {}",
                    crate::sanitize(&s)
                ),
                format!("check the network, sso_region and {endpoint_var}"),
            ))
        }
        _ => Error::StsRefused(Msg::hinted(
            format!("{service} {op} failed: {}", crate::sanitize(&e.to_string())),
            format!("check sso_region and {endpoint_var}"),
        )),
    }
}

#[cfg(test)]
mod tests;
