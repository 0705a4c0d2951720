//! Types shared by both drivers' application APIs: options, deliveries, outcomes,
//! snapshots and errors.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use assoc_core::{
    Config, ConfigError, Instant, LinkState, MessageId, Outcome, SessionState, Stats, SubmitError, Timer,
};
use bytes::Bytes;

use crate::store::{Ack, StoreError};
use assoc_core::impair::{ImpairStats, Impairment};

/// Which bearer carries the PDUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bearer {
    /// UDP datagrams, one PDU each. The socket is bound at start and the bearer is up from
    /// then on; a `Dial` succeeds at once when the peer's address is known.
    Udp {
        /// Local address to bind (port 0: any).
        bind: SocketAddr,
        /// The peer's address. `None`: learn it from the last datagram the session accepted
        /// (a listening endpoint).
        peer: Option<SocketAddr>,
    },
    /// TCP with a 4-byte length prefix per PDU; every dial opens a new connection, and
    /// frames still arriving on older connections are handed to the session too.
    Tcp {
        /// Accept connections here (`None`: never accept).
        listen: Option<SocketAddr>,
        /// Dial the peer here when the session asks (`None`: never dial).
        peer: Option<SocketAddr>,
    },
}

/// Everything a driver needs besides the store.
#[derive(Clone, Debug)]
pub struct Options {
    /// The session's configuration (names, PSK, timers).
    pub config: Config,
    /// The bearer.
    pub bearer: Bearer,
    /// Impair outgoing PDUs (tests and demos).
    pub impairment: Option<Impairment>,
    /// Seed of the impairment's decisions: the same seed and the same sends impair alike.
    pub impairment_seed: u64,
    /// Seed for the session's tags and nonces; `None`: fresh from the OS (use that in
    /// production — with a real crypto suite the seed must be secret and fresh).
    pub seed: Option<u64>,
    /// Drop a TCP connection that delivers no complete frame for this long (stalled or
    /// garbage clients).
    pub idle_timeout: std::time::Duration,
    /// Most TCP connections held at once; the oldest unused one is dropped for a new one.
    pub max_connections: usize,
    /// How long a graceful shutdown waits for the association's orderly release.
    pub shutdown_grace: std::time::Duration,
    /// Record every input the session is handed, for `assoc replay` (off: `None`).
    pub record: Option<crate::recorder::RecordOptions>,
}

impl Options {
    /// Options with the defaults: no impairment, an OS seed, 90 s idle timeout, 16
    /// connections, 3 s shutdown grace, no recording. (Per-source INIT limits are the core's:
    /// `config.source_limits`.)
    pub fn new(config: Config, bearer: Bearer) -> Self {
        Options {
            config,
            bearer,
            impairment: None,
            impairment_seed: 0,
            seed: None,
            idle_timeout: std::time::Duration::from_secs(90),
            max_connections: 16,
            shutdown_grace: std::time::Duration::from_secs(3),
            record: None,
        }
    }
}

/// Sends an acknowledgement to the driver that owns the store.
#[derive(Clone)]
pub(crate) struct Acker(pub(crate) Arc<dyn Fn(Ack) + Send + Sync>);

impl fmt::Debug for Acker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Acker")
    }
}

/// A message from the peer, durably in the store's inbox. It stays there — and is handed
/// over again after a restart — until [`ack`](Delivery::ack)ed.
#[derive(Clone)]
pub struct Delivery {
    /// Its msn: unique per direction and increasing in delivery order, so an application
    /// that processes deliveries idempotently can key on it.
    pub msn: u64,
    /// The sending application's id.
    pub app_id: u64,
    /// The content, byte for byte as submitted.
    pub bytes: Bytes,
    pub(crate) acker: Acker,
}

impl Delivery {
    /// Tells the store the application is done with it (removed from the inbox).
    pub fn ack(&self) {
        (self.acker.0)(Ack::Delivery(self.msn));
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delivery(msn={} app={} {} bytes)", self.msn, self.app_id, self.bytes.len())
    }
}

