//! Group commit on a thread of its own.
//!
//! Drivers hand the [`Committer`] each drain's records with [`Committer::send`] and go on:
//! they never wait for a commit (or an `fsync`). The committer's thread takes everything
//! queued when it is free, commits it in **one** transaction across all sessions, and then
//! reports per session the highest sequence number now durable — to the callback given to
//! [`Committer::start`] and in [`Committer::durable_upto`]. The driver feeds that to its
//! session as [`assoc_core::Input::Persisted`]; the session releases whatever waited for those
//! records (the write barrier), and everything else is never held up by the disk.
//!
//! A failed commit stops the committer: the callback gets [`Committed::Failed`], no later
//! record is committed, and [`Committer::send`] answers [`StoreError::Stopped`]. Nothing is
//! reported durable that is not.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use assoc_core::Record;

use super::{Database, Store, StoreError};

/// Jobs queued at most per group commit (a bound on one transaction's size, not on the queue).
const MAX_JOBS_PER_COMMIT: usize = 4096;

/// What the committer reports after each group commit.
#[derive(Debug)]
#[non_exhaustive]
pub enum Committed {
    /// Session `sid`'s records up to sequence number `upto` are durable.
    Durable {
        /// The session.
        sid: u32,
        /// Its highest durable record sequence number.
        upto: u64,
    },
    /// A commit failed: nothing of it is durable, and the committer has stopped.
    Failed(StoreError),
}

enum Job {
    Attach(Box<Store>),
    Records { sid: u32, records: Vec<Record>, upto: u64 },
    Detach { sid: u32, reply: Sender<Option<Box<Store>>> },
}

/// The group-commit thread (see the module docs).
#[derive(Debug)]
pub struct Committer {
    tx: Option<Sender<Job>>,
    durable: Arc<Mutex<HashMap<u32, u64>>>,
    thread: Option<JoinHandle<Result<(), StoreError>>>,
}

impl Committer {
    /// Starts the thread for `db`'s sessions; `notify` is called on that thread after each
    /// group commit, once per session it made records durable for (keep it short: hand the
    /// news to the driver's loop).
    pub fn start(db: Database, notify: impl FnMut(Committed) + Send + 'static) -> Committer {
        let (tx, rx) = mpsc::channel();
        let durable = Arc::new(Mutex::new(HashMap::new()));
        let shared = durable.clone();
        let thread = std::thread::Builder::new()
            .name("assoc-committer".into())
            .spawn(move || run(db, rx, shared, notify))
            .expect("spawning the committer thread (only fails when the OS is out of threads)");
        Committer { tx: Some(tx), durable, thread: Some(thread) }
    }

    fn send_job(&self, job: Job) -> Result<(), StoreError> {
        self.tx.as_ref().ok_or(StoreError::Stopped)?.send(job).map_err(|_| StoreError::Stopped)
    }

    /// Hands the committer a session's store; its records can be sent from now on.
    pub fn attach(&self, store: Store) -> Result<(), StoreError> {
        self.send_job(Job::Attach(Box::new(store)))
    }

    /// Queues `records` of session `sid`, the last of which has sequence number `upto`.
    /// Returns at once; the records are durable when `upto` is reported for `sid`.
    pub fn send(&self, sid: u32, records: Vec<Record>, upto: u64) -> Result<(), StoreError> {
        self.send_job(Job::Records { sid, records, upto })
    }

    /// Session `sid`'s highest durable sequence number so far (0: none).
    pub fn durable_upto(&self, sid: u32) -> u64 {
        self.durable.lock().unwrap_or_else(|e| e.into_inner()).get(&sid).copied().unwrap_or(0)
    }

    /// Takes session `sid`'s store back once everything sent before is committed (`None` if
    /// it was not attached).
    pub fn detach(&self, sid: u32) -> Result<Option<Store>, StoreError> {
        let (reply, answer) = mpsc::channel();
        self.send_job(Job::Detach { sid, reply })?;
        Ok(answer.recv().map_err(|_| StoreError::Stopped)?.map(|b| *b))
    }

    /// Commits what is queued, stops the thread and reports how it ended.
    pub fn stop(mut self) -> Result<(), StoreError> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::Stopped),
            None => Ok(()),
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    db: Database,
    rx: Receiver<Job>,
    durable: Arc<Mutex<HashMap<u32, u64>>>,
    mut notify: impl FnMut(Committed),
) -> Result<(), StoreError> {
    let mut stores: HashMap<u32, Box<Store>> = HashMap::new();
    // Records per session for the next commit, with the highest sequence number.
    let mut pending: HashMap<u32, (Vec<Record>, u64)> = HashMap::new();
    while let Ok(first) = rx.recv() {
        let mut detach = Vec::new();
        let mut job = Some(first);
        let mut taken = 0;
        while let Some(j) = job.take() {
            taken += 1;
            match j {
                Job::Attach(store) => {
                    stores.insert(store.sid(), store);
                }
                Job::Records { sid, mut records, upto } => {
                    let entry = pending.entry(sid).or_default();
                    entry.0.append(&mut records);
                    entry.1 = entry.1.max(upto);
                }
                Job::Detach { sid, reply } => detach.push((sid, reply)),
            }
            if taken < MAX_JOBS_PER_COMMIT {
                job = rx.try_recv().ok();
            }
        }
        if let Err(e) = commit(&db, &mut stores, &mut pending, &durable, &mut notify) {
            notify(Committed::Failed(e));
            return Err(StoreError::Poisoned);
        }
        for (sid, reply) in detach {
            let _ = reply.send(stores.remove(&sid));
        }
    }
    Ok(())
}

fn commit(
    db: &Database,
    stores: &mut HashMap<u32, Box<Store>>,
    pending: &mut HashMap<u32, (Vec<Record>, u64)>,
    durable: &Mutex<HashMap<u32, u64>>,
    notify: &mut impl FnMut(Committed),
) -> Result<(), StoreError> {
    if pending.is_empty() {
        return Ok(());
    }
    // Every job's session is attached: records of an unknown one are an error, not dropped.
    if let Some(sid) = pending.keys().find(|sid| !stores.contains_key(sid)) {
        return Err(StoreError::UnknownSession { sid: *sid });
    }
    let mut batch: Vec<(&mut Store, &[Record])> = Vec::with_capacity(pending.len());
    let mut uptos = Vec::with_capacity(pending.len());
    for (sid, store) in stores.iter_mut() {
        if let Some((records, upto)) = pending.get(sid) {
            batch.push((&mut **store, records.as_slice()));
            uptos.push((*sid, *upto));
        }
    }
    db.commit(&mut batch)?;
    pending.clear();
    {
        let mut d = durable.lock().unwrap_or_else(|e| e.into_inner());
        for (sid, upto) in &uptos {
            let v = d.entry(*sid).or_default();
            *v = (*v).max(*upto);
        }
    }
    for (sid, upto) in uptos {
        notify(Committed::Durable { sid, upto });
    }
    Ok(())
}
