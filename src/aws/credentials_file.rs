//! Line-level edits of the plaintext AWS shared credentials file (`~/.aws/credentials`).
//!
//! [`remove_keys`] deletes the `aws_access_key_id` and `aws_secret_access_key` lines of some
//! profiles and keeps every other byte. It reads lines exactly as the AWS SDK's profile parser
//! does (aws-runtime `env_config::parse`), so the lines it drops are the ones the SDK took the
//! keys from:
//!
//! - lines end at `\n`; a `\r` before it is not part of the line (CRLF files stay CRLF);
//! - a line of only spaces and tabs is blank; a line starting with `#` or `;` is a comment;
//! - a line starting with `[` is a section header: `[name]`, with optional spaces or tabs inside
//!   the brackets and after them, and an optional trailing `# comment`. In the credentials file
//!   a header with two words (`[profile name]`) is not a profile (the SDK ignores it);
//! - a line starting with a space or tab (and not blank) continues the previous property,
//!   even across blank and comment lines: to the SDK, `  [name]` is not a header;
//! - any other line is `key = value`: the key is trimmed and case-insensitive, and a `#` or `;`
//!   after whitespace starts a comment.
//!
//! A dropped property takes its continuation lines with it, so no other property changes.
//! [`parse`] reads a credentials file with the SDK itself, and [`check_removed`] compares the
//! SDK's view of a file before and after [`remove_keys`], so a rewrite is checked against the
//! parser that matters rather than against this file's reading of the grammar.

use std::borrow::Cow;

use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::os_shim_internal::{Env, Fs};

/// The properties [`remove_keys`] deletes.
pub const KEY_PROPERTIES: [&str; 2] = ["aws_access_key_id", "aws_secret_access_key"];

/// Spaces and tabs: the only whitespace of the SDK's profile grammar.
const WHITESPACE: &[char] = &[' ', '\t'];
const COMMENT: &[char] = &['#', ';'];

/// What one line is, to the SDK's parser.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// Only spaces and tabs.
    Blank,
    /// `# ...` or `; ...` from the first column.
    Comment,
    /// A section header: what is inside the brackets, trimmed (`None` when malformed).
    Header(Option<&'a str>),
    /// `key = value`; the key, lower-cased (`None` when the line has no `=`).
    Property(Option<Cow<'a, str>>),
    /// Starts with a space or tab: continues the previous property.
    Continuation,
}

/// Strips surrounding spaces and tabs and a trailing comment, as the SDK's `prepare_line`.
/// In headers a comment needs no whitespace before it; in properties it does.
fn prepare(line: &str, comments_need_whitespace: bool) -> &str {
    let line = line.trim_matches(WHITESPACE);
    let mut prev_whitespace = false;
    let mut end = line.len();
    for (i, c) in line.char_indices() {
        if COMMENT.contains(&c) && (prev_whitespace || !comments_need_whitespace) {
            end = i;
            break;
        }
        prev_whitespace = c.is_whitespace();
    }
    line[..end].trim_matches(WHITESPACE)
}

fn classify(line: &str) -> Line<'_> {
    if line.trim_matches(WHITESPACE).is_empty() {
        Line::Blank
    } else if line.starts_with(COMMENT) {
        Line::Comment
    } else if line.starts_with('[') {
        // A one-word name is then trimmed of all Unicode whitespace, as the SDK's
        // `SectionPair::parse` does (`[default\x0c]` is its profile `default`).
        let name = prepare(line, false)
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .map(|n| n.trim_matches(WHITESPACE))
            .map(|n| if n.contains(WHITESPACE) { n } else { n.trim() });
        Line::Header(name)
    } else if line.starts_with(WHITESPACE) {
        Line::Continuation
    } else {
        let key = prepare(line, true)
            .split_once('=')
            .map(|(k, _)| k.trim_matches(WHITESPACE))
            .map(|k| {
                if k.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(k.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(k)
                }
            });
        Line::Property(key)
    }
}

/// Whether the SDK takes a credentials-file section `[name]` for a profile: one word of
/// `[A-Za-z0-9_-/.%@:+]`. It ignores the others (`[profile name]` among them) with a warning.
fn is_profile(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.%@:+".contains(c))
}

