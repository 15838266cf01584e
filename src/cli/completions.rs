//! `vault completions SHELL`.

use clap::CommandFactory;

use crate::error::Result;

/// Arguments of `vault completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Prints the completion script on stdout (generated in memory first: clap_complete panics
/// on a failed write, e.g. to a closed pipe).
pub fn run(args: Args) -> Result<()> {
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "vault", &mut script);
    super::print(format_args!("{}", String::from_utf8_lossy(&script)))
}
