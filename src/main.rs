//! The `vault` binary: parse, run, map the error to an exit code.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

fn main() -> ExitCode {
    let cli = match vault::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // vault's own decisions at -v; the SDK's chatter only at -vv.
    use tracing_subscriber::prelude::*;
    let (ours, sdk) = match cli.global.verbose {
        0 => (tracing::Level::WARN, tracing::Level::ERROR),
        1 => (tracing::Level::INFO, tracing::Level::ERROR),
        _ => (tracing::Level::DEBUG, tracing::Level::DEBUG),
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("vault", ours)
        .with_default(sdk);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .event_format(Line),
        )
        .with(filter)
        .init();
    match vault::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        // `vault list | head -1`: the reader went away; succeed quietly, like any filter.
        Err(vault::error::Error::StdoutClosed) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vault: {}", vault::sanitize_message(&e.report()));
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// `-v` lines as vault's other messages read: `vault: info: ...`, never indented.
struct Line;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Line
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(writer, "vault: {level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Help and version print as clap prints them; a usage error reads like every other vault
/// error (`vault: ...`, exit 2).
fn usage_error(e: clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    eprint!("vault: {}", text.strip_prefix("error: ").unwrap_or(&text));
    ExitCode::from(vault::error::ExitCode::Usage as u8)
}
