//! Logging: journald when systemd connected our stderr to the journal, readable stderr
//! otherwise. Levels come from `-v` or `RUST_LOG`.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// systemd sets `JOURNAL_STREAM=<dev>:<inode>` for a service whose stderr is the journal.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Our crate at the chosen level; dependencies stay at warn unless RUST_LOG says otherwise.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,gittensor_miner_agent={default}")));
    let registry = tracing_subscriber::registry().with(filter);
    if stderr_is_journal() {
        if let Ok(journald) = tracing_journald::layer() {
            // Plain upper-case field names (VALIDATOR_UID, OUTCOME, COVERED…) for `journalctl FIELD=value`.
            registry
                .with(journald.with_syslog_identifier("gittensor-miner-agent".into()).with_field_prefix(None))
                .init();
            return;
        }
    }
    // Colour only for a person at a terminal, and never when NO_COLOR is set.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    registry.with(fmt::layer().with_writer(std::io::stderr).with_target(false).with_ansi(colour).compact()).init();
}
