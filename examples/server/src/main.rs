//! `beams-server`: the Beams HTTP API on one port. `beams-server --help` lists the flags.

use std::process::ExitCode;

use beams_server::Config;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match beams_server::run(config, beams_server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("beams-server: {error}");
            ExitCode::FAILURE
        }
    }
}
