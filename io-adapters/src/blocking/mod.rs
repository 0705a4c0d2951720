//! The blocking (std) driver.
//!
//! One driver thread owns the [`Session`](assoc_core::Session) and the [`Store`]. It
//! blocks on a single channel with a timeout taken from the `Output::Wait` that ended the
//! last drain (and the shim's next release), then handles everything that arrived — socket
//! reads, application commands — before one flush, so one commit covers them all. Socket reads happen on small
//! helper threads because std cannot wait on several sockets at once; they only forward
//! bytes. The application talks to the driver through an [`Endpoint`] handle and reads
//! [`Deliveries`] and [`Outcomes`] from blocking receivers.
//!
//! ```no_run
//! use assoc_core::{Config, PeerName, Priority, Psk};
//! use assoc_io::blocking::Endpoint;
//! use assoc_io::{Bearer, Options, Store};
//!
//! let psk = Psk::new(b"a key of at least 16 bytes").unwrap();
//! let (me, peer) = (PeerName::new(b"mta-a").unwrap(), PeerName::new(b"mta-b").unwrap());
//! let bearer = Bearer::Udp { bind: "0.0.0.0:0".parse().unwrap(), peer: Some("192.0.2.7:7400".parse().unwrap()) };
//! let options = Options::new(Config::new(me, peer, psk), bearer);
//! let (endpoint, deliveries, outcomes) = Endpoint::start(options, Store::open("a.redb").unwrap()).unwrap();
//! let id = endpoint.submit(&b"hello"[..], Priority::Normal).unwrap(); // returns once durably queued
//! let report = outcomes.recv().unwrap(); // exactly one per message, also after a crash
//! assert_eq!(report.id, id);
//! report.ack();
//! for delivery in deliveries.try_iter() {
//!     println!("{} bytes from the peer", delivery.bytes.len());
//!     delivery.ack(); // removes it from the store's inbox
//! }
//! endpoint.shutdown().unwrap();
//! ```

mod driver;
pub(crate) mod net;

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use assoc_core::{MessageId, Priority, Submission};
use bytes::Bytes;

use crate::api::{Acker, Delivery, Error, Options, OutcomeReport, Snapshot};
use crate::engine::{Command, Engine, Sinks};
use crate::store::Store;
use driver::Driver;
use net::Msg;

/// Messages queued for the driver thread before senders wait (socket readers and the
/// application slow down instead of growing memory).
const CHANNEL: usize = 4096;

struct Inner {
    tx: SyncSender<Msg>,
    thread: Mutex<Option<JoinHandle<Result<Snapshot, Error>>>>,
    local_addr: Option<SocketAddr>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: stop the driver (gracefully, without waiting for it).
        let _ = self.tx.send(Msg::Cmd(Command::Shutdown));
    }
}

/// A handle to a running blocking driver. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

/// Delivered messages, in delivery order. Blocking; ends when the endpoint stops.
pub struct Deliveries {
    rx: Receiver<Delivery>,
}

/// Outcomes of submitted messages. Blocking; ends when the endpoint stops.
pub struct Outcomes {
    rx: Receiver<OutcomeReport>,
}

