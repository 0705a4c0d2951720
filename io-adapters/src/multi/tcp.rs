//! The many-peer server over TCP: one listener for every peer. Each accepted connection
//! is [`Remote::Conn`](assoc_core::Remote::Conn)`(id)` to the core; its frames (the
//! one-session drivers' framing, `frame.rs`) are handed, like datagrams, to the shard
//! owning the session id the core's `route_key` reads, and that shard's endpoint decides
//! which session — if any — the connection serves. The connection table is the
//! one-session drivers' [`Links`], in its endpoint form, shared by the shards: bounded at
//! `max_connections` (the oldest unused connection makes room), a connection whose first
//! PDUs are all refused is dropped, and one with no complete frame for `idle` is closed.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{shard, Msg};
use crate::blocking::net::{self, ConnEvent, StdConn};
use crate::links::Links;

/// The server's TCP connections, shared by the acceptor, the connection readers and the
/// shards (which send on them and report each PDU's verdict).
#[derive(Clone)]
pub(super) struct Conns(Arc<Mutex<Links<StdConn>>>);

impl Conns {
    /// The table; a poisoned lock (a panicked holder) still yields it: the table has no
    /// invariant a half-done update could break beyond a connection left open.
    pub(super) fn lock(&self) -> MutexGuard<'_, Links<StdConn>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Starts accepting on `listener`: every connection gets its reader and writer threads
/// and a place in the table; its frames go to the owning shard as [`Msg::Frame`].
pub(super) fn listen(
    listener: TcpListener,
    shards: Vec<SyncSender<Msg>>,
    stop: Arc<AtomicBool>,
    max_connections: usize,
    idle: Duration,
) -> (Conns, Option<JoinHandle<()>>) {
    let conns = Conns(Arc::new(Mutex::new(Links::for_endpoint(max_connections))));
    let table = conns.clone();
    let ids = Arc::new(AtomicU64::new(1));
    let acceptor = net::acceptor(listener, stop.clone(), ids, move |conn, stream| {
        // Held while the connection starts, so its first frame cannot reach a shard (and
        // be answered) before it is in the table.
        let mut links = table.lock();
        match net::connection(conn, stream, stop.clone(), idle, reader(conn, shards.clone(), table.clone())) {
            // The threads end with the connection (or at the stop flag); nobody joins them.
            Ok((handle, _threads)) => drop(links.accepted(conn, handle)),
            Err(e) => tracing::warn!(conn, "accepted connection unusable: {e}"),
        }
        true
    });
    (conns, acceptor)
}

/// What connection `conn`'s reader does with a frame (to the owning shard) and with its
/// end (out of the table).
fn reader(conn: u64, shards: Vec<SyncSender<Msg>>, conns: Conns) -> impl FnMut(ConnEvent) -> bool + Send {
    move |event| match event {
        ConnEvent::Frame(bytes) => {
            let i = match shards.len() {
                1 => 0,
                n => assoc_core::endpoint::route_key(&bytes).map_or(0, |sid| shard::shard_of(sid, n)),
            };
            shards[i].send(Msg::Frame { conn, bytes }).is_ok()
        }
        ConnEvent::Closed { garbage } => {
            tracing::debug!(conn, garbage, "connection closed");
            let _ = conns.lock().closed(conn);
            false
        }
    }
}
