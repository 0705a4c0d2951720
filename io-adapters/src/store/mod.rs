//! The durable session store: a [`redb`] database holding any number of sessions — their
//! [`SessionStore`](assoc_core::SessionStore)s, the application's inbox of delivered messages and outcome log — each
//! in its own namespace (#17), written by group commits.
//!
//! * [`Database`]: the file. [`Database::commit`] writes the records of many sessions in one
//!   transaction; [`Database::session`] opens one session's namespace as a [`Store`].
//! * [`Store`]: one session. [`Store::open`] is the one-session file (namespace 0);
//!   [`Store::commit`] is a group commit of one.
//! * [`Committer`]: group commit on a thread of its own — the driver hands it records and
//!   learns, per session, up to which sequence number they are durable.
//!
//! Records from the core are folded with [`assoc_core::SessionStore::apply`] — the only fold of
//! records — into an in-memory copy of the *durable* state, and what each fold changed is
//! written through to the rows (see `session.rs` for the table of record → rows). Each
//! payload is written once per side; the common case is one B-tree operation per record,
//! and removals that come in key order are made as one range removal per commit. Values are
//! encoded with the core's record codec ([`assoc_core::record_codec`]).
//!
//! The inbox of unacknowledged deliveries, the unacknowledged outcomes and the idempotency
//! keys (application ids) are part of the core's session state: the session reports what the
//! application has not acknowledged again after a restart, and finds a resubmitted
//! application id itself. The application acknowledges what it has processed ([`Ack`],
//! through the session, as a record).
//!
//! # Durability
//!
//! Every commit is a complete redb commit (pages, then the header with checksums), so a crash
//! at any point leaves the last commit or the one before it — never part of one. What a crash
//! may take depends on the [`SyncMode`]:
//!
//! | mode | sync per commit | survives a process crash (`SIGKILL`) | survives power loss |
//! |---|---|---|---|
//! | [`SyncMode::Full`] | `fdatasync` | yes | yes |
//! | [`SyncMode::Os`] | none | yes | no: recent commits may be lost |
//!
//! Custody is only as good as the mode: in `Os` mode a power loss can lose messages this
//! store reported durable (the peer was told they were received, or the application that
//! they were queued).
//!
//! # Tables (format 3)
//!
//! Every session table is keyed by `(sid, …)`.
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | name | the file's format version |
//! | `sessions` | sid | epoch, next id, next msn, watermark, highest app id |
//! | `outbound` | message id | pending message (with content), or its outcome, or remembered outcome |
//! | `progress` | message id | a pending message's msn and cancellation |
//! | `app_id_gaps` | app id | an app id that is not an idempotency key although a row has it |
//! | `inbound` | msn | head of a partial or resolved inbound message |
//! | `chunks` | (msn, offset) | content of a partial message or of an inbox entry |
//! | `recent` | msn | recent non-delivered resolutions below the watermark |
//! | `inbox` | msn | delivered message not yet acknowledged (content inline or in chunks) |
//! | `app_meta` | name | free `u64` values for applications (the CLI's transfer jobs) |

mod backend;
pub(crate) mod codec;
mod committer;
mod db;
mod session;
mod tables;

pub use assoc_core::Ack;
use assoc_core::{MessageId, Outcome};
use bytes::Bytes;

pub use codec::Corrupt;
pub use committer::{Committed, Committer};
pub use db::{Database, Store};

/// Version of the table layout, kept in `meta` (2: values in the core's record codec; 3:
/// sessions in namespaces, each payload written once).
const FORMAT: u64 = 3;

