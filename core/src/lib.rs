//! # assoc-core
//!
//! A sans-IO association/session state machine for message transfer between two named
//! peers, and its wire codec. It stays correct when the bearer loses, duplicates, reorders,
//! delays or replays PDUs — including PDUs from earlier connections — because a PDU's
//! meaning is a function of the identifiers it carries (`sid`, tags, `epoch`, `pn`), never
//! of when it arrives. A PDU that matches nothing current is counted and dropped; it is
//! never an error that tears anything down.
//!
//! No sockets, no clock, no threads, no entropy: time comes in as [`Instant`] arguments,
//! randomness as a seed, and everything the session wants done comes out of
//! [`Session::poll_output`].
//!
//! ## The drain contract
//!
//! * **Inputs**: [`Session::handle_input`] with the current time and one [`Input`]
//!   (a received datagram and its [`Remote`], `Timeout`, `Persisted`, link up/down, a
//!   command). It returns a [`Verdict`]: accepted (authentic, or local), answered
//!   statelessly, or dropped for a named [`DropReason`] — never to be inferred from `Ok`.
//!   Time enters only as [`Input::Timeout`]: the clock reached a deadline.
//! * **Outputs**: after every input, drain: call [`Session::poll_output`] until it returns
//!   [`Output::Wait`]`{ until }`. Then wait for the next input, and feed
//!   `handle_input(until, Input::Timeout)` if the clock reaches `until` first (`None`: no
//!   timer is armed). One loop, one way for time to come in:
//!
//!   ```
//!   # use assoc_core::{Input, Instant, Output, Session};
//!   fn drain(s: &mut Session, now: Instant) -> Option<Instant> {
//!       loop {
//!           match s.poll_output() {
//!               Output::Wait { until } => break until,
//!               Output::Persist { seq, .. } => {
//!                   // Write the record durably, then:
//!                   s.handle_input(now, Input::Persisted { upto: seq }).unwrap();
//!               }
//!               _other => { /* transmit, tell the application, dial or hang up */ }
//!           }
//!       }
//!   }
//!   ```
//! * **Write barrier**: an [`Output::Persist`] record must be made durable, in sequence
//!   order, and reported with [`Input::Persisted`]. Outputs queued after a record are held
//!   back until it is durable, so nothing visible depends on state a crash could lose.
//!   Reporting a sequence number never issued is a driver bug, refused with
//!   [`InputError::PersistedBeyondIssued`]. [`record_codec`] encodes records and whole
//!   [`SessionStore`] snapshots for the disk.
//!
//! ## The bearer rules
//!
//! * [`Output::Bearer`]`(Dial)`: open a bearer, then answer [`Input::LinkUp`] or
//!   [`Input::DialFailed`]. `HangUp`: close it — the session already counts the link as
//!   down, so **no `LinkDown` follows a `HangUp`**. Report [`Input::LinkDown`] only for a
//!   bearer lost without being asked.
//! * The answering side sends `LinkUp` as soon as it can receive: a connectionless driver
//!   (UDP) once its socket is bound, a connection-oriented one when it accepts a connection.
//! * An [`Output::Transmit`] names its [`Remote`]: send it there, or drop it if that
//!   remote is gone (no bearer, a closed connection): the protocol retransmits what matters
//!   on the next association. The core decides which remote is the peer's
//!   ([`Session::peer_remote`]); a driver never does.
//!
//! ## The contract at the crash boundary
//!
//! * After a restart, [`Session::restore`] from the durable store with a fresh seed; then
//!   send `LinkUp` again once the bearer is up, and [`Input::Open`] again if the application
//!   holds an association open — neither is persisted.
//! * **Idempotent submission**: the application id is an idempotency key kept in the
//!   durable state. If the process died before [`Event::Queued`] (even after the
//!   `Submitted` record was durable), submit again with the same `app_id`: the session returns
//!   the existing message id ([`Session::submitted`] gives its state) instead of queuing a
//!   second message. Finished messages are remembered until their outcome is acknowledged,
//!   then for the last `Config::idempotency_window` acknowledged ones.
//! * **Events survive a restart until acknowledged**: every [`Event::Delivered`] and
//!   [`Event::Outcome`] the application has not acknowledged ([`Input::Acknowledge`] with an
//!   [`Ack`], persisted as a record) is reported again, with the same ids, by the restored
//!   session. Acknowledge after your own commit and skip ids you have committed: each
//!   delivery and outcome is then processed exactly once. A message holds its place among
//!   `max_queued_messages` until its outcome is acknowledged; deliveries pause while
//!   `max_queued_messages` of them wait unacknowledged.
//!
//! ## A run loop
//!
//! Two sessions wired back to back on virtual time (drivers do the same with sockets):
//!
//! ```
//! use assoc_core::{Ack, Config, Duration, Event, Input, Instant, Output, PeerName, Psk, Remote, Session};
//!
//! let psk = Psk::new(b"sixteen byte key").unwrap();
//! let (a, b) = (PeerName::new(b"mta-a").unwrap(), PeerName::new(b"mta-b").unwrap());
//! let mut sessions = [
//!     Session::new(Config::new(a, b, psk.clone()), 1).unwrap(),
//!     Session::new(Config::new(b, a, psk), 2).unwrap(),
//! ];
//! let mut now = Instant::ZERO;
//! // Each side names the other by a remote of the driver's choosing (here: its index).
//! for (i, s) in sessions.iter_mut().enumerate() {
//!     // A bound UDP socket with a configured peer address: the bearer is up.
//!     let peer = Some(Remote::Conn(1 - i as u64));
//!     s.handle_input(now, Input::LinkUp { peer }).unwrap();
//! }
//! sessions[0].handle_input(now, Input::Open).unwrap();
//! sessions[0].submit(now, assoc_core::Submission {
//!     app_id: 7, priority: assoc_core::Priority::Normal, deadline: None, bytes: "hello".into(),
//! }).unwrap();
//! let (mut up, mut delivered, mut outcomes) = (0, 0, 0);
//! // Each side's deadline from its last drain, and whether it had an input since.
//! let (mut deadlines, mut fed) = ([None; 2], [true; 2]);
//! for _ in 0..100 {
//!     while let Some(i) = fed.iter().position(|f| *f) {
//!         fed[i] = false;
//!         deadlines[i] = loop {
//!             match sessions[i].poll_output() {
//!                 // Drained: nothing more until an input or this deadline.
//!                 Output::Wait { until } => break until,
//!                 Output::Persist { seq, .. } => {
//!                     // A real driver writes the record durably first.
//!                     sessions[i].handle_input(now, Input::Persisted { upto: seq }).unwrap();
//!                 }
//!                 Output::Transmit(t) => {
//!                     // Every transmit names its remote; here it can only be the other side.
//!                     assert_eq!(t.to, Remote::Conn(1 - i as u64));
//!                     let from = Remote::Conn(i as u64);
//!                     // The verdict says what happened (accepted, answered, dropped and why).
//!                     let _ = sessions[1 - i].handle_input(now, Input::Datagram { from, datagram: t.datagram });
//!                     fed[1 - i] = true;
//!                 }
//!                 Output::Event(Event::AssociationUp { .. }) => up += 1,
//!                 // Commit what the application is told, then acknowledge it; until then
//!                 // a restored session reports it again.
//!                 Output::Event(Event::Delivered { msn, .. }) => {
//!                     delivered += 1;
//!                     sessions[i].handle_input(now, Input::Acknowledge(Ack::Delivery(msn))).unwrap();
//!                 }
//!                 Output::Event(Event::Outcome { id, .. }) => {
//!                     outcomes += 1;
//!                     sessions[i].handle_input(now, Input::Acknowledge(Ack::Outcome(id))).unwrap();
//!                 }
//!                 _ => {}
//!             }
//!         };
//!     }
//!     if up == 2 && outcomes == 1 {
//!         break;
//!     }
//!     // Both sides are drained: advance the clock to the earliest deadline; time comes in
//!     // only as `Input::Timeout`.
//!     now = deadlines.iter().flatten().copied().min().unwrap_or(now + Duration::from_secs(1));
//!     for (s, f) in sessions.iter_mut().zip(&mut fed) {
//!         s.handle_input(now, Input::Timeout).unwrap();
//!         *f = true;
//!     }
//! }
//! assert_eq!(up, 2, "both sides report the association up");
//! assert_eq!((delivered, outcomes), (1, 1), "delivered once, one outcome");
//! assert!(sessions[1].store().inbox.is_empty() && sessions[0].store().outcomes.is_empty());
//! ```
//!
//! ## Cargo features
//!
//! Test tooling is compiled only when asked for: without `sim`, `impair` and `mutations`
//! the crate holds no harness, no emulator, no packet forger and no mutation switch (each
//! hook is then the literal `false`).
//!
//! | feature | enables | used by | in production |
//! |---|---|---|---|
//! | `std` (default) | `std::error::Error` for the error types (through `thiserror`) | everyone with `std` | yes |
//! | `rustcrypto` (default) | the real suite, `Suite::ChaCha20Poly1305` (RustCrypto, `no_std`) | everyone; without it only the insecure `Suite::Symbolic` exists | yes |
//! | `arbitrary` | `arbitrary::Arbitrary` for the wire, message, io and persistence types | `fuzz/` | never |
//! | `impair` | `impair`: the seeded impairment emulator (loss, duplication, reordering, delay, rate limit) and its `Shim` | `sim`; `io-adapters` for its test shim and `assoc relay` | never on a production path (the CLI's shim is off unless asked for) |
//! | `sim` | `sim` (the `Pair` and `Star` harnesses, the `Ledger` oracle; implies `impair`) and the hidden `Session::seal_raw_packet` | the core's own tests, examples and benches, `fuzz/`, `proofs/` | never |
//! | `mutations` | `mutation`, `Config::mutations` and every hook: switches that re-introduce historical bugs | `model/`, `proofs/` (CI checks `io-adapters` never enables it) | never |
//!
//! ## Module map
//!
//! * The API: [`Session`] (the state machine; in `session/`, the receive path, received
//!   handshake PDUs, the data phase and the stateless reset each have a file), [`endpoint`]
//!   (many peers on one socket), [`input`] (what goes in and the [`Verdict`] on it),
//!   [`output`] (what comes out), [`association_id`] (which association), [`config`],
//!   [`message`], [`remote`], [`time`], [`timer`].
//! * The protocol: `handshake` (pure decisions of association establishment),
//!   `association` (one association's data phase), `sender` and `receiver` (the per-message
//!   state machines), `recovery` (loss detection, RTT, packet-number ranges), [`crypto`],
//!   [`wire`] (bytes ↔ typed PDUs).
//! * Durability: [`persist`] (records and the fold that applies them), `outbox` (the output
//!   queue and its write barrier), [`record_codec`] (records and snapshots as bytes).
//!
//! The modules that carry outputs depend one way: `outbox` → [`output`] → [`persist`] →
//! [`input`] (an [`Output::Persist`] carries a [`Record`]; a [`Record`] may carry an
//! [`Ack`]); none of them depends on the session.
//!
//! ## Panic policy
//!
//! Nothing here panics on network input, on any input sequence, or on any time value:
//! bad PDUs yield [`InputError`] and are counted in [`Stats`]. A panic is a bug.
#![no_std]
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

