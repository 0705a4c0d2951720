//! The blocking UDP driver for core [`Endpoint`](assoc_core::Endpoint)s: one socket and
//! one [`Database`] for every configured peer (issue #17), the sessions sharded over
//! [`ServerOptions::threads`] driver threads.
//!
//! ## Shards
//!
//! The peers are split by session id (a Fibonacci hash of the id, `shard.rs`) into
//! N shards, one per driver thread. Each shard is a whole many-peer driver: its own core
//! `Endpoint` holding only its peers, its own open session stores, its own channel. One
//! socket reader thread takes every datagram and hands it to the shard that owns the
//! session id in its header — read by the core's
//! [`route_key`](assoc_core::endpoint::route_key), so the adapter still parses no PDU;
//! bytes that are not a PDU go to shard 0, whose endpoint counts them. Submissions and
//! acknowledgements go to the owning shard the same way. Every shard sends on the one
//! socket (a `send_to` needs no lock) and commits to the one [`Database`].
//!
//! Why a dispatcher and not one `SO_REUSEPORT` socket per shard: the kernel spreads
//! datagrams over such sockets by their 4-tuple, not by session, so most datagrams would
//! land on a shard that does not hold their session and would have to be handed over
//! anyway, and a peer whose address changes would move between shards. With one reader
//! the hand-over happens once, where the datagram is read. For more cores than one reader
//! can feed, several readers on the same socket (each dispatching the same way) extend
//! the design without changing the shards.
//!
//! Bounds: each shard's endpoint gets a share of [`ServerOptions::endpoint`] (sessions in
//! memory in proportion to its peers, queued answers and INIT budgets split evenly; see
//! `shard.rs`), so the server as a whole stays within the configured bounds.
//!
//! The shards share the database: redb runs one write transaction at a time, so two
//! shards' group commits take turns (each still covers every session that shard drained
//! together); the CPU work of the sessions runs in parallel.
//!
//! ## TCP
//!
//! With [`Transport::Tcp`] one listener accepts connections from any peer; each is
//! `Remote::Conn(id)` to the core, its frames are routed to shards exactly as datagrams
//! are, and the endpoint decides which session a connection serves (an unknown or
//! unauthentic peer's connection gets nothing routed and is dropped once its first PDUs
//! are all refused). Connections are bounded and idle ones closed (`tcp.rs`).
//!
//! ## One shard's driver
//!
//! A driver thread owns its endpoint and open session stores. It blocks on its channel
//! until the endpoint's next deadline, handles everything that arrived (datagrams from the
//! socket reader, the application's acknowledgements), then drains
//! [`Endpoint::poll_output`](assoc_core::Endpoint::poll_output) until it returns
//! [`EndpointOutput::Wait`](assoc_core::EndpointOutput::Wait) with the next deadline:
//!
//! * `Persist` records of every session drained together are written in **one**
//!   [`Database::commit`] (group commit across sessions, one sync), then each session gets
//!   `Persisted { upto }`;
//! * `Transmit` goes to the remote the core named (`send_to`);
//! * events become [`Incoming`] deliveries and outcomes, tagged with the session id.
//!
//! When the endpoint asks for a session ([`Routed::NeedsSession`](assoc_core::Routed)), the
//! driver opens that session's namespace in the database, restores it and hands the
//! datagram in again. A session the endpoint evicted has its store closed; its state is in
//! the database. The driver parses no PDU and makes no protocol decision.
//!
//! At start, every session whose store holds deliveries or outcomes the application has not
//! acknowledged is restored at once, so they are handed over again (exactly as the
//! one-session driver does).
//!
//! ```no_run
//! use assoc_core::{Config, PeerName, Psk};
//! use assoc_io::multi::{Incoming, PeerEntry, Server, ServerOptions};
//! use assoc_io::Database;
//!
//! let me = PeerName::new(b"hub").unwrap();
//! let mut cfg = Config::new(me, PeerName::new(b"mta-a").unwrap(), Psk::new(b"a key of at least 16 bytes").unwrap());
//! cfg.sid = 1;
//! let options = ServerOptions::new("0.0.0.0:7400".parse().unwrap(), vec![PeerEntry { config: cfg, addr: None }]);
//! let (server, incoming) = Server::start(options, Database::open("hub.redb").unwrap()).unwrap();
//! for item in incoming.iter() {
//!     if let Incoming::Delivery { sid, delivery } = item {
//!         println!("{} bytes from session {sid}", delivery.bytes.len());
//!         delivery.ack();
//!     }
//! }
//! server.shutdown().unwrap();
//! ```