/// Why the store failed. Any failure to commit is fatal for the driver: it cannot report
/// records durable, so it stops rather than let the session run ahead of its disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database reported an error (I/O, lock held by another process, …).
    #[error("database: {0}")]
    Db(Box<redb::Error>),
    /// A stored value does not decode.
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    /// The file was written by an incompatible version of this crate.
    #[error(
        "store format {found} is not supported (expected {FORMAT}): the file was written by \
         another version of assoc; finish its transfers with that version, or move it aside"
    )]
    Format {
        /// The version found in the file.
        found: u64,
    },
    /// The session's namespace is already open (another [`Store`] for it is alive).
    #[error("session {sid} is already open in this store")]
    SessionInUse {
        /// The session.
        sid: u32,
    },
    /// A [`Store`] was committed through a [`Database`] it does not belong to.
    #[error("session {sid} belongs to another database")]
    WrongDatabase {
        /// The session.
        sid: u32,
    },
    /// The [`Committer`] got records for a session that was not attached to it.
    #[error("session {sid} is not attached to the committer")]
    UnknownSession {
        /// The session.
        sid: u32,
    },
    /// An earlier commit failed: the in-memory view may be ahead of the disk, so this store
    /// commits nothing more. Open the session again.
    #[error("an earlier commit failed: open the store again")]
    Poisoned,
    /// The [`Committer`]'s thread has stopped (after a failed commit, or [`Committer::stop`]).
    #[error("the committer has stopped")]
    Stopped,
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// How hard a commit works to be durable (see the module docs for the guarantees).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// `fdatasync` before a commit returns: survives power loss (the default).
    #[default]
    Full,
    /// No `fsync`: every commit is written to the file (the OS's page cache) before it
    /// returns, so it survives a process crash (even `SIGKILL`), but not a power loss or a
    /// kernel crash.
    Os,
}

/// A delivered message waiting in the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEntry {
    /// Its msn: unique, and increasing in delivery order.
    pub msn: u64,
    /// The sending application's id.
    pub app_id: u64,
    /// The content.
    pub bytes: Bytes,
}