/// `mutated!(holder, Name)`: whether the deliberate bug `Mutation::Name` is on in
/// `holder.mutations` (a `Config` or the handshake's decision context). Without the
/// `mutations` feature it is the literal `false` (the holder is only borrowed, so it counts
/// as used): no switch is read and the branches it guards vanish from the shipping build.
#[cfg(feature = "mutations")]
macro_rules! mutated {
    ($holder:expr, $m:ident) => {
        $holder.mutations.is_active($crate::mutation::Mutation::$m)
    };
}
#[cfg(not(feature = "mutations"))]
macro_rules! mutated {
    ($holder:expr, $m:ident) => {{
        let _ = &$holder;
        false
    }};
}

#[cfg(feature = "arbitrary")]
mod arbitrary_support;
mod association;
pub mod association_id;
pub mod config;
pub mod crypto;
pub mod endpoint;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz_internals;
mod handshake;
#[cfg(feature = "impair")]
pub mod impair;
pub mod input;
pub mod message;
#[cfg(feature = "mutations")]
#[doc(hidden)]
pub mod mutation;
mod outbox;
pub mod output;
pub mod persist;
mod receiver;
pub mod record_codec;
pub(crate) mod recovery;
pub mod remote;
pub mod rng;
mod sender;
mod session;
#[cfg(feature = "sim")]
pub mod sim;
pub mod source_limit;
mod stats;
pub mod time;
pub mod timer;
pub mod wire;