mod driver;
mod shard;
mod tcp;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use assoc_core::endpoint::EndpointStats;
use assoc_core::{Ack, Config, ConfigError, EndpointConfig, MessageId, Submission};
use bytes::Bytes;

use crate::api::{Delivery, Error, OutcomeReport};
use crate::blocking::net;
use crate::store::Database;
use driver::Driver;

/// Messages queued for each driver thread before the socket reader and the application
/// wait (memory stays bounded whatever peers send).
const CHANNEL: usize = 8192;

/// One configured peer of a [`Server`].
#[derive(Clone, Debug)]
pub struct PeerEntry {
    /// Its session's config (`sid` unique on the server; `local_name` is the server's).
    pub config: Config,
    /// Where the peer is, if known; otherwise learned from its first authenticated PDU.
    pub addr: Option<SocketAddr>,
}

/// How a [`Server`] talks to its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// One UDP socket, one PDU per datagram.
    Udp,
    /// One TCP listener; PDUs framed with a 4-byte length, as the one-session drivers do.
    Tcp {
        /// Most connections held at once (≥ 1); the oldest that carried no accepted PDU
        /// is closed to make room for a new one.
        max_connections: usize,
        /// A connection with no complete frame for this long is closed.
        idle: std::time::Duration,
    },
}

impl Transport {
    /// TCP with up to 1,024 connections, closed after 90 s without a frame.
    pub const TCP: Transport =
        Transport::Tcp { max_connections: 1024, idle: std::time::Duration::from_secs(90) };
}

/// What a [`Server`] runs with.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The address to bind (the UDP socket or the TCP listener).
    pub bind: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// The peer table.
    pub peers: Vec<PeerEntry>,
    /// The endpoint's memory bounds, for the whole server (each shard gets a share).
    pub endpoint: EndpointConfig,
    /// Driver threads, each owning the sessions whose id hashes to it (≥ 1; see the
    /// module docs).
    pub threads: usize,
    /// The endpoint's seed (`None`: fresh from the OS; set it only for tests).
    pub seed: Option<u64>,
    /// UDP only: the socket's receive buffer in bytes (the kernel caps it at `net.core.rmem_max`).
    /// Datagrams beyond it are dropped by the kernel while the driver is busy: many peers
    /// opening at once send a burst that the default (about 200 KiB) cannot hold.
    pub recv_buffer: usize,
}

impl ServerOptions {
    /// Options with the default endpoint bounds, one driver thread per available core,
    /// an OS seed and a 4 MiB receive buffer.
    pub fn new(bind: SocketAddr, peers: Vec<PeerEntry>) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        ServerOptions {
            bind,
            transport: Transport::Udp,
            peers,
            endpoint: EndpointConfig::default(),
            threads,
            seed: None,
            recv_buffer: 4 << 20,
        }
    }
}

/// Something for the application from one session.
#[derive(Debug)]
#[non_exhaustive]
pub enum Incoming {
    /// A message from peer `sid`, durably in its inbox until acknowledged.
    Delivery {
        /// The session it came on.
        sid: u32,
        /// The message.
        delivery: Delivery,
    },
    /// The final outcome of a message submitted on session `sid`.
    Outcome {
        /// The session.
        sid: u32,
        /// The outcome.
        report: OutcomeReport,
    },
}

/// The server's counters, summed over its shards.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// The core endpoint's counters (routing, stateless answers, restores, evictions).
    pub endpoint: EndpointStats,
    /// Sessions in memory now.
    pub live_sessions: usize,
    /// Group commits written (each covers every session one shard drained together).
    pub commits: u64,
    /// Records written.
    pub records: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Datagrams that could not be sent (or named no UDP address).
    pub send_failures: u64,
    /// Messages delivered to the application.
    pub delivered: u64,
}

/// Everything that reaches the driver thread.
enum Msg {
    Datagram { from: SocketAddr, bytes: Bytes },
    Frame { conn: u64, bytes: Bytes },
    Submit { sid: u32, submission: Submission, reply: mpsc::Sender<Result<MessageId, Error>> },
    Ack { sid: u32, ack: Ack },
    Stats(mpsc::Sender<ServerStats>),
    Shutdown,
}

