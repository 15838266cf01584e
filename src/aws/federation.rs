//! The console's federation endpoint (`vault login`, DESIGN.md §5b): temporary credentials
//! are traded for a sign-in token (`Action=getSigninToken`), and the token goes into the
//! `Action=login` URL that opens the console at a destination, for the region's partition.
//!
//! The protocol is AWS's "Enable custom identity broker access to the AWS console": a GET of
//! `{base}?Action=getSigninToken&Session={json}` (plus `SessionDuration` for credentials of a
//! role assumed with an IAM user's credentials, the only ones it is allowed for), answered by
//! `{"SigninToken": "..."}`; then `{base}?Action=login&Issuer=...&Destination=...&SigninToken=...`,
//! a bearer secret for 15 minutes.
//!
//! The session JSON, the token and the URL are secrets: built in [`Secret`]s (reserved up
//! front, so no reallocation leaves a copy behind), never logged and never put in an error.
//! The one HTTP call goes through the same rustls (ring) connector as STS. What cannot be
//! zeroed: the copy of the request URI inside the HTTP stack and the response's buffer.

use std::time::Duration;

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::creds::Credentials;
use crate::error::{Error, Msg, Result};
use crate::secret::Secret;

/// The `Issuer` of the login URL: where the console sends a user whose session ended.
pub const ISSUER: &str = "vault";
/// The longest answer read from the endpoint (a token is about 1 KiB).
const MAX_ANSWER: usize = 64 * 1024;
/// The whole call, connect included.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The console session lengths `SessionDuration` may ask for.
pub const SESSION_DURATION: std::ops::RangeInclusive<u64> = 900..=43200;

/// An AWS partition's sign-in and console domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub name: &'static str,
    /// The sign-in host: `signin.aws.amazon.com`, ...
    pub signin: &'static str,
    /// The console's domain, under which each region has its host.
    pub console: &'static str,
}

/// The partition of `region`: China (`cn-*`), GovCloud (`us-gov-*`), else the commercial one.
pub fn partition(region: &str) -> Partition {
    if region.starts_with("cn-") {
        Partition {
            name: "aws-cn",
            signin: "signin.amazonaws.cn",
            console: "console.amazonaws.cn",
        }
    } else if region.starts_with("us-gov-") {
        Partition {
            name: "aws-us-gov",
            signin: "signin.amazonaws-us-gov.com",
            console: "console.amazonaws-us-gov.com",
        }
    } else {
        Partition {
            name: "aws",
            signin: "signin.aws.amazon.com",
            console: "console.aws.amazon.com",
        }
    }
}

/// The partition's own federation endpoint.
pub fn default_base(region: &str) -> String {
    format!("https://{}/federation", partition(region).signin)
}

/// Checks a federation base URL from `AWS_ENDPOINT_URL_SIGNIN`: `https://`, or `http://` to
/// a loopback host only (an emulator; credentials never cross a network in the clear), with
/// no query or fragment (vault adds the query).
pub fn check_base(url: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::Config(Msg::hinted(
            format!("AWS_ENDPOINT_URL_SIGNIN {:?} {why}", crate::sanitize(url)),
            "set it to the federation endpoint, e.g. https://signin.aws.amazon.com/federation, or unset it",
        ))
    };
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.split(':').next().unwrap_or_default(),
        };
        let loopback = name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(bad(
                "is plain http to a host that is not loopback: the session's credentials would cross the network in the clear",
            ));
        }
        rest
    } else {
        return Err(bad("is not an https:// URL"));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains('@') {
        return Err(bad("has no host, or has user information"));
    }
    if rest.contains(['?', '#']) || !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "has a query, a fragment, or characters a URL cannot carry",
        ));
    }
    Ok(())
}

/// Checks `--path`: a console path under the region's console host, such as `/s3/home` or
/// `/ec2/home?region=eu-west-1#Instances:`: it starts with `/` and holds only the printable
/// ASCII a URL carries.
pub fn parse_path(path: &str) -> std::result::Result<String, String> {
    if path.starts_with('/') && path.len() <= 2048 && path.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(path.to_owned())
    } else {
        Err("expected a console path starting with / (e.g. /s3/home), printable ASCII without spaces".into())
    }
}

