use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Colour only for a person at a terminal who has not asked for none (https://no-color.org).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("SQUINT_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(colour)
        .with_writer(|| squint::redact::RedactingWriter(std::io::stderr()))
        .init();
    match squint::cli::dispatch(squint::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let message = squint::cli::describe_error(&error);
            eprintln!("Error: {}", squint::redact::redact_credentials(&message));
            ExitCode::FAILURE
        }
    }
}
