//! `assoc serve --peers PEERS.toml`: every peer of a table on one UDP socket (or, with
//! `--bearer tcp`, one TCP listener) and one database, through the many-peer driver
//! ([`assoc_io::multi`]).
//!
//! ```toml
//! [[peer]]
//! name = "mta-a"
//! psk_file = "a.key"          # relative to the table's directory
//! sid = 1
//! # addr = "192.0.2.7:7400"   # optional: else learned when the peer proves its key
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use assoc_io::multi::{Incoming, Incomings, PeerEntry, Server, ServerOptions, Transport};
use assoc_io::{Database, Delivery, SyncMode};
use serde::Deserialize;

use crate::common::{read_psk, stop_signal, BearerKind, Fallible};
use crate::serve::{hand_over, ServeArgs};

/// The peer table file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct PeerTable {
    peer: Vec<PeerRow>,
}

/// One peer of the table.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct PeerRow {
    /// The peer's name.
    name: String,
    /// Its pre-shared key file (relative paths: to the table's directory).
    psk_file: PathBuf,
    /// Its session id (unique in the table; both ends must agree).
    sid: u32,
    /// Where it is, if known.
    addr: Option<SocketAddr>,
}

/// Reads the table into the server's peer entries, and the names by session id.
fn load(args: &ServeArgs, table: &Path) -> Fallible<(Vec<PeerEntry>, BTreeMap<u32, String>)> {
    let text = std::fs::read_to_string(table).map_err(|e| format!("{}: {e}", table.display()))?;
    let rows: PeerTable = toml::from_str(&text).map_err(|e| format!("{}: {e}", table.display()))?;
    let base = table.parent().unwrap_or(Path::new("."));
    let (mut peers, mut names) = (Vec::new(), BTreeMap::new());
    for row in rows.peer {
        let psk = read_psk(&base.join(&row.psk_file)).map_err(|e| format!("peer {}: {e}", row.name))?;
        let config = args.session.config_for(&row.name, psk, row.sid)?;
        if names.insert(row.sid, row.name.clone()).is_some() {
            return Err(format!("{}: session id {} is used twice", table.display(), row.sid).into());
        }
        peers.push(PeerEntry { config, addr: row.addr });
    }
    Ok((peers, names))
}

pub(crate) async fn run(args: &ServeArgs, table: &Path) -> Fallible<i32> {
    let (peers, names) = load(args, table)?;
    let db = Database::open(&args.session.store).map_err(|e| {
        format!(
            "store {}: {e} (a running `assoc serve` holds it open; stop it first)",
            args.session.store.display()
        )
    })?;
    if args.session.no_fsync {
        db.set_sync(SyncMode::Os);
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = ServerOptions::new(args.listen, peers);
    options.seed = args.session.session_seed;
    if args.session.bearer == BearerKind::Tcp {
        options.transport = Transport::TCP;
    }
    if let Some(n) = args.threads {
        options.threads = usize::from(n);
    }
    let (server, incomings) = Server::start(options, db)?;
    eprintln!(
        "assoc: serving {} as {} for {} peers ({}); store {}",
        server.local_addr(),
        args.session.name,
        names.len(),
        table.display(),
        args.session.store.display()
    );
    let out = args.out.clone();
    let handler = std::thread::spawn(move || hand_over_all(&incomings, out.as_deref(), &names));
    stop_signal().await;
    eprintln!("assoc: shutting down");
    let stats = tokio::task::spawn_blocking(move || server.shutdown()).await??;
    let count = handler.join().map_err(|_| "the delivery thread panicked")??;
    eprintln!(
        "assoc: {count} messages delivered this run; {} datagrams in, {} sessions restored, {} group commits",
        stats.endpoint.datagrams_in, stats.endpoint.restores, stats.commits
    );
    Ok(0)
}

/// Hands every delivery over (to `out/<peer>/` or stdout, labelled with the peer), then
/// acknowledges it; outcomes are printed and acknowledged. Returns how many were delivered
/// once the server stops.
fn hand_over_all(incomings: &Incomings, out: Option<&Path>, names: &BTreeMap<u32, String>) -> Fallible<u64> {
    let mut count = 0;
    while let Some(item) = incomings.recv() {
        match item {
            Incoming::Delivery { sid, delivery } => {
                let name = names.get(&sid).map_or("?", String::as_str);
                let dir = out.map(|d| d.join(name));
                if let Some(dir) = &dir {
                    std::fs::create_dir_all(dir)?;
                }
                let batch: [Delivery; 1] = [delivery];
                hand_over(&batch, dir.as_deref(), Some(name))?;
                batch[0].ack();
                count += 1;
            }
            Incoming::Outcome { sid, report } => {
                eprintln!("assoc: session {sid}: message app id {} → {:?}", report.app_id, report.outcome);
                report.ack();
            }
            _ => {}
        }
    }
    Ok(count)
}