/// The console page to open: `path` under the region's console host, else the region's
/// console home.
pub fn destination(region: &str, path: Option<&str>) -> String {
    let host = format!("https://{region}.{}", partition(region).console);
    match path {
        Some(p) => format!("{host}{p}"),
        None => format!("{host}/console/home?region={region}"),
    }
}

/// Appends `s` form-encoded (every byte but `A-Za-z0-9-_.~` as `%XX`) to `out`, which the
/// caller reserved: at most three characters per byte.
fn encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The session JSON the endpoint takes.
#[derive(Serialize)]
struct SessionJson<'a> {
    #[serde(rename = "sessionId")]
    id: &'a str,
    #[serde(rename = "sessionKey")]
    key: &'a str,
    #[serde(rename = "sessionToken")]
    token: &'a str,
}

/// The endpoint's answer.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "SigninToken")]
    signin_token: Option<Secret>,
}

/// The `getSigninToken` request URL for `creds`, with `SessionDuration` when given: a secret.
fn token_request(base: &str, creds: &Credentials, session_duration: Option<u64>) -> Result<Secret> {
    let token = creds.session_token.as_ref().ok_or_else(|| {
        Error::Config(Msg::hinted(
            "the console takes only temporary credentials (with a session token)",
            "sign in as a role",
        ))
    })?;
    let shape = SessionJson {
        id: &creds.access_key_id,
        key: creds.secret_access_key.expose(),
        token: token.expose(),
    };
    let size = 64 + shape.id.len() + shape.key.len() + shape.token.len() * 2;
    let mut json = Zeroizing::new(Vec::with_capacity(size));
    serde_json::to_writer(&mut *json, &shape)
        .map_err(|_| Error::Other("encoding the console session failed".into()))?;
    let json = Zeroizing::new(String::from_utf8(std::mem::take(&mut *json)).unwrap_or_default());
    let mut url = String::with_capacity(base.len() + 96 + 3 * json.len());
    url.push_str(base);
    url.push_str("?Action=getSigninToken");
    if let Some(d) = session_duration {
        url.push_str(&format!("&SessionDuration={d}"));
    }
    url.push_str("&Session=");
    encode_into(&mut url, &json);
    Ok(Secret::new(url))
}

/// Trades `creds` for a sign-in token at the federation endpoint `base`. A refusal (HTTP
/// 4xx) is [`Error::StsRefused`] (exit 76), an endpoint that cannot be reached or fails
/// (5xx) [`Error::StsUnreachable`] (75); neither says anything secret.
pub async fn signin_token(
    base: &str,
    creds: &Credentials,
    session_duration: Option<u64>,
) -> Result<Secret> {
    let url = token_request(base, creds, session_duration)?;
    let request = HttpRequest::get(url.expose()).map_err(|_| {
        Error::Config(Msg::hinted(
            format!(
                "the federation endpoint {} is not a URL vault can call",
                crate::sanitize(base)
            ),
            "check AWS_ENDPOINT_URL_SIGNIN",
        ))
    })?;
    drop(url);
    let unreachable = |what: String| {
        Error::StsUnreachable(Msg::hinted(
            format!(
                "the console's federation endpoint {}: {what}",
                crate::sanitize(base)
            ),
            "check the network and AWS_ENDPOINT_URL_SIGNIN, then try again",
        ))
    };
    let connector = aws_smithy_http_client::Connector::builder()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build();
    let call = async {
        let response = connector
            .call(request)
            .await
            .map_err(|e| unreachable(format!("could not be reached: {}", error_chain(&e))))?;
        let status = response.status().as_u16();
        let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| unreachable(format!("reading its answer: {}", error_chain(&e))))?;
        let body: Zeroizing<Vec<u8>> = Zeroizing::new(body.into_bytes().into());
        Ok::<_, Error>((status, body))
    };
    let (status, body) = tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| unreachable(format!("no answer within {} s", TIMEOUT.as_secs())))??;
    match status {
        200 => {}
        400..=499 => {
            return Err(Error::StsRefused(Msg::hinted(
                format!("the console's federation endpoint refused the sign-in token (HTTP {status}): it does not take these credentials"),
                "the console takes role sessions (AssumeRole, SSO) and GetFederationToken sessions; `vault clear PROFILE` drops a session it may have revoked, then try again",
            )))
        }
        _ => return Err(unreachable(format!("answered HTTP {status}"))),
    }
    let bad_answer = || {
        Error::StsRefused(Msg::hinted(
            "the console's federation endpoint answered without a sign-in token (it is not shown)",
            "AWS_ENDPOINT_URL_SIGNIN may not point at a federation endpoint",
        ))
    };
    if body.len() > MAX_ANSWER {
        return Err(bad_answer());
    }
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| bad_answer())?;
    match answer.signin_token {
        Some(t) if !t.expose().is_empty() && t.expose().len() <= MAX_ANSWER => Ok(t),
        _ => Err(bad_answer()),
    }
}