/// An outcome waiting in the outcome log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutcomeEntry {
    /// The message.
    pub id: MessageId,
    /// The application's id for it.
    pub app_id: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// What happened to a message the application submitted with a given app id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppIdStatus {
    /// The session's id for it.
    pub id: MessageId,
    /// Its outcome, once it has one.
    pub outcome: Option<Outcome>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use assoc_core::rng::Rng;
    use assoc_core::wire::{FirstSegment, RejectReason, Resolution};
    use assoc_core::{Instant, NonDelivery, Priority, StoredMessage};
    use assoc_core::{Record, SessionStore, StoredInbound};
    use std::path::PathBuf;

    fn temp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("assoc-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    /// A random but plausible record stream: submissions, assignments, cancels, outcomes,
    /// chunked inbound messages, deliveries and resolutions, with repeats and stale ones.
    #[derive(Default)]
    struct Gen {
        next_id: u64,
        next_msn: u64,
        inbound_msn: u64,
        partial: std::collections::BTreeMap<u64, u64>,
    }

    fn records(g: &mut Gen, rng: &mut Rng, n: usize) -> Vec<Record> {
        let Gen { next_id, next_msn, inbound_msn, partial } = g;
        let mut out = Vec::new();
        for _ in 0..n {
            let r = match rng.next_u64() % 12 {
                0 => Record::Epoch(rng.next_u64() % 50),
                1 | 2 => {
                    *next_id += 1;
                    Record::Submitted {
                        id: MessageId(*next_id - 1),
                        message: StoredMessage {
                            app_id: rng.next_u64() % 1000 + 1,
                            priority: Priority::Normal,
                            submitted: Instant::from_micros(5),
                            deadline: Instant::from_micros(1 << 40),
                            bytes: Bytes::from(vec![7u8; (rng.next_u64() % 50) as usize]),
                            msn: None,
                            cancel: None,
                        },
                    }
                }
                3 => {
                    *next_msn += 1;
                    Record::Assigned { id: MessageId(rng.next_u64() % (*next_id).max(1)), msn: *next_msn - 1 }
                }
                4 => Record::CancelRequested {
                    id: MessageId(rng.next_u64() % (*next_id).max(1)),
                    reason: NonDelivery::Rejected(RejectReason::Refused),
                },
                5 => Record::Finished {
                    id: MessageId(rng.next_u64() % (*next_id).max(1)),
                    outcome: if rng.next_u64() % 2 == 0 {
                        Outcome::Delivered
                    } else {
                        Outcome::NonDelivered(NonDelivery::Expired)
                    },
                },
                6 | 7 => {
                    let msn = *inbound_msn + rng.next_u64() % 4;
                    let have = partial.entry(msn).or_default();
                    let len = rng.next_u64() % 20 + 1;
                    // Mostly extending chunks, sometimes a stale or gapped one.
                    let offset = if rng.next_u64() % 5 == 0 { *have + 3 } else { *have };
                    if offset == *have {
                        *have += len;
                    }
                    Record::Chunk {
                        msn,
                        offset,
                        first: (offset == 0).then_some(FirstSegment {
                            total_len: 999,
                            priority: Priority::Urgent,
                            app_id: msn,
                        }),
                        bytes: Bytes::from(vec![msn as u8; len as usize]),
                    }
                }
                10 => Record::Acknowledged(if rng.next_u64() % 2 == 0 {
                    Ack::Delivery(inbound_msn.saturating_sub(rng.next_u64() % 4))
                } else {
                    Ack::Outcome(MessageId(rng.next_u64() % (*next_id).max(1)))
                }),
                11 => Record::Forgotten { id: MessageId(rng.next_u64() % (*next_id).max(1)) },
                8 => {
                    let msn = *inbound_msn + rng.next_u64() % 3;
                    if msn == *inbound_msn {
                        *inbound_msn += 1;
                    }
                    Record::Delivered { msn, app_id: msn + 100, bytes: Bytes::from(vec![1u8; 3]) }
                }
                _ => {
                    let msn = (*inbound_msn).saturating_sub(1) + rng.next_u64() % 3;
                    Record::Resolved { msn, resolution: Resolution::Cancelled }
                }
            };
            out.push(r);
        }
        out
    }

    #[test]
    fn tables_always_equal_the_fold_and_survive_reopening() {
        let path = temp("fold");
        let mut rng = Rng::new(3);
        let mut fold = SessionStore::default();
        let mut g = Gen::default();
        {
            let mut store = Store::open(&path).unwrap();
            store.set_sync(SyncMode::Os);
            for batch in 0..200 {
                let recs = records(&mut g, &mut rng, (batch % 7) + 1);
                for r in &recs {
                    fold.apply(r);
                }
                store.commit(&recs).unwrap();
                assert_eq!(store.session_store(), &fold, "batch {batch}");
                if batch % 20 == 0 {
                    assert!(store.verify().unwrap(), "batch {batch}: tables differ from the fold");
                }
            }
            assert!(store.verify().unwrap());
            let inbox = store.inbox().unwrap();
            assert!(!inbox.is_empty());
            let acks: Vec<Record> =
                inbox.iter().map(|e| Record::Acknowledged(Ack::Delivery(e.msn))).collect();
            for r in &acks {
                fold.apply(r);
            }
            store.commit(&acks).unwrap();
            assert!(store.inbox().unwrap().is_empty());
            assert!(store.verify().unwrap());
        }
        let reopened = Store::open(&path).unwrap();
        assert_eq!(reopened.session_store(), &fold);
        assert!(fold.watermark > 10 && fold.outbound.len() > 5, "the stream exercised the tables: {fold:?}");
        assert!(!fold.remembered.is_empty(), "acknowledgements were exercised: {fold:?}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn outcomes_and_app_ids_are_recorded_with_the_finished_record() {
        let path = temp("outcomes");
        let mut store = Store::open(&path).unwrap();
        let message = StoredMessage {
            app_id: 77,
            priority: Priority::Urgent,
            submitted: Instant::from_micros(1),
            deadline: Instant::from_micros(2),
            bytes: Bytes::from_static(b"x"),
            msn: None,
            cancel: None,
        };
        store.commit(&[Record::Submitted { id: MessageId(0), message }]).unwrap();
        assert_eq!(store.app_id_status(77).unwrap(), Some(AppIdStatus { id: MessageId(0), outcome: None }));
        assert_eq!(store.max_app_id(), 77);
        store.commit(&[Record::Finished { id: MessageId(0), outcome: Outcome::Delivered }]).unwrap();
        assert_eq!(
            store.outcomes().unwrap(),
            vec![OutcomeEntry { id: MessageId(0), app_id: 77, outcome: Outcome::Delivered }]
        );
        assert_eq!(store.app_id_status(77).unwrap().and_then(|s| s.outcome), Some(Outcome::Delivered));
        store.commit(&[Record::Acknowledged(Ack::Outcome(MessageId(0)))]).unwrap();
        assert!(store.outcomes().unwrap().is_empty());
        assert!(store.app_id_status(77).unwrap().is_some(), "app ids are kept for idempotent submission");
        assert!(store.verify().unwrap());
        store.commit(&[Record::Forgotten { id: MessageId(0) }]).unwrap();
        assert_eq!(store.app_id_status(77).unwrap(), None, "forgotten once out of the window");
        drop(store);
        let reopened = Store::open(&path).unwrap();
        assert_eq!(reopened.app_id_status(77).unwrap(), None);
        drop(reopened);
        let _ = std::fs::remove_file(&path);
    }

    fn submitted(id: u64, app_id: u64, len: usize) -> Record {
        let message = StoredMessage {
            app_id,
            priority: Priority::Normal,
            submitted: Instant::from_micros(1),
            deadline: Instant::from_micros(1 << 40),
            bytes: Bytes::from(vec![id as u8; len]),
            msn: None,
            cancel: None,
        };
        Record::Submitted { id: MessageId(id), message }
    }

    #[test]
    fn app_ids_kept_from_the_newest_row_and_gaps_survive_reopening() {
        // The fold keeps the newest submission's app id as the key, and forgetting it drops
        // the key although an older row with that app id remains: the gap row says so.
        let path = temp("gaps");
        let mut fold = SessionStore::default();
        let recs = [
            submitted(0, 5, 3),
            submitted(1, 5, 3),
            Record::Finished { id: MessageId(1), outcome: Outcome::Delivered },
            Record::Acknowledged(Ack::Outcome(MessageId(1))),
            Record::Forgotten { id: MessageId(1) },
        ];
        {
            let mut store = Store::open(&path).unwrap();
            for r in &recs {
                fold.apply(r);
                store.commit(std::slice::from_ref(r)).unwrap();
                assert!(store.verify().unwrap(), "after {r:?}");
            }
            assert_eq!(store.app_id_status(5).unwrap(), None, "the key went with message 1");
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.session_store(), &fold);
        store.commit(&[submitted(2, 5, 1)]).unwrap();
        fold.apply(&submitted(2, 5, 1));
        assert!(store.verify().unwrap());
        assert_eq!(store.app_id_status(5).unwrap().map(|s| s.id), Some(MessageId(2)));
        drop(store);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn random_streams_with_few_app_ids_keep_the_rows_equal_to_the_fold() {
        let db = Database::in_memory().unwrap();
        let mut store = db.session(7).unwrap();
        let mut fold = SessionStore::default();
        let mut rng = Rng::new(11);
        let mut g = Gen::default();
        for batch in 0..300 {
            let mut recs = records(&mut g, &mut rng, (batch % 5) + 1);
            for r in &mut recs {
                if let Record::Submitted { message, .. } = r {
                    message.app_id %= 4; // collisions: the idempotency keys' corner cases
                }
            }
            // Half the deliveries deliver what the partial message holds (and a little more),
            // as the core does: the content stays in its chunks.
            let mut probe = fold.clone();
            for r in &mut recs {
                if let Record::Delivered { msn, .. } = r {
                    if let Some(StoredInbound::Partial { first: Some(f), bytes }) = probe.inbound.get(msn) {
                        if !bytes.is_empty() && rng.next_u64() % 2 == 0 {
                            let mut content = bytes.to_vec();
                            content.extend_from_slice(&b"zz"[..(rng.next_u64() % 3) as usize]);
                            *r = Record::Delivered {
                                msn: *msn,
                                app_id: f.app_id,
                                bytes: Bytes::from(content),
                            };
                        }
                    }
                }
                probe.apply(r);
            }
            for r in &recs {
                fold.apply(r);
            }
            store.commit(&recs).unwrap();
            assert!(store.verify().unwrap(), "batch {batch}: {recs:?}");
        }
        assert_eq!(store.session_store(), &fold);
        assert!(fold.watermark > 20, "deliveries were exercised: {fold:?}");
    }

    /// B-tree operations per message in the common case: submit, assign, finish on the
    /// sending side; deliver on the receiving side; then the acknowledgements.
    #[test]
    fn the_common_case_costs_at_most_three_operations_per_message_on_each_side() {
        let db = Database::in_memory().unwrap();
        let (mut tx, mut rx) = (db.session(1).unwrap(), db.session(2).unwrap());
        let n = 200u64;
        for round in 0..(n / 20) {
            let ids = round * 20..(round + 1) * 20;
            let subs: Vec<Record> = ids.clone().map(|i| submitted(i, i + 1, 1024)).collect();
            tx.commit(&subs).unwrap();
            let assigned: Vec<Record> =
                ids.clone().map(|i| Record::Assigned { id: MessageId(i), msn: i }).collect();
            tx.commit(&assigned).unwrap();
            // As the core does it: the complete message as a chunk, then its delivery.
            let content = Bytes::from(vec![1; 1024]);
            let first = |i| Some(FirstSegment { total_len: 1024, priority: Priority::Normal, app_id: i + 1 });
            let chunks: Vec<Record> = ids
                .clone()
                .map(|i| Record::Chunk { msn: i, offset: 0, first: first(i), bytes: content.clone() })
                .collect();
            rx.commit(&chunks).unwrap();
            let delivered: Vec<Record> = ids
                .clone()
                .map(|i| Record::Delivered { msn: i, app_id: i + 1, bytes: content.clone() })
                .collect();
            rx.commit(&delivered).unwrap();
            let finished: Vec<Record> = ids
                .clone()
                .map(|i| Record::Finished { id: MessageId(i), outcome: Outcome::Delivered })
                .collect();
            tx.commit(&finished).unwrap();
        }
        let (tx_ops, rx_ops) = (tx.ops(), rx.ops());
        // 3 per message, plus the counters row once per commit.
        assert!(tx_ops <= 3 * n + tx.counters().0, "sender: {tx_ops} operations for {n} messages");
        // The content written once (its chunk); the delivery is the watermark passing it.
        assert!(rx_ops <= n + rx.counters().0, "receiver: {rx_ops} operations for {n} messages");
        // The acknowledgements: one row each, removals in ranges.
        let acks: Vec<Record> = (0..n).map(|i| Record::Acknowledged(Ack::Outcome(MessageId(i)))).collect();
        tx.commit(&acks).unwrap();
        let acks: Vec<Record> = (0..n).map(|i| Record::Acknowledged(Ack::Delivery(i))).collect();
        rx.commit(&acks).unwrap();
        assert_eq!(rx.ops() - rx_ops, 1, "acknowledged deliveries: one range removal of their chunks");
        assert_eq!(tx.ops() - tx_ops, 1, "outcomes acknowledged in id order: the counters row");
        assert!(tx.verify().unwrap() && rx.verify().unwrap());
        assert!(rx.session_store().inbox.is_empty() && rx.session_store().watermark == n);
    }

    #[test]
    fn sessions_are_separate_namespaces_of_one_file_committed_together() {
        let path = temp("many");
        {
            let db = Database::open(&path).unwrap();
            db.set_sync(SyncMode::Os);
            let mut stores: Vec<Store> = (0..50).map(|sid| db.session(sid).unwrap()).collect();
            assert!(matches!(db.session(3), Err(StoreError::SessionInUse { sid: 3 })));
            let records: Vec<Vec<Record>> =
                (0..50u64).map(|s| vec![submitted(0, s + 100, s as usize)]).collect();
            let mut batch: Vec<(&mut Store, &[Record])> =
                stores.iter_mut().zip(&records).map(|(st, r)| (st, r.as_slice())).collect();
            db.commit(&mut batch).unwrap();
            assert!(stores.iter().all(|s| s.counters() == (1, 1)));
            let other = Database::in_memory().unwrap();
            let mut foreign = other.session(0).unwrap();
            assert!(matches!(
                db.commit(&mut [(&mut foreign, &records[0][..])]),
                Err(StoreError::WrongDatabase { sid: 0 })
            ));
        }
        let db = Database::open(&path).unwrap();
        assert_eq!(db.sessions().unwrap(), (0..50).collect::<Vec<u32>>());
        for sid in [0u32, 17, 49] {
            let s = db.session(sid).unwrap();
            let m = &s.session_store().outbound[&MessageId(0)];
            assert_eq!((m.app_id, m.bytes.len()), (u64::from(sid) + 100, sid as usize));
            assert_eq!(s.max_app_id(), u64::from(sid) + 100);
        }
        drop(db);
        // The one-session API is namespace 0 of the same file.
        let single = Store::open(&path).unwrap();
        assert_eq!(single.sid(), 0);
        assert_eq!(single.max_app_id(), 100);
        drop(single);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_file_of_the_previous_format_is_refused_with_its_version() {
        let path = temp("v2");
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(tables::META).unwrap().insert("format", 2).unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Format { found: 2 }), "{err:?}");
        assert!(err.to_string().contains("store format 2 is not supported (expected 3)"), "{err}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_committer_groups_sessions_and_reports_each_ones_durable_sequence() {
        let path = temp("committer");
        let db = Database::open(&path).unwrap();
        db.set_sync(SyncMode::Os);
        let (tx, rx) = std::sync::mpsc::channel();
        let committer = Committer::start(db.clone(), move |c| {
            let _ = tx.send(c);
        });
        for sid in 0..3 {
            committer.attach(db.session(sid).unwrap()).unwrap();
        }
        for seq in 1..=20u64 {
            for sid in 0..3u32 {
                committer.send(sid, vec![submitted(seq - 1, seq, 8)], seq).unwrap();
            }
        }
        let mut seen = std::collections::BTreeMap::new();
        while seen.values().filter(|u| **u == 20).count() < 3 {
            match rx.recv_timeout(std::time::Duration::from_secs(10)).expect("a report") {
                Committed::Durable { sid, upto } => {
                    let before = seen.insert(sid, upto).unwrap_or(0);
                    assert!(upto > before, "session {sid}: {upto} after {before}");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(committer.durable_upto(1), 20);
        assert!(matches!(committer.send(9, vec![Record::Epoch(1)], 1), Ok(())));
        // Records for a session that is not attached fail the commit: nothing is dropped.
        match rx.recv_timeout(std::time::Duration::from_secs(10)).expect("a report") {
            Committed::Failed(StoreError::UnknownSession { sid: 9 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(committer.stop().is_err());
        let s = db.session(2).unwrap();
        assert_eq!(s.session_store().outbound.len(), 20);
        drop(s);
        drop(db);
        let _ = std::fs::remove_file(&path);
    }
}