/// The final outcome of a submitted message, durably in the store's outcome log until
/// [`ack`](OutcomeReport::ack)ed. Exactly one per message.
#[derive(Clone)]
pub struct OutcomeReport {
    /// The session's id for the message.
    pub id: MessageId,
    /// The application's id for it.
    pub app_id: u64,
    /// What happened.
    pub outcome: Outcome,
    pub(crate) acker: Acker,
}

impl OutcomeReport {
    /// Tells the store the application is done with it (removed from the outcome log).
    pub fn ack(&self) {
        (self.acker.0)(Ack::Outcome(self.id));
    }
}

impl fmt::Debug for OutcomeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Outcome({:?} app={} {:?})", self.id, self.app_id, self.outcome)
    }
}

/// Counters of the driver's bearer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    /// PDUs received (datagrams or frames).
    pub pdus_in: u64,
    /// PDUs handed to the socket.
    pub pdus_out: u64,
    /// PDUs the session dropped (undecodable, stale, replayed, failed authentication, over
    /// their source's INIT budget, …): the core's verdict, counted here per bearer.
    pub pdus_refused: u64,
    /// PDUs that could not be sent (no bearer, no peer address, full socket queue).
    pub send_failures: u64,
    /// TCP connections accepted.
    pub accepted: u64,
    /// TCP connections dialed successfully.
    pub dialed: u64,
    /// Dials that failed.
    pub dial_failures: u64,
    /// TCP connections dropped for a bad length prefix, garbage, or stalling.
    pub connections_dropped: u64,
    /// Link drops forced through the API.
    pub forced_drops: u64,
}

/// What the driver holds of the bearer right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BearerState {
    /// TCP connections open (0 for UDP).
    pub connections: usize,
    /// Whether PDUs have somewhere to go: a current TCP connection, or a UDP peer address.
    pub current: bool,
    /// Whether a dial is in progress.
    pub dialing: bool,
}

/// A view of the endpoint for progress displays, tests and operators.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Where the session stands.
    pub state: SessionState,
    /// The bearer as the session believes it to be.
    pub link: LinkState,
    /// The session's epoch.
    pub epoch: u64,
    /// Submitted messages without an outcome.
    pub unresolved: usize,
    /// Their bytes.
    pub unresolved_bytes: u64,
    /// Of those bytes, how many the peer reported durably received.
    pub acked_bytes: u64,
    /// Durably received bytes of inbound messages not yet delivered.
    pub inbound_partial_bytes: u64,
    /// Declared length of those inbound messages.
    pub inbound_expected_bytes: u64,
    /// Deliveries handed to the application since start (including re-handed ones).
    pub delivered: u64,
    /// Outcomes handed to the application since start (including re-handed ones).
    pub outcomes: u64,
    /// Write transactions committed since start.
    pub commits: u64,
    /// Records made durable since start.
    pub records: u64,
    /// B-tree operations (table inserts and removes) the store made since start.
    pub store_ops: u64,
    /// The core's counters (retransmissions are `packets_lost` + `probes`).
    pub core: Stats,
    /// The bearer's counters.
    pub io: IoStats,
    /// The impairment shim's counters, when one is in use.
    pub shim: Option<ImpairStats>,
    /// The bearer as the driver holds it.
    pub bearer: BearerState,
    /// The session's armed timers and their deadlines.
    pub timers: Vec<(Timer, Instant)>,
    /// The driver's clock when the snapshot was taken.
    pub now: Instant,
}

/// Why an endpoint operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The durable store failed; the endpoint stopped.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A socket operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The session configuration is invalid.
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// The session refused the submission; nothing was queued.
    #[error("submission refused: {0}")]
    Submit(#[from] SubmitError),
    /// No unresolved message has this id.
    #[error("no unresolved message {0:?}")]
    UnknownMessage(MessageId),
    /// The flight recorder could not start (see [`Options::record`]).
    #[error("recorder: {0}")]
    Recorder(std::io::Error),
    /// The many-peer endpoint refused its configuration (an invalid bound, a duplicate
    /// session id in the peer table).
    #[error("endpoint: {0}")]
    Endpoint(Box<assoc_core::EndpointError>),
    /// The endpoint has stopped (shut down, or failed: see the driver's result).
    #[error("endpoint stopped")]
    Stopped,
    /// The bearer's local address could not be bound (in use, not local, wrong family).
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
}
