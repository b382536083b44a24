use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    limit_malloc_arenas();
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

/// Two glibc malloc arenas instead of eight per core. With the default, an hour with every
/// feature on grew RSS 8.7 % after minute 10 in steps of one thread's arena; with two arenas
/// it grew 2 % and stayed lower (`models/eval/soak-results.md`). Called
/// before any thread starts; a `MALLOC_ARENA_MAX` set by the user wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator tuning; no thread exists yet to race with.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
