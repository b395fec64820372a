//! Logging with tracing: pretty or JSON to the terminal, optionally also to
//! a daily-rotated file.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, LoggingConfig};

/// Installs the global subscriber. Keep the returned guard alive: dropping
/// it flushes and stops the file writer.
pub fn init(config: &LoggingConfig) -> Result<Option<WorkerGuard>, String> {
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
    let colour = std::io::stdout().is_terminal();
    let terminal = match config.format {
        LogFormat::Pretty => fmt::layer().with_ansi(colour).boxed(),
        LogFormat::Json => fmt::layer().json().with_ansi(false).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(terminal)
        .with(file_layer)
        .try_init()
        .map_err(|e| e.to_string())?;
    Ok(guard)
}