/// The sections of a credentials file that the SDK ignores (such as `[profile name]`, which
/// belongs in the config file), as written inside the brackets; each once, in file order.
pub fn ignored_sections(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = vec![];
    for line in text.lines() {
        if let Line::Header(Some(name)) = classify(line) {
            if !is_profile(name) && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// `text` without the `aws_access_key_id` / `aws_secret_access_key` lines (and their
/// continuation lines) of the sections named in `profiles`, in every section of that name.
/// Every other line, comment, blank line and header is kept byte for byte, line endings
/// included. The result holds whatever secrets `text` still holds: zeroize it after use.
pub fn remove_keys(text: &str, profiles: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    // Whether the current section is one of `profiles`.
    let mut in_profile = false;
    // Whether the current property is being dropped (its continuation lines go with it).
    let mut dropping = false;
    for raw in text.split_inclusive('\n') {
        // As `str::lines`: the `\n` ends the line, and a `\r` right before it goes with it.
        let line = match raw.strip_suffix('\n') {
            Some(l) => l.strip_suffix('\r').unwrap_or(l),
            None => raw,
        };
        let keep = match classify(line) {
            // Blank and comment lines leave the parser's state alone: a continuation after
            // them still belongs to the property before them.
            Line::Blank | Line::Comment => true,
            Line::Header(name) => {
                in_profile = name.is_some_and(|n| is_profile(n) && profiles.iter().any(|p| p == n));
                dropping = false;
                true
            }
            Line::Property(key) => {
                dropping = in_profile && key.is_some_and(|k| KEY_PROPERTIES.contains(&k.as_ref()));
                !dropping
            }
            Line::Continuation => !dropping,
        };
        if keep {
            out.push_str(raw);
        }
    }
    out
}

/// Parses `text` as a credentials file with the AWS SDK's own parser (and only that text: no
/// other file is read). The error says what is wrong and on which line, never a value.
pub fn parse(text: &str) -> Result<ProfileSet, String> {
    let files = EnvConfigFiles::builder()
        .with_contents(EnvConfigFileKind::Credentials, text)
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    rt.block_on(aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &files,
        None,
    ))
    .map_err(|e| {
        // The parse error names the (here absent) path: "error parsing  on line 3:\n  ...".
        let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
        let detail = detail.replacen("error parsing  on line", "line", 1);
        detail.split_whitespace().collect::<Vec<_>>().join(" ")
    })
}

/// Other properties whose values must survive a removal in the listed profiles (the SDK does
/// not list a profile's properties, so these are compared one by one).
const COMMON_PROPERTIES: [&str; 8] = [
    "aws_session_token",
    "mfa_serial",
    "region",
    "output",
    "role_arn",
    "source_profile",
    "credential_process",
    "aws_account_id",
];

/// Checks the SDK's view of a file after [`remove_keys`]: the same profiles, the listed ones
/// without [`KEY_PROPERTIES`] and with their other common properties unchanged, every other
/// profile exactly as before. The error names a profile and a property, never a value.
pub fn check_removed(
    before: &ProfileSet,
    after: &ProfileSet,
    profiles: &[String],
) -> Result<(), String> {
    let names = |s: &ProfileSet| {
        let mut v: Vec<String> = s.profiles().map(str::to_owned).collect();
        v.sort();
        v
    };
    if names(before) != names(after) {
        return Err("the set of profiles changed".into());
    }
    for name in names(before) {
        let (b, a) = (before.get_profile(&name), after.get_profile(&name));
        if !profiles.contains(&name) {
            if b != a {
                return Err(format!("profile {name:?} changed"));
            }
            continue;
        }
        let (Some(b), Some(a)) = (b, a) else {
            return Err(format!("profile {name:?} disappeared"));
        };
        if let Some(k) = KEY_PROPERTIES.iter().find(|k| a.get(k).is_some()) {
            return Err(format!("profile {name:?} still has {k}"));
        }
        if let Some(k) = COMMON_PROPERTIES.iter().find(|k| b.get(k) != a.get(k)) {
            return Err(format!("profile {name:?}: {k} changed"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