struct Inner {
    /// One channel per shard, indexed by [`shard::shard_of`].
    shards: Vec<SyncSender<Msg>>,
    threads: Mutex<Vec<JoinHandle<Result<ServerStats, Error>>>>,
    /// The socket reader or the TCP acceptor.
    reader: Mutex<Option<JoinHandle<()>>>,
    conns: Option<tcp::Conns>,
    stop: Arc<AtomicBool>,
    local_addr: SocketAddr,
}

impl Inner {
    fn shard(&self, sid: u32) -> &SyncSender<Msg> {
        &self.shards[shard::shard_of(sid, self.shards.len())]
    }

    /// Stops the reader and every shard; the shards' final counters summed, or the first
    /// error that stopped one.
    fn stop(&self) -> Result<ServerStats, Error> {
        self.stop.store(true, Ordering::Relaxed);
        for tx in &self.shards {
            let _ = tx.send(Msg::Shutdown);
        }
        let threads = self.threads.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
        if threads.is_empty() {
            return Err(Error::Stopped);
        }
        let mut total = ServerStats::default();
        let mut first_error = None;
        for t in threads {
            match t.join().unwrap_or(Err(Error::Stopped)) {
                Ok(stats) => shard::add(&mut total, &stats),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // A shard that stopped dropped its channel, so the reader is never stuck on it.
        if let Some(reader) = self.reader.lock().ok().and_then(|mut r| r.take()) {
            let _ = reader.join();
        }
        if let Some(conns) = &self.conns {
            conns.lock().close_all();
        }
        first_error.map_or(Ok(total), Err)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for tx in &self.shards {
            let _ = tx.send(Msg::Shutdown);
        }
    }
}

/// A handle to a running many-peer server. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

/// Deliveries and outcomes of every session, in the order the sessions produced them.
pub struct Incomings {
    rx: Receiver<Incoming>,
}

impl Server {
    /// Splits the peer table over [`ServerOptions::threads`] shards, builds each shard's
    /// endpoint, binds the socket, restores the sessions with unacknowledged deliveries or
    /// outcomes and starts the driver threads and the socket reader.
    pub fn start(options: ServerOptions, db: Database) -> Result<(Server, Incomings), Error> {
        let n = options.threads;
        if n == 0 {
            return Err(ConfigError::Invalid { field: "threads", reason: "must be at least 1" }.into());
        }
        if matches!(options.transport, Transport::Tcp { max_connections: 0, .. }) {
            return Err(
                ConfigError::Invalid { field: "max_connections", reason: "must be at least 1" }.into()
            );
        }
        let bind = options.bind;
        let bind_error = |source| Error::Bind { addr: bind, source };
        let (udp, listener) = match options.transport {
            Transport::Udp => {
                let socket = UdpSocket::bind(bind).map_err(bind_error)?;
                if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(options.recv_buffer) {
                    tracing::warn!("udp receive buffer of {} bytes: {e}", options.recv_buffer);
                }
                (Some(socket), None)
            }
            Transport::Tcp { .. } => (None, Some(TcpListener::bind(bind).map_err(bind_error)?)),
        };
        let local_addr = match (&udp, &listener) {
            (Some(s), _) => s.local_addr()?,
            (_, Some(l)) => l.local_addr()?,
            (None, None) => unreachable!("one of the two was bound above"),
        };
        let mut tables: Vec<Vec<PeerEntry>> = vec![Vec::new(); n];
        let total = options.peers.len();
        for p in options.peers {
            tables[shard::shard_of(p.config.sid, n)].push(p);
        }
        let base_seed = options.seed.unwrap_or_else(crate::clock::os_seed);
        let stop = Arc::new(AtomicBool::new(false));
        let channels: Vec<_> = (0..n).map(|_| mpsc::sync_channel::<Msg>(CHANNEL)).collect();
        let shards: Vec<SyncSender<Msg>> = channels.iter().map(|(tx, _)| tx.clone()).collect();
        let (reader, conns) = match (udp.as_ref(), listener, options.transport) {
            (Some(socket), _, _) => {
                let txs = shards.clone();
                let reader = net::udp_reader(socket.try_clone()?, stop.clone(), move |from, bytes| {
                    let i = match txs.len() {
                        1 => 0,
                        n => assoc_core::endpoint::route_key(&bytes).map_or(0, |sid| shard::shard_of(sid, n)),
                    };
                    // A shard that stopped (its error is reported by `shutdown`) loses its
                    // datagrams; the others go on.
                    let _ = txs[i].send(Msg::Datagram { from, bytes });
                    true
                });
                (reader, None)
            }
            (None, Some(listener), Transport::Tcp { max_connections, idle }) => {
                let (conns, acceptor) =
                    tcp::listen(listener, shards.clone(), stop.clone(), max_connections, idle);
                (acceptor, Some(conns))
            }
            _ => unreachable!("a listener is bound exactly for TCP"),
        };
        let (itx, irx) = mpsc::channel();
        let mut drivers = Vec::with_capacity(n);
        for (i, (peers, (tx, rx))) in tables.into_iter().zip(channels).enumerate() {
            let shard = driver::Shard {
                endpoint: shard::share(options.endpoint, n, peers.len(), total),
                // Distinct per shard: cookie secrets and session seeds must not repeat.
                seed: base_seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                peers,
            };
            let wire = match (&udp, &conns) {
                (Some(socket), _) => socket.try_clone().map(driver::Wire::Udp).map_err(Error::from),
                (None, Some(conns)) => Ok(driver::Wire::Tcp(conns.clone())),
                (None, None) => unreachable!("one of the two was bound above"),
            };
            match wire.and_then(|wire| Driver::new(shard, db.clone(), wire, rx, tx, itx.clone())) {
                Ok(driver) => drivers.push(driver),
                Err(e) => {
                    // The reader or acceptor is running already: stop it.
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        let mut threads = Vec::with_capacity(n);
        for (i, driver) in drivers.into_iter().enumerate() {
            let name = format!("assoc-endpoint-{i}");
            threads.push(std::thread::Builder::new().name(name).spawn(move || driver.run())?);
        }
        let inner = Inner {
            shards,
            threads: Mutex::new(threads),
            reader: Mutex::new(reader),
            conns,
            stop,
            local_addr,
        };
        Ok((Server { inner: Arc::new(inner) }, Incomings { rx: irx }))
    }

    /// The bound socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Submits messages, each to its session (`(sid, submission)`; app id 0: a fresh one),
    /// and returns once each has durable custody (or was refused), one result per
    /// submission in order. Idempotent per app id and session, as
    /// [`blocking::Endpoint::submit_with`](crate::blocking::Endpoint::submit_with). A session
    /// not in memory is loaded first; its outcomes come as [`Incoming::Outcome`].
    pub fn submit_many(
        &self,
        submissions: impl IntoIterator<Item = (u32, Submission)>,
    ) -> Result<Vec<Result<MessageId, Error>>, Error> {
        let mut waits = Vec::new();
        for (sid, submission) in submissions {
            let (reply, rx) = mpsc::channel();
            self.inner.shard(sid).send(Msg::Submit { sid, submission, reply }).map_err(|_| Error::Stopped)?;
            waits.push(rx);
        }
        Ok(waits.into_iter().map(|rx| rx.recv().unwrap_or(Err(Error::Stopped))).collect())
    }

    /// The server's counters now, summed over the shards.
    pub fn stats(&self) -> Result<ServerStats, Error> {
        let mut waits = Vec::with_capacity(self.inner.shards.len());
        for tx in &self.inner.shards {
            let (reply, rx) = mpsc::channel();
            tx.send(Msg::Stats(reply)).map_err(|_| Error::Stopped)?;
            waits.push(rx);
        }
        let mut total = ServerStats::default();
        for rx in waits {
            shard::add(&mut total, &rx.recv().map_err(|_| Error::Stopped)?);
        }
        Ok(total)
    }

    /// Stops the driver threads (what is durable stays in the database; sessions are not
    /// released, peers see the association time out or reset) and returns the final
    /// counters, or the first error that stopped a shard. Other handles stop working.
    pub fn shutdown(self) -> Result<ServerStats, Error> {
        self.inner.stop()
    }
}

impl Incomings {
    /// The next item; `None` once the server stopped.
    pub fn recv(&self) -> Option<Incoming> {
        self.rx.recv().ok()
    }

    /// The next item, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Result<Incoming, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// Blocking iteration until the server stops.
    pub fn iter(&self) -> impl Iterator<Item = Incoming> + '_ {
        self.rx.iter()
    }
}
