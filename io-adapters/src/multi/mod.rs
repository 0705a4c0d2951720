//! The blocking UDP driver for a core [`Endpoint`](assoc_core::Endpoint): one socket and
//! one [`Database`] for every configured peer (issue #17).
//!
//! One driver thread owns the endpoint and the open session stores. It blocks on a single
//! channel until the endpoint's next deadline, handles everything that arrived (datagrams
//! from the socket reader, the application's acknowledgements), then drains
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

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use assoc_core::endpoint::EndpointStats;
use assoc_core::{Ack, Config, EndpointConfig, MessageId, Submission};
use bytes::Bytes;

use crate::api::{Delivery, Error, OutcomeReport};
use crate::store::Database;
use driver::Driver;

/// Messages queued for the driver thread before the socket reader and the application
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

/// What a [`Server`] runs with.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The UDP address to bind.
    pub bind: SocketAddr,
    /// The peer table.
    pub peers: Vec<PeerEntry>,
    /// The endpoint's memory bounds.
    pub endpoint: EndpointConfig,
    /// The endpoint's seed (`None`: fresh from the OS; set it only for tests).
    pub seed: Option<u64>,
    /// The socket's receive buffer in bytes (the kernel caps it at `net.core.rmem_max`).
    /// Datagrams beyond it are dropped by the kernel while the driver is busy: many peers
    /// opening at once send a burst that the default (about 200 KiB) cannot hold.
    pub recv_buffer: usize,
}

impl ServerOptions {
    /// Options with the default endpoint bounds, an OS seed and a 4 MiB receive buffer.
    pub fn new(bind: SocketAddr, peers: Vec<PeerEntry>) -> Self {
        ServerOptions { bind, peers, endpoint: EndpointConfig::default(), seed: None, recv_buffer: 4 << 20 }
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

/// The server's counters.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// The core endpoint's counters (routing, stateless answers, restores, evictions).
    pub endpoint: EndpointStats,
    /// Sessions in memory now.
    pub live_sessions: usize,
    /// Group commits written (each covers every session drained together).
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
    Submit { sid: u32, submission: Submission, reply: mpsc::Sender<Result<MessageId, Error>> },
    Ack { sid: u32, ack: Ack },
    Stats(mpsc::Sender<ServerStats>),
    Shutdown,
}

struct Inner {
    tx: SyncSender<Msg>,
    thread: Mutex<Option<JoinHandle<Result<ServerStats, Error>>>>,
    local_addr: SocketAddr,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
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
    /// Builds the endpoint from the peer table, binds the socket, restores the sessions
    /// with unacknowledged deliveries or outcomes and starts the driver thread.
    pub fn start(options: ServerOptions, db: Database) -> Result<(Server, Incomings), Error> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(CHANNEL);
        let (itx, irx) = mpsc::channel();
        let (driver, local_addr) = Driver::new(options, db, rx, tx.clone(), itx)?;
        let thread = std::thread::Builder::new().name("assoc-endpoint".into()).spawn(move || driver.run())?;
        let inner = Inner { tx, thread: Mutex::new(Some(thread)), local_addr };
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
            self.inner.tx.send(Msg::Submit { sid, submission, reply }).map_err(|_| Error::Stopped)?;
            waits.push(rx);
        }
        Ok(waits.into_iter().map(|rx| rx.recv().unwrap_or(Err(Error::Stopped))).collect())
    }

    /// The server's counters now.
    pub fn stats(&self) -> Result<ServerStats, Error> {
        let (tx, rx) = mpsc::channel();
        self.inner.tx.send(Msg::Stats(tx)).map_err(|_| Error::Stopped)?;
        rx.recv().map_err(|_| Error::Stopped)
    }

    /// Stops the driver (what is durable stays in the database; sessions are not released,
    /// peers see the association time out or reset) and returns the final counters, or the
    /// error that stopped it. Other handles stop working.
    pub fn shutdown(self) -> Result<ServerStats, Error> {
        let _ = self.inner.tx.send(Msg::Shutdown);
        crate::blocking::net::join_driver(&self.inner.thread)
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
