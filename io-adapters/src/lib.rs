//! # assoc-io
//!
//! Drivers that run an [`assoc_core::Session`] over real sockets and a real disk. They move
//! bytes and time and hold no protocol logic: every decision is the core's.
//!
//! * [`blocking`] (feature `std`): one driver thread, blocking on a channel with the
//!   timeout from the deadline the last drain ended with (`Output::Wait`).
//! * [`tokio`] (feature `tokio`): one task, `select!` over the socket,
//!   commands and a single reusable sleep.
//! * Bearers ([`Bearer`]): UDP datagrams, or TCP with a 4-byte big-endian length per PDU,
//!   a new connection per dial, and frames of older connections still handed to the
//!   session. Dial on demand: the driver opens a bearer when the core outputs
//!   `BearerRequest::Dial` and hangs up on `HangUp`.
//! * [`Store`]: the session's durable state in [`redb`], one write transaction per write
//!   barrier, restored with [`Session::restore`](assoc_core::Session::restore) on start.
//!   Delivered messages land in the store's inbox in the same transaction as their
//!   `Delivered` record; outcomes likewise. Nothing acknowledged is ever lost. A
//!   [`Database`] holds many sessions, one namespace each, committed together; a
//!   [`Committer`](store::Committer) makes group commits on a thread of its own.
//! * [`Shim`]: the core's seeded impairment shim (loss, duplication, reordering, delay,
//!   rate limit; `assoc_core::impair`, shared with the core's sim) in front of either bearer.
//! * [`Clock`]: microseconds since the UNIX epoch, monotone within the process, because
//!   the core persists deadlines.
//!
//! ## The driver loop (both drivers, one shared implementation: `pump.rs`)
//!
//! The drivers only read sockets and spawn threads or tasks. Everything else — feeding each
//! PDU with its source (`Remote`) to the core, sending each transmit to the remote the core
//! names, dialling, link bookkeeping — is one module both use; no driver parses a PDU or
//! decides which address is the peer.
//!
//! ```text
//! loop {
//!     release due shim PDUs; flush:  drain poll_output() until Wait { until } —
//!         Persist  → collect;  Transmit → shim or socket;  Bearer → dial / hang up;
//!         Event    → inbox / outcome / submit replies / logs
//!       commit the collected records in ONE write transaction, Persisted { upto }, drain again
//!     wait for the first of: socket, command, min(until, shim release)
//!     read the clock; handle everything that arrived (batched); Timeout if due
//! }
//! ```
//!
//! * [`multi`]: the blocking UDP driver for the core's many-peer
//!   [`Endpoint`](assoc_core::Endpoint) — one socket and one [`Database`] for a whole peer
//!   table, one group commit per drain across sessions (issue #17).
//! * [`recorder`]: an optional flight recorder of every input the session is handed, and
//!   its replay, checked output by output.
//!
//! The `assoc` binary (feature `cli`) wraps all this: `assoc serve` (one peer, or a peer
//! table with `--peers`), `assoc send`,
//! `assoc queue`, an impairment `assoc relay` and `assoc replay`.

pub mod api;
#[cfg(feature = "std")]
pub mod blocking;
pub mod clock;
#[cfg(any(feature = "std", feature = "tokio"))]
mod engine;
pub mod frame;
#[cfg(any(feature = "std", feature = "tokio"))]
mod links;
#[cfg(feature = "std")]
pub mod multi;
#[cfg(any(feature = "std", feature = "tokio"))]
mod pump;
pub mod recorder;
#[cfg(any(feature = "std", feature = "tokio"))]
mod send_log;
pub mod store;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use api::{Bearer, BearerState, Delivery, Error, IoStats, Options, OutcomeReport, Snapshot};
/// The impairment emulator the drivers and `assoc relay` put on the transmit path: the
/// core's, so the sim and the real drivers share one implementation.
pub use assoc_core::impair::{ImpairStats, Impairment, Shim};
pub use clock::Clock;
pub use store::{Ack, Database, Store, StoreError, SyncMode};
