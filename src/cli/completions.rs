//! `vault completions SHELL`.

use clap::CommandFactory;

use crate::error::Result;

/// Arguments of `vault completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Prints the completion script on stdout.
pub fn run(args: Args) -> Result<()> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "vault", &mut std::io::stdout());
    Ok(())
}
