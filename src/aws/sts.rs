//! STS calls through the official SDK. Credentials are always passed explicitly, so the SDK
//! never goes looking for its own (no IMDS); the endpoint and region come from the SDK's
//! standard resolution (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, `endpoint_url`, `region`).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use time::OffsetDateTime;

use super::profile::Settings;
use crate::creds::Credentials;
use crate::error::{Error, Msg, Result};
use crate::secret::Secret;
use crate::vault::item::Session;

/// An STS client template for one profile's endpoint and region.
#[derive(Debug)]
pub struct Sts {
    config: aws_config::SdkConfig,
}

/// An MFA device and the code it shows now.
#[derive(Debug)]
pub struct Mfa<'a> {
    /// Device ARN or serial.
    pub serial: &'a str,
    /// The six-digit code.
    pub code: &'a Secret,
}

impl Sts {
    /// Loads the endpoint configuration of `profile` (endpoint_url, services sections,
    /// `AWS_ENDPOINT_URL[_STS]`) with an explicit region and no credential provider of its own.
    pub async fn new(profile: &str, region: &str) -> Sts {
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https)
            .profile_name(profile)
            .region(aws_config::Region::new(region.to_owned()))
            .no_credentials()
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .load()
            .await;
        Sts { config }
    }

    /// The loaded SDK configuration (endpoints, region, timeouts), for other AWS clients.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.config
    }

    /// GetCallerIdentity with `creds`: the ARN, or the error.
    pub async fn caller_arn(&self, creds: &Credentials) -> Result<String> {
        let out = self
            .client(creds)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| sts_error("GetCallerIdentity", None, e))?;
        Ok(out.arn().unwrap_or_default().to_owned())
    }

    fn client(&self, creds: &Credentials) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::config::Builder::from(&self.config)
            .credentials_provider(sdk_credentials(creds))
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    /// GetSessionToken, with MFA when given.
    pub async fn get_session_token(
        &self,
        creds: &Credentials,
        duration: i32,
        mfa: Option<Mfa<'_>>,
        serves: String,
    ) -> Result<Session> {
        let mut req = self
            .client(creds)
            .get_session_token()
            .duration_seconds(duration);
        if let Some(m) = mfa {
            req = req.serial_number(m.serial).token_code(m.code.expose());
        }
        let out = req
            .send()
            .await
            .map_err(|e| sts_error("GetSessionToken", None, e))?;
        session(out.credentials(), serves, "GetSessionToken")
    }

    /// AssumeRole for `role` (role_arn, external_id, source_identity, session tags).
    pub async fn assume_role(
        &self,
        creds: &Credentials,
        role: &Settings,
        session_name: &str,
        duration: i32,
        mfa: Option<Mfa<'_>>,
        serves: String,
    ) -> Result<Session> {
        let arn = role.role_arn.as_deref().unwrap_or_default();
        let mut req = self
            .client(creds)
            .assume_role()
            .role_arn(arn)
            .role_session_name(session_name)
            .duration_seconds(duration)
            .set_external_id(role.external_id.clone())
            .set_source_identity(role.source_identity.clone());
        for (k, v) in &role.session_tags {
            let tag = aws_sdk_sts::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| {
                    Error::Config(format!("profile {:?}: session tag: {e}", role.name).into())
                })?;
            req = req.tags(tag);
        }
        for k in &role.transitive_session_tags {
            req = req.transitive_tag_keys(k);
        }
        if let Some(m) = mfa {
            req = req.serial_number(m.serial).token_code(m.code.expose());
        }
        let out = req
            .send()
            .await
            .map_err(|e| sts_error("AssumeRole", Some(arn), e))?;
        session(out.credentials(), serves, "AssumeRole")
    }

    /// GetFederationToken for the console (`vault login` with a plain IAM-user key, since the
    /// console refuses GetSessionToken output): federated user `name`, with `policy` as the
    /// session policy. It cannot carry MFA; the caller refuses profiles that require it.
    pub async fn get_federation_token(
        &self,
        creds: &Credentials,
        name: &str,
        policy: &str,
        duration: i32,
    ) -> Result<Session> {
        let out = self
            .client(creds)
            .get_federation_token()
            .name(name)
            .policy(policy)
            .duration_seconds(duration)
            .send()
            .await
            .map_err(|e| sts_error("GetFederationToken", None, e))?;
        session(out.credentials(), String::new(), "GetFederationToken")
    }
}

