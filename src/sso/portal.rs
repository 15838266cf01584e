//! The IAM Identity Center portal through `aws-sdk-sso`: GetRoleCredentials (sealed as a
//! session by the caller), ListAccounts / ListAccountRoles (paginated), Logout. The bearer
//! token travels in the SDK's `x-amz-sso_bearer_token` header, never in a URL or a log.
//! Endpoints by the SDK's resolution: `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL`, `[services]`.

use aws_sdk_sso::error::{ProvideErrorMetadata, SdkError};
use time::OffsetDateTime;

use crate::error::{Error, Msg};
use crate::secret::Secret;
use crate::vault::item::Session;

/// The portal client.
#[derive(Debug)]
pub struct Portal {
    client: aws_sdk_sso::Client,
}

/// A portal answer: the token was refused (401), or another failure.
#[derive(Debug)]
pub enum PortalError {
    /// UnauthorizedException: the access token is expired or revoked.
    Unauthorized,
    /// Anything else.
    Other(Error),
}

/// An account and its roles, as `vault sso accounts` lists them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Account {
    /// The account id.
    pub account_id: String,
    /// Its name.
    pub account_name: String,
    /// Its e-mail address.
    pub email_address: String,
    /// The roles the signed-in user may take there.
    pub roles: Vec<String>,
}

fn portal_error<E>(
    op: &str,
    e: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> PortalError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let unauthorized = e.code() == Some("UnauthorizedException")
        || matches!(&e, SdkError::ServiceError(se) if se.raw().status().as_u16() == 401);
    if unauthorized {
        return PortalError::Unauthorized;
    }
    PortalError::Other(super::oidc::service_error(
        "IAM Identity Center portal",
        op,
        e,
        "AWS_ENDPOINT_URL_SSO",
    ))
}

impl Portal {
    /// The portal client on `sdk` (the OIDC client's configuration: same region, endpoints).
    pub fn new(sdk: &aws_config::SdkConfig) -> Portal {
        Portal {
            client: aws_sdk_sso::Client::new(sdk),
        }
    }

    /// GetRoleCredentials: `serves` is the cache key the session is sealed under.
    pub async fn role_credentials(
        &self,
        token: &Secret,
        account_id: &str,
        role_name: &str,
        serves: String,
    ) -> std::result::Result<Session, PortalError> {
        let out = self
            .client
            .get_role_credentials()
            .access_token(token.expose())
            .account_id(account_id)
            .role_name(role_name)
            .send()
            .await
            .map_err(|e| portal_error("GetRoleCredentials", e))?;
        let refused = |what: &str| {
            PortalError::Other(Error::StsRefused(Msg::hinted(
                format!(
                    "IAM Identity Center GetRoleCredentials for {}/{} returned {what}",
                    crate::sanitize(account_id),
                    crate::sanitize(role_name)
                ),
                "AWS_ENDPOINT_URL_SSO may not point at the portal; nothing was cached",
            )))
        };
        let c = out
            .role_credentials()
            .ok_or_else(|| refused("no credentials"))?;
        let (Some(id), Some(secret), Some(token)) =
            (c.access_key_id(), c.secret_access_key(), c.session_token())
        else {
            return Err(refused("incomplete credentials"));
        };
        // AWS's alphabet (crate::creds::bad_field), plus base64url's `-` and `_`, which the
        // project's emulator issues; neither can carry shell syntax or a newline.
        let plain = |s: &str| s.replace(['-', '_'], "A");
        if crate::creds::bad_field(id, &plain(secret), Some(&plain(token))).is_some() {
            return Err(refused("credentials with characters AWS never uses"));
        }
        // Milliseconds since the epoch.
        let expiration =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(c.expiration()) * 1_000_000)
                .map_err(|_| refused("a bad expiration"))?;
        let now = OffsetDateTime::now_utc();
        if expiration > now + time::Duration::hours(13) {
            return Err(refused(
                "credentials that outlive the 12 h a permission set allows",
            ));
        }
        Ok(Session {
            access_key_id: id.to_owned(),
            secret_access_key: Secret::new(secret),
            session_token: Secret::new(token),
            expiration,
            issued: now,
            serves,
            made_by: "GetRoleCredentials".to_owned(),
        })
    }

    /// Logout: the service revokes the access token (and the refresh grants made with it).
    pub async fn logout(&self, token: &Secret) -> std::result::Result<(), PortalError> {
        self.client
            .logout()
            .access_token(token.expose())
            .send()
            .await
            .map_err(|e| portal_error("Logout", e))?;
        Ok(())
    }

    /// Every account the token may use, each with its roles (both lists paginated).
    pub async fn accounts(&self, token: &Secret) -> std::result::Result<Vec<Account>, PortalError> {
        let mut accounts = vec![];
        let mut next: Option<String> = None;
        loop {
            let out = self
                .client
                .list_accounts()
                .access_token(token.expose())
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| portal_error("ListAccounts", e))?;
            for a in out.account_list() {
                accounts.push(Account {
                    account_id: a.account_id().unwrap_or_default().to_owned(),
                    account_name: a.account_name().unwrap_or_default().to_owned(),
                    email_address: a.email_address().unwrap_or_default().to_owned(),
                    roles: vec![],
                });
            }
            match out.next_token().filter(|t| !t.is_empty()) {
                Some(t) => next = Some(t.to_owned()),
                None => break,
            }
        }
        for account in &mut accounts {
            let mut next: Option<String> = None;
            loop {
                let out = self
                    .client
                    .list_account_roles()
                    .access_token(token.expose())
                    .account_id(&account.account_id)
                    .set_next_token(next.take())
                    .send()
                    .await
                    .map_err(|e| portal_error("ListAccountRoles", e))?;
                account.roles.extend(
                    out.role_list()
                        .iter()
                        .filter_map(|r| r.role_name().map(str::to_owned)),
                );
                match out.next_token().filter(|t| !t.is_empty()) {
                    Some(t) => next = Some(t.to_owned()),
                    None => break,
                }
            }
        }
        accounts.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        Ok(accounts)
    }
}
