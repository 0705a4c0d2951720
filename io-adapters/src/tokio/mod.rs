//! The tokio driver.
//!
//! One task owns the [`Session`](assoc_core::Session) and the [`Store`] and `select!`s over
//! the socket (UDP) or the listener and the connections' frames (TCP), the application's
//! commands and one reusable sleep set to the next deadline. TCP connections each have a
//! small reader and writer task that only move frames. Store commits block on the disk;
//! on a multi-threaded runtime the driver hands its worker over while it waits.
//!
//! ```no_run
//! # async fn demo() -> Result<(), assoc_io::Error> {
//! use assoc_core::{Config, PeerName, Priority, Psk};
//! use assoc_io::tokio::Endpoint;
//! use assoc_io::{Bearer, Options, Store};
//!
//! let psk = Psk::new(b"a key of at least 16 bytes").unwrap();
//! let (me, peer) = (PeerName::new(b"mta-b").unwrap(), PeerName::new(b"mta-a").unwrap());
//! let bearer = Bearer::Tcp { listen: Some("0.0.0.0:7400".parse().unwrap()), peer: None };
//! let options = Options::new(Config::new(me, peer, psk), bearer);
//! let (endpoint, mut deliveries, _outcomes) = Endpoint::start(options, Store::open("b.redb")?).await?;
//! while let Some(delivery) = deliveries.recv().await {
//!     println!("{} bytes", delivery.bytes.len());
//!     delivery.ack();
//! #   break;
//! }
//! let id = endpoint.submit(&b"reply"[..], Priority::Normal).await?;
//! # let _ = id;
//! endpoint.shutdown().await?;
//! # Ok(()) }
//! ```

mod driver;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use assoc_core::{MessageId, Priority, Submission};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api::{Acker, Delivery, Error, Options, OutcomeReport, Snapshot};
use crate::engine::{Command, Engine, Reply, Sinks};
use crate::store::Store;
use driver::Driver;

struct Inner {
    tx: mpsc::UnboundedSender<Command>,
    task: Mutex<Option<JoinHandle<Result<Snapshot, Error>>>>,
    local_addr: Option<SocketAddr>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Shutdown);
    }
}

/// A handle to a running tokio driver. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

/// A [`Stream`](futures_core::Stream) of delivered messages, in delivery order.
pub struct Deliveries {
    rx: mpsc::UnboundedReceiver<Delivery>,
}

/// A [`Stream`](futures_core::Stream) of outcomes of submitted messages.
pub struct Outcomes {
    rx: mpsc::UnboundedReceiver<OutcomeReport>,
}

fn reply<T: Send + 'static>() -> (Reply<T>, oneshot::Receiver<T>) {
    let (tx, rx) = oneshot::channel();
    (
        Box::new(move |v| {
            let _ = tx.send(v);
        }),
        rx,
    )
}

impl Endpoint {
    /// Restores the session from `store`, binds the bearer and spawns the driver task on
    /// the current runtime. Deliveries and outcomes the store still holds from before are
    /// handed over first.
    pub async fn start(options: Options, store: Store) -> Result<(Endpoint, Deliveries, Outcomes), Error> {
        let (tx, cmds) = mpsc::unbounded_channel();
        let (dtx, drx) = mpsc::unbounded_channel();
        let (otx, orx) = mpsc::unbounded_channel();
        let ack_tx = tx.clone();
        let sinks = Sinks {
            deliver: Box::new(move |d| {
                let _ = dtx.send(d);
            }),
            report: Box::new(move |o| {
                let _ = otx.send(o);
            }),
            acker: Acker(Arc::new(move |a| {
                let _ = ack_tx.send(Command::Ack(a));
            })),
        };
        let span = tracing::info_span!("assoc", local = %options.config.local_name.as_str());
        let mut engine = Engine::new(&options, store, sinks)?;
        engine.start()?;
        let (driver, local_addr) = Driver::new(engine, options, cmds).await?;
        let task = tokio::spawn(driver.run().instrument(span));
        let inner = Inner { tx, task: Mutex::new(Some(task)), local_addr };
        Ok((Endpoint { inner: Arc::new(inner) }, Deliveries { rx: drx }, Outcomes { rx: orx }))
    }

    /// The bound UDP socket's or TCP listener's address (`None` for a dial-only TCP endpoint).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    fn send(&self, cmd: Command) -> Result<(), Error> {
        self.inner.tx.send(cmd).map_err(|_| Error::Stopped)
    }

    /// Submits `bytes` with a fresh application id; resolves once the session has durable
    /// custody. From then on the message ends in exactly one outcome, whatever crashes.
    pub async fn submit(&self, bytes: impl Into<Bytes>, priority: Priority) -> Result<MessageId, Error> {
        self.submit_with(Submission { app_id: 0, priority, deadline: None, bytes: bytes.into() }).await
    }

    /// Submits with the caller's application id (0: choose a fresh one) and deadline.
    /// Idempotent per app id, as [`crate::blocking::Endpoint::submit_with`].
    pub async fn submit_with(&self, submission: Submission) -> Result<MessageId, Error> {
        let (r, rx) = reply();
        let auto_app_id = submission.app_id == 0;
        self.send(Command::Submit { submission, auto_app_id, reply: r })?;
        rx.await.unwrap_or(Err(Error::Stopped))
    }

    /// Submits several messages at once (one commit covers them all); one result per
    /// submission, in order.
    pub async fn submit_many(
        &self,
        submissions: impl IntoIterator<Item = Submission>,
    ) -> Result<Vec<Result<MessageId, Error>>, Error> {
        let mut waits = Vec::new();
        for submission in submissions {
            let (r, rx) = reply();
            let auto_app_id = submission.app_id == 0;
            self.send(Command::Submit { submission, auto_app_id, reply: r })?;
            waits.push(rx);
        }
        let mut out = Vec::with_capacity(waits.len());
        for rx in waits {
            out.push(rx.await.unwrap_or(Err(Error::Stopped)));
        }
        Ok(out)
    }

    /// Gives up on a message (see [`assoc_core::Input::Cancel`]); its outcome follows.
    pub async fn cancel(&self, id: MessageId) -> Result<(), Error> {
        let (r, rx) = reply();
        self.send(Command::Cancel { id, reply: r })?;
        rx.await.unwrap_or(Err(Error::Stopped))
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
    pub async fn snapshot(&self) -> Result<Snapshot, Error> {
        let (r, rx) = reply();
        self.send(Command::Snapshot(r))?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Graceful shutdown: releases the association (waiting at most the grace period),
    /// commits what is pending and stops the driver task. Returns the final snapshot, or
    /// the error that stopped the driver.
    pub async fn shutdown(self) -> Result<Snapshot, Error> {
        let _ = self.send(Command::Shutdown);
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        match task {
            Some(t) => t.await.unwrap_or(Err(Error::Stopped)),
            None => Err(Error::Stopped),
        }
    }
}

impl Deliveries {
    /// The next delivery; `None` once the endpoint stopped.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// A delivery already waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for Deliveries {
    type Item = Delivery;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.rx.poll_recv(cx)
    }
}

impl Outcomes {
    /// The next outcome; `None` once the endpoint stopped.
    pub async fn recv(&mut self) -> Option<OutcomeReport> {
        self.rx.recv().await
    }

    /// An outcome already waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<OutcomeReport> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for Outcomes {
    type Item = OutcomeReport;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<OutcomeReport>> {
        self.rx.poll_recv(cx)
    }
}