pub use association_id::{AssociationId, Role};
/// The `bytes` crate this API uses for payloads ([`Bytes`](bytes::Bytes)), so embedders
/// need not pin a matching version themselves.
pub use bytes;
pub use config::{Config, ConfigError, DialPolicy};
pub use crypto::{InitBudget, InitRateLimiter, Psk, PskError, Suite};
pub use endpoint::{Endpoint, EndpointConfig, EndpointError, EndpointOutput, Routed};
pub use input::{Ack, DropReason, Input, InputError, Verdict};
pub use message::{
    AckError, CancelError, MessageId, MessageState, NonDelivery, Outcome, Submission, SubmitError,
};
pub use output::{AuthStage, BearerRequest, DownReason, Event, Output, Transmit};
pub use persist::{
    FinishedMessage, Record, SessionStore, StoredInbound, StoredMessage, UnacknowledgedDelivery,
    MAX_MSG_WINDOW,
};
pub use record_codec::RecordDecodeError;
pub use remote::{Remote, Source};
pub use session::{AssociationInfo, LinkState, Session, SessionState, RESET_LEN};
pub use source_limit::{SourceLimiter, SourceLimits};
pub use stats::Stats;
pub use time::{Duration, Instant};
pub use timer::Timer;
pub use wire::{DecodeError, PeerName, Priority};