impl Endpoint {
    /// Restores the session from `store`, binds the bearer and starts the driver thread.
    /// Deliveries and outcomes the store still holds from before are handed over first.
    pub fn start(options: Options, store: Store) -> Result<(Endpoint, Deliveries, Outcomes), Error> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(CHANNEL);
        let (dtx, drx) = mpsc::channel();
        let (otx, orx) = mpsc::channel();
        let ack_tx = tx.clone();
        let sinks = Sinks {
            deliver: Box::new(move |d| {
                let _ = dtx.send(d);
            }),
            report: Box::new(move |o| {
                let _ = otx.send(o);
            }),
            acker: Acker(Arc::new(move |a| {
                let _ = ack_tx.send(Msg::Cmd(Command::Ack(a)));
            })),
        };
        let options_name = options.config.local_name.as_str().to_string();
        let mut engine = Engine::new(&options, store, sinks)?;
        engine.start()?;
        let (driver, local_addr) = Driver::new(engine, options, rx, tx.clone())?;
        let span = tracing::info_span!("assoc", local = %options_name);
        let thread = std::thread::Builder::new().name("assoc-driver".into()).spawn(move || {
            let _entered = span.enter();
            driver.run()
        })?;
        let inner = Inner { tx, thread: Mutex::new(Some(thread)), local_addr };
        Ok((Endpoint { inner: Arc::new(inner) }, Deliveries { rx: drx }, Outcomes { rx: orx }))
    }

    /// The bound UDP socket's or TCP listener's address (`None` for a dial-only TCP endpoint).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    fn send(&self, cmd: Command) -> Result<(), Error> {
        self.inner.tx.send(Msg::Cmd(cmd)).map_err(|_| Error::Stopped)
    }

    fn call<T: Send + 'static>(
        &self,
        make: impl FnOnce(crate::engine::Reply<T>) -> Command,
    ) -> Result<T, Error> {
        let (tx, rx) = mpsc::channel();
        self.send(make(Box::new(move |v| {
            let _ = tx.send(v);
        })))?;
        rx.recv().map_err(|_| Error::Stopped)
    }

    /// Submits `bytes` with a fresh application id. Returns once the session has durable
    /// custody: from then on the message ends in exactly one outcome, whatever crashes.
    pub fn submit(&self, bytes: impl Into<Bytes>, priority: Priority) -> Result<MessageId, Error> {
        self.submit_with(Submission { app_id: 0, priority, deadline: None, bytes: bytes.into() })
    }

    /// Submits with the caller's application id (0: choose a fresh one) and deadline.
    ///
    /// Idempotent per app id: if a message with this app id was already submitted through
    /// this store, nothing new is submitted and that message's id is returned — so an
    /// application that restarts after a crash can simply submit everything again.
    pub fn submit_with(&self, submission: Submission) -> Result<MessageId, Error> {
        self.submit_many([submission])?.remove(0)
    }

    /// Submits several messages at once (one commit covers them all); the same rules as
    /// [`submit_with`](Endpoint::submit_with), one result per submission in order.
    pub fn submit_many(
        &self,
        submissions: impl IntoIterator<Item = Submission>,
    ) -> Result<Vec<Result<MessageId, Error>>, Error> {
        let mut waits = Vec::new();
        for submission in submissions {
            let (tx, rx) = mpsc::channel();
            let auto_app_id = submission.app_id == 0;
            self.send(Command::Submit {
                submission,
                auto_app_id,
                reply: Box::new(move |v| {
                    let _ = tx.send(v);
                }),
            })?;
            waits.push(rx);
        }
        Ok(waits.into_iter().map(|rx| rx.recv().unwrap_or(Err(Error::Stopped))).collect())
    }

    /// Gives up on a message (see [`assoc_core::Input::Cancel`]); its outcome follows.
    pub fn cancel(&self, id: MessageId) -> Result<(), Error> {
        self.call(|reply| Command::Cancel { id, reply })?
    }

    /// Keeps an association up (dialing if needed) until [`release`](Endpoint::release).
    pub fn open(&self) -> Result<(), Error> {
        self.send(Command::Open)
    }

    /// Releases the association in order.
    pub fn release(&self) -> Result<(), Error> {
        self.send(Command::Release)
    }

    /// Forces the bearer down, as a real link drop would (for tests and operators).
    pub fn drop_link(&self) -> Result<(), Error> {
        self.send(Command::DropLink)
    }

    /// The endpoint's state and counters.
    pub fn snapshot(&self) -> Result<Snapshot, Error> {
        self.call(Command::Snapshot)
    }

    /// Graceful shutdown: releases the association (waiting at most the grace period),
    /// commits what is pending and stops the driver. Returns the final snapshot, or the
    /// error that stopped the driver. Other handles stop working.
    pub fn shutdown(self) -> Result<Snapshot, Error> {
        let _ = self.send(Command::Shutdown);
        net::join_driver(&self.inner.thread)
    }
}

impl Deliveries {
    /// The next delivery; `None` once the endpoint stopped.
    pub fn recv(&self) -> Option<Delivery> {
        self.rx.recv().ok()
    }

    /// The next delivery, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Result<Delivery, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// Deliveries already waiting, without blocking.
    pub fn try_iter(&self) -> impl Iterator<Item = Delivery> + '_ {
        self.rx.try_iter()
    }
}

impl Iterator for Deliveries {
    type Item = Delivery;
    fn next(&mut self) -> Option<Delivery> {
        self.recv()
    }
}

impl Outcomes {
    /// The next outcome; `None` once the endpoint stopped.
    pub fn recv(&self) -> Option<OutcomeReport> {
        self.rx.recv().ok()
    }

    /// The next outcome, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Result<OutcomeReport, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// Outcomes already waiting, without blocking.
    pub fn try_iter(&self) -> impl Iterator<Item = OutcomeReport> + '_ {
        self.rx.try_iter()
    }
}

impl Iterator for Outcomes {
    type Item = OutcomeReport;
    fn next(&mut self) -> Option<OutcomeReport> {
        self.recv()
    }
}
