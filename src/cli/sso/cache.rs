//! The SDKs' plaintext SSO token cache (`~/.aws/sso/cache/`): `vault sso import` seals a
//! token found there, and `vault sso login --write-plaintext-cache` writes one on request
//! for tools that read only that file.

use std::path::PathBuf;

use crate::error::{Error, Msg, Result};
use crate::sso::token;

/// The plaintext cache file the SDKs keep for `session`: `~/.aws/sso/cache/` and the SHA-1
/// hex of the sso-session name (of the start URL for the legacy form).
pub(super) fn plaintext_cache(session: &crate::sso::Session) -> Result<PathBuf> {
    use sha1::Digest;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::Config(Msg::hinted(
                "HOME is not set, so there is no ~/.aws/sso/cache",
                "set HOME",
            ))
        })?;
    let digest = sha1::Sha1::digest(session.name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(PathBuf::from(home)
        .join(".aws/sso/cache")
        .join(format!("{hex}.json")))
}

/// `vault sso login --write-plaintext-cache`: the sealed token written where the AWS CLI and
/// the SDKs look for it, in their format (mode 0600, atomically). This is the one place vault
/// writes a credential in plaintext, and only on this explicit request.
pub(super) fn export_plaintext(
    vault: &crate::vault::Unlocked<'_>,
    session: &crate::sso::Session,
) -> Result<()> {
    let Some(t) = token::read(vault, session)? else {
        return Err(Error::Other(Msg::hinted(
            "the sign-in left no sealed token to export",
            "run `vault sso login` again",
        )));
    };
    let path = plaintext_cache(session)?;
    let time = |t: &time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    // Borrowed fields serialised into one pre-reserved zeroed buffer, so no copy of a
    // token is left behind (a serde_json::Value would hold unzeroed copies).
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Cache<'a> {
        start_url: &'a str,
        region: &'a str,
        access_token: &'a str,
        expires_at: String,
        client_id: &'a str,
        client_secret: &'a str,
        registration_expires_at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        refresh_token: Option<&'a str>,
    }
    let doc = Cache {
        start_url: &session.start_url,
        region: &session.region,
        access_token: t.access_token.expose(),
        expires_at: time(&t.expires_at),
        client_id: &t.client_id,
        client_secret: t.client_secret.expose(),
        registration_expires_at: time(&t.client_secret_expires_at),
        refresh_token: t.refresh_token.as_ref().map(|r| r.expose()),
    };
    let mut text = zeroize::Zeroizing::new(Vec::with_capacity(64 * 1024));
    serde_json::to_writer(&mut *text, &doc)
        .map_err(|e| Error::Other(format!("encoding the token cache file: {e}").into()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            op: "creating",
            path: dir.into(),
            source,
        })?;
    }
    vault_backends::fs::write_atomic(&path, &text, vault_backends::fs::Perms::Private)?;
    eprintln!(
        "vault: warning: wrote the token of {} in PLAINTEXT to {} (as asked); `vault sso logout` removes it",
        crate::sanitize(&session.name),
        path.display()
    );
    Ok(())
}

/// The token fields of the SDKs' cache file (botocore's and aws-config's names).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CacheFile {
    start_url: Option<String>,
    pub(super) access_token: crate::secret::Secret,
    expires_at: String,
    refresh_token: Option<crate::secret::Secret>,
    client_id: Option<String>,
    client_secret: Option<crate::secret::Secret>,
    registration_expires_at: Option<String>,
}

/// `2024-01-01T00:00:00Z`, or the legacy CLI's `2024-01-01T00:00:00UTC`.
fn cache_time(s: &str) -> Option<time::OffsetDateTime> {
    let s = match s.strip_suffix("UTC") {
        Some(t) => format!("{t}Z"),
        None => s.to_owned(),
    };
    time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()
}

/// `vault sso import`: seal the plaintext token; with `remove`, delete the file once the
/// sealed copy reads back.
pub(super) fn import(
    vault: &crate::vault::Unlocked<'_>,
    session: &crate::sso::Session,
    remove: bool,
) -> Result<()> {
    let path = plaintext_cache(session)?;
    let shown = path.display().to_string();
    let bytes = zeroize::Zeroizing::new(match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Config(Msg::hinted(
                format!(
                    "there is no plaintext SSO token for {} at {shown}",
                    crate::sanitize(&session.name)
                ),
                "nothing to import; sign in with `vault sso login`",
            )))
        }
        Err(source) => {
            return Err(Error::Io {
                op: "reading",
                path,
                source,
            })
        }
    });
    // serde_json's errors quote no input, so no secret reaches the message.
    let file: CacheFile = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Config(Msg::hinted(
            format!(
                "{shown} is not an SSO token cache file ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
            "sign in with `vault sso login` instead",
        ))
    })?;
    if file
        .start_url
        .as_deref()
        .is_some_and(|u| u != session.start_url)
    {
        return Err(Error::Config(Msg::hinted(
            format!("{shown} holds a token for another start URL"),
            "sign in with `vault sso login` instead",
        )));
    }
    let expires_at = cache_time(&file.expires_at).ok_or_else(|| {
        Error::Config(Msg::hinted(
            format!("{shown}: expiresAt is not a time"),
            "sign in with `vault sso login` instead",
        ))
    })?;
    let now = time::OffsetDateTime::now_utc();
    let token = crate::vault::item::SsoToken {
        start_url: session.start_url.clone(),
        region: session.region.clone(),
        access_token: file.access_token,
        expires_at,
        // Unknown: taken as an hour before expiry, so the early-refresh rule stays sane.
        issued: (expires_at - time::Duration::hours(1)).min(now),
        refresh_token: file.refresh_token,
        client_id: file.client_id.unwrap_or_default(),
        client_secret: file
            .client_secret
            .unwrap_or_else(|| crate::secret::Secret::new("")),
        client_secret_expires_at: file
            .registration_expires_at
            .as_deref()
            .and_then(cache_time)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        client_grant: crate::sso::oidc::DEVICE_CODE.to_owned(),
    };
    let item = crate::vault::item::Item::sso_token(token);
    {
        let _guard = vault.lock(&session.item_name())?;
        vault.put(&session.item_name(), &item)?;
    }
    let back = vault.get(&session.item_name())?;
    // What was written is the item bound to its name (issue 13's binding).
    if back.as_ref() != Some(&item.bound(&session.item_name(), vault.generation())) {
        return Err(Error::Other(Msg::hinted(
            format!("the sealed token did not read back; {shown} is kept"),
            "check the vault's backend",
        )));
    }
    if remove {
        std::fs::remove_file(&path).map_err(|source| Error::Io {
            op: "removing",
            path: path.clone(),
            source,
        })?;
        eprintln!(
            "vault: sealed the token of {} and removed {shown}",
            crate::sanitize(&session.name)
        );
    } else {
        eprintln!(
            "vault: sealed the token of {}; {shown} is still there in plaintext (--remove-plaintext deletes it)",
            crate::sanitize(&session.name)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cache_file_times_in_both_sdk_spellings() {
        let a = super::cache_time("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(super::cache_time("2024-01-01T00:00:00UTC"), Some(a));
        assert!(super::cache_time("soon").is_none());
    }
}
