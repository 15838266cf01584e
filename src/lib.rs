//! `vault`: an encrypted credential vault for AWS.
//!
//! The binary (`main.rs`) is thin; everything lives here: `vault` (crypto, items, the sealed
//! store), `cli` (one file per subcommand), `passphrase` (where passphrases come from),
//! `creds` (credentials for children), `error` (errors and exit codes).

pub mod agent;
pub mod aws;
pub mod browser;
pub mod cli;
pub mod creds;
pub mod error;
pub mod exec;
pub mod front;
#[doc(hidden)]
pub mod fuzzing;
pub mod passphrase;
pub mod secret;
pub mod settings;
pub mod sso;
pub mod unlock;
pub mod vault;

/// Escapes control characters in untrusted text (profile names, ARNs) before it reaches a
/// terminal, so a crafted name cannot move the cursor or retitle the window.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Like [`sanitize`], but keeps the newlines that separate an error from its hint.
pub fn sanitize_message(s: &str) -> String {
    s.split('\n').map(sanitize).collect::<Vec<_>>().join("\n")
}
