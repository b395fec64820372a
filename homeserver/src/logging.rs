//! Logging with tracing: pretty or JSON to the terminal, optionally also to
//! a daily-rotated file.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, LoggingConfig};

/// Installs the global subscriber. Keep the returned guard alive: dropping
/// it flushes and stops the file writer.
///
/// With `on_stderr` (the command-line tools, whose standard output is
/// their answer, JSON for scripts), the terminal log goes to standard error.
pub fn init(config: &LoggingConfig, on_stderr: bool) -> Result<Option<WorkerGuard>, String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(&config.level),
    }
    .map_err(|e| format!("invalid log filter: {e}"))?;

    let (file_layer, guard) = match &config.file_dir {
        Some(dir) => {
            let appender = tracing_appender::rolling::daily(dir, "lattice.log");
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer().json().with_ansi(false).with_writer(writer);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let terminal = match (config.format, on_stderr) {
        (LogFormat::Pretty, false) => {
            fmt::layer().with_ansi(std::io::stdout().is_terminal()).boxed()
        }
        (LogFormat::Pretty, true) => fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        (LogFormat::Json, false) => fmt::layer().json().with_ansi(false).boxed(),
        (LogFormat::Json, true) => {
            fmt::layer().json().with_ansi(false).with_writer(std::io::stderr).boxed()
        }
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(terminal)
        .with(file_layer)
        .try_init()
        .map_err(|e| e.to_string())?;
    Ok(guard)
}
