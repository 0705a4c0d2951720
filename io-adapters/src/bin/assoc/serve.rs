//! `assoc serve`: listen for the peer and hand delivered messages to stdout or a directory.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assoc_io::tokio::Endpoint;
use assoc_io::Delivery;
use clap::Args;

use crate::common::{human, stop_signal, Fallible, RateMeter, SessionArgs};

/// Arguments of `assoc serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on (UDP socket or TCP listener).
    #[arg(long)]
    pub(crate) listen: SocketAddr,
    /// Write each delivered message to `DIR/<msn>-<app id>.msg` (atomically; a message
    /// handed over again after a crash overwrites its own file). Default: print to stdout.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Also dial the peer here when there is something to send (default: only answer).
    #[arg(long)]
    pub(crate) peer_addr: Option<SocketAddr>,
    /// Serve every peer of this table (TOML, `[[peer]]` rows with `name`, `psk_file`,
    /// `sid` and optionally `addr`) on one socket, with one database (`--store`) holding
    /// every session. Replaces `--peer`, `--psk-file` and `--sid`; UDP, or one TCP
    /// listener with `--bearer tcp`.
    #[arg(long, value_name = "PEERS.toml", conflicts_with_all = ["peer", "psk_file", "peer_addr", "record"])]
    pub(crate) peers: Option<PathBuf>,
    /// With `--peers`: driver threads, the sessions split among them by session id
    /// (default: one per available core).
    #[arg(long, requires = "peers", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

pub(crate) async fn run(args: ServeArgs) -> Fallible<i32> {
    if let Some(table) = &args.peers {
        return crate::serve_peers::run(&args, table).await;
    }
    let options = args.session.options(args.session.bearer(Some(args.listen), args.peer_addr))?;
    let store = args.session.open_store()?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)?;
    }
    let (endpoint, mut deliveries, mut outcomes) = Endpoint::start(options, store).await?;
    eprintln!(
        "assoc: serving {} as {} for peer {} over {:?}; store {}",
        endpoint.local_addr().map_or_else(|| args.listen.to_string(), |a| a.to_string()),
        args.session.name,
        args.session.peer.as_deref().unwrap_or_default(),
        args.session.bearer,
        args.session.store.display()
    );
    let mut progress = tokio::time::interval(Duration::from_secs(1));
    let stop = stop_signal();
    tokio::pin!(stop);
    let (mut count, mut bytes) = (0u64, 0u64);
    let (mut rate, mut last_received) = (RateMeter::default(), None);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            d = deliveries.recv() => match d {
                Some(d) => {
                    // Take whatever else is waiting too: one directory sync for the batch.
                    let mut batch = vec![d];
                    while batch.len() < 256 {
                        match deliveries.try_recv() {
                            Some(d) => batch.push(d),
                            None => break,
                        }
                    }
                    hand_over(&batch, args.out.as_deref(), None)?;
                    for d in batch {
                        d.ack();
                        count += 1;
                        bytes += d.bytes.len() as u64;
                    }
                }
                None => break,
            },
            o = outcomes.recv() => match o {
                Some(o) => {
                    eprintln!("assoc: message app id {} → {:?}", o.app_id, o.outcome);
                    o.ack();
                }
                None => break,
            },
            _ = progress.tick() => {
                let s = endpoint.snapshot().await?;
                let received = bytes + s.inbound_partial_bytes;
                // A message completing moves its bytes from "partial" to the inbox before
                // they are handed over here, so `received` can go down for a moment.
                let rate = RateMeter::show(rate.update(received));
                if last_received != Some(received) {
                    let partial = if s.inbound_expected_bytes > 0 {
                        format!(
                            "; receiving {} of {} ({:.0} %)",
                            human(s.inbound_partial_bytes),
                            human(s.inbound_expected_bytes),
                            100.0 * s.inbound_partial_bytes as f64 / s.inbound_expected_bytes as f64
                        )
                    } else {
                        String::new()
                    };
                    eprintln!(
                        "assoc: {count} messages delivered ({}){partial}; {rate}; epoch {}",
                        human(bytes),
                        s.epoch
                    );
                    last_received = Some(received);
                }
            }
        }
    }
    eprintln!("assoc: shutting down");
    // Hand over what the driver already delivered; anything later stays in the store's
    // inbox and is handed over at the next start.
    let mut batch = Vec::new();
    while let Some(d) = deliveries.try_recv() {
        batch.push(d);
    }
    hand_over(&batch, args.out.as_deref(), None)?;
    for d in batch {
        d.ack();
        count += 1;
    }
    let s = endpoint.shutdown().await?;
    eprintln!(
        "assoc: {count} messages delivered this run; {} pdus in, {} refused (garbage, stale or duplicate)",
        s.io.pdus_in, s.io.pdus_refused
    );
    Ok(0)
}

/// Writes deliveries where they belong; only then are they acknowledged. With `--out`,
/// each message is written to a temporary file, synced and renamed, and the directory is
/// synced once for the batch, so an acknowledged message is on disk. On stdout, each
/// message is prefixed with `label: ` if given (the peer, when serving many).
pub(crate) fn hand_over(batch: &[Delivery], out: Option<&Path>, label: Option<&str>) -> Fallible<()> {
    if batch.is_empty() {
        return Ok(());
    }
    match out {
        Some(dir) => {
            for d in batch {
                let name = format!("{:012}-{}.msg", d.msn, d.app_id);
                let tmp = dir.join(format!(".{name}.tmp"));
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&d.bytes)?;
                f.sync_all()?;
                std::fs::rename(&tmp, dir.join(&name))?;
            }
            std::fs::File::open(dir)?.sync_all()?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            for d in batch {
                if let Some(label) = label {
                    write!(stdout, "{label}: ")?;
                }
                match std::str::from_utf8(&d.bytes) {
                    Ok(text) if !text.chars().any(char::is_control) => writeln!(stdout, "{text}")?,
                    _ => writeln!(
                        stdout,
                        "[message {} (app id {}): {}]",
                        d.msn,
                        d.app_id,
                        human(d.bytes.len() as u64)
                    )?,
                }
            }
            stdout.flush()?;
        }
    }
    Ok(())
}