/// The `Action=login` URL opening `destination` with `token`: the bearer secret itself.
pub fn login_url(base: &str, destination: &str, token: &Secret) -> Secret {
    let t = token.expose();
    let mut url = String::with_capacity(base.len() + 96 + 3 * (destination.len() + t.len()));
    url.push_str(base);
    url.push_str("?Action=login&Issuer=");
    encode_into(&mut url, ISSUER);
    url.push_str("&Destination=");
    encode_into(&mut url, destination);
    url.push_str("&SigninToken=");
    encode_into(&mut url, t);
    Secret::new(url)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_come_from_the_region() {
        assert_eq!(partition("eu-west-1").name, "aws");
        assert_eq!(partition("cn-north-1").signin, "signin.amazonaws.cn");
        assert_eq!(
            partition("us-gov-west-1").console,
            "console.amazonaws-us-gov.com"
        );
        assert_eq!(
            default_base("cn-northwest-1"),
            "https://signin.amazonaws.cn/federation"
        );
        assert_eq!(
            destination("us-gov-east-1", None),
            "https://us-gov-east-1.console.amazonaws-us-gov.com/console/home?region=us-gov-east-1"
        );
        assert_eq!(
            destination("eu-west-1", Some("/s3/home")),
            "https://eu-west-1.console.aws.amazon.com/s3/home"
        );
    }

    #[test]
    fn the_url_encodes_every_value() {
        let token = Secret::new("a+b/c=&d");
        let url = login_url(
            "https://signin.aws.amazon.com/federation",
            "https://x/?a=1&b=2#f",
            &token,
        );
        assert_eq!(
            url.expose(),
            "https://signin.aws.amazon.com/federation?Action=login&Issuer=vault&Destination=https%3A%2F%2Fx%2F%3Fa%3D1%26b%3D2%23f&SigninToken=a%2Bb%2Fc%3D%26d"
        );
    }

    #[test]
    fn the_session_json_has_the_three_fields_and_the_duration_only_when_asked() {
        let creds = Credentials {
            access_key_id: "ASIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new("s/k"),
            session_token: Some(Secret::new("t+")),
            expiration: None,
            issued: None,
        };
        let u = token_request("http://127.0.0.1:1/federation", &creds, None).unwrap();
        assert_eq!(
            u.expose(),
            "http://127.0.0.1:1/federation?Action=getSigninToken&Session=%7B%22sessionId%22%3A%22ASIAIOSFODNN7EXAMPLE%22%2C%22sessionKey%22%3A%22s%2Fk%22%2C%22sessionToken%22%3A%22t%2B%22%7D"
        );
        let u = token_request("https://s/federation", &creds, Some(3600)).unwrap();
        assert!(u.expose().starts_with(
            "https://s/federation?Action=getSigninToken&SessionDuration=3600&Session="
        ));
        let plain = Credentials {
            session_token: None,
            ..creds
        };
        let e = token_request("https://s/federation", &plain, None).unwrap_err();
        assert!(!e.to_string().contains("s/k"), "{e}");
    }

    #[test]
    fn base_urls_are_https_or_loopback_http() {
        for ok in [
            "https://signin.aws.amazon.com/federation",
            "http://127.0.0.1:8080/federation",
            "http://localhost:1/federation",
            "http://[::1]:9/federation",
        ] {
            assert!(check_base(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/federation",
            "http://127.0.0.1.evil.com/federation",
            "http://evil.com@127.0.0.1/federation",
            "ftp://x/",
            "https:///federation",
            "https://x/federation?a=1",
            "https://x/fed eration",
        ] {
            assert!(check_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn console_paths() {
        assert!(parse_path("/s3/home?region=eu-west-1#x").is_ok());
        for bad in ["s3", "/a b", "/a\nb", ""] {
            assert!(parse_path(bad).is_err(), "{bad:?}");
        }
    }
}