/// SDK credentials for `creds` (the SDK's copy is its own).
pub(crate) fn sdk_credentials(creds: &Credentials) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose().to_owned(),
        creds.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "vault",
    )
}

/// The longest session STS issues (GetSessionToken for an IAM user: 36 h; roles at most 12 h).
const MAX_SESSION: time::Duration = time::Duration::hours(36);
/// How far the endpoint's clock may run ahead of ours.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(15);
/// The hint for an answer no real STS gives.
const NOT_STS: &str =
    "AWS_ENDPOINT_URL_STS / endpoint_url may not point at STS; nothing was cached";

fn session(
    c: Option<&aws_sdk_sts::types::Credentials>,
    serves: String,
    made_by: &str,
) -> Result<Session> {
    let c = c.ok_or_else(|| {
        Error::StsRefused(format!("STS {made_by} returned no credentials").into())
    })?;
    let expiration = OffsetDateTime::from_unix_timestamp(c.expiration().secs()).map_err(|_| {
        Error::StsRefused(format!("STS {made_by} returned a bad expiration").into())
    })?;
    if let Some(field) = crate::creds::bad_field(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    ) {
        return Err(Error::StsRefused(Msg::hinted(
            format!(
                "STS {made_by} returned a {field} with characters AWS never uses (it is not shown)"
            ),
            NOT_STS,
        )));
    }
    let now = OffsetDateTime::now_utc();
    if expiration > now + MAX_SESSION + CLOCK_SKEW {
        return Err(Error::StsRefused(Msg::hinted(
            format!(
                "STS {made_by} returned credentials that expire at {}, beyond the 36 h STS can issue",
                expiration.unix_timestamp(),
            ),
            NOT_STS,
        )));
    }
    Ok(Session {
        access_key_id: c.access_key_id().to_owned(),
        secret_access_key: Secret::new(c.secret_access_key()),
        session_token: Secret::new(c.session_token()),
        expiration,
        issued: OffsetDateTime::now_utc(),
        serves,
        made_by: made_by.to_owned(),
    })
}

/// Maps an SDK error: a service answer is a refusal (76), anything that never got an answer
/// is "unreachable" (75). Messages never include credentials.
pub(crate) fn sts_error<E>(op: &str, role: Option<&str>, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            // Some emulators wrap errors in shapes the SDK does not parse; read the body then.
            let body = String::from_utf8_lossy(se.raw().body().bytes().unwrap_or_default());
            let Some(code) = err.code().or_else(|| xml_field(&body, "Code")) else {
                // An answer with no AWS error in it: not STS (a proxy, a captive portal, a
                // wrong endpoint_url). Say what came back instead of an empty "Unknown".
                let status = se.raw().status().as_u16();
                return Error::StsRefused(Msg::hinted(
                    format!("STS {op}: the endpoint answered HTTP {status} without an AWS error in it"),
                    "it is probably not STS: check AWS_ENDPOINT_URL_STS / endpoint_url, proxies and the region",
                ));
            };
            let msg = err
                .message()
                .or_else(|| xml_field(&body, "Message"))
                .unwrap_or("");
            let hint = match code {
                "InvalidClientTokenId" | "SignatureDoesNotMatch" => {
                    "the stored access key is not valid (deleted, rotated or mistyped); replace it with `vault add PROFILE`"
                }
                "ExpiredToken" | "RequestExpired" => {
                    "a cached session expired early; `vault clear PROFILE` and try again"
                }
                "AccessDenied" => {
                    "check the role's trust policy, your permissions and the MFA device; AWS says why above"
                }
                _ => "see the AWS message above",
            };
            let target = role.map(|r| format!(" for {r}")).unwrap_or_default();
            // Both are remote text: escaped, so a newline cannot forge a `hint:` line.
            Error::StsRefused(Msg::hinted(
                format!(
                    "STS {op}{target} refused: {}: {}",
                    crate::sanitize(code),
                    crate::sanitize(msg)
                ),
                hint.to_string(),
            ))
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            Error::StsUnreachable(Msg::hinted(
                format!(
                    "STS {op}: could not reach the endpoint: {}",
                    error_chain(&e)
                ),
                "check the network, AWS_ENDPOINT_URL_STS / endpoint_url and the region",
            ))
        }
        _ => Error::StsRefused(format!("STS {op} failed: {}", error_chain(&e)).into()),
    }
}

fn xml_field<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let len = body[start..].find(&format!("</{tag}>"))?;
    Some(&body[start..start + len])
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s += &format!(": {c}");
        cur = c.source();
    }
    crate::sanitize(&s)
}
