//! `assoc`: run an assoc session endpoint from the command line.
//!
//! ```text
//! assoc serve --listen ADDR --store PATH --name NAME --peer NAME --psk-file F [--out DIR]
//! assoc serve --listen ADDR --store PATH --name NAME --peers PEERS.toml [--out DIR]
//! assoc send  --to ADDR     --store PATH --name NAME --peer NAME --psk-file F [--file F]...
//! assoc queue --store PATH   (every session of the file)
//! assoc relay --listen ADDR --to ADDR [--loss P --dup P --reorder P --jitter-ms MS ...]
//! assoc replay FILE --psk-file F [--until N]
//! ```

mod common;
mod queue;
mod relay;
mod replay;
mod send;
mod serve;
mod serve_peers;

use clap::{Parser, Subcommand};

/// Message transfer between two named peers that survives reordering, loss, duplication,
/// link drops and crashes.
#[derive(Parser, Debug)]
#[command(name = "assoc", version, about)]
struct Cli {
    /// More logging (-v: associations, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Listen for the peer; print delivered messages (or write them to --out).
    Serve(serve::ServeArgs),
    /// Send files or stdin lines to the peer and wait for every outcome.
    Send(send::SendArgs),
    /// Show a store's queue, inbound progress, inbox and outcomes.
    Queue(queue::QueueArgs),
    /// Relay UDP between two endpoints through an impairment shim.
    Relay(relay::RelayArgs),
    /// Re-run a recording (`--record`) through a fresh core; check every output is identical.
    Replay(replay::ReplayArgs),
}

fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    // Colour escapes only for a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_max_level(level)
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Queue(args) => queue::run(args),
        Command::Replay(args) => replay::run(args),
        command => match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt.block_on(async move {
                match command {
                    Command::Serve(a) => serve::run(a).await,
                    Command::Send(a) => send::run(a).await,
                    Command::Relay(a) => relay::run(a).await,
                    Command::Queue(_) | Command::Replay(_) => Ok(0),
                }
            }),
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("assoc: error: {e}");
            std::process::exit(1);
        }
    }
}
