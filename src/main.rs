use std::process::ExitCode;

use clap::Parser;
use gittensor_miner_agent::{cli::Cli, commands, exit, github, harden, telemetry};

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process, before any client is built.
    github::install_tls_provider();
    let cli = Cli::parse();
    telemetry::init(cli.verbose);
    // Before anything secret is read: the PAT must not end up in a core file.
    for failed in harden::no_core_dumps() {
        tracing::warn!("{failed}: a core dump of this process could hold the PAT");
    }
    // One thread is plenty for a few hundred concurrent requests and keeps memory small.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::COULD_NOT_RUN);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    // A keyring or credential read stuck in a blocking thread must not hold the exit: the
    // answer is given, the process ends now.
    runtime.shutdown_background();
    ExitCode::from(code)
}
