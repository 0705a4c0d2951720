//! `store`: [`SessionStore::apply`] over any record sequence, including replays of earlier
//! records after later ones.
//!
//! After every application of a record `r` to a state `s`:
//! * idempotent: applying `r` again to `s.apply(r)` changes nothing;
//! * monotone: `epoch`, `next_id`, `next_msn` and `watermark` never decrease;
//! * facts are stable: a finished message never comes back, an assigned msn or a
//!   cancellation never changes, an inbound resolution never changes (while it is still
//!   remembered), a durable inbound prefix only grows (and keeps its metadata) until the
//!   message is resolved;
//! * shape: inbound entries at or above the watermark, remembered non-deliveries in the
//!   512 msns below it, every outbound id below `next_id`.
//!
//! And the durable store (`assoc_io::store`, in memory): the same records committed in
//! batches leave its view equal to the fold after every commit, and its rows, read back,
//! hold exactly that fold.
//!
//! And the record codec (`assoc_core::record_codec`): every record applied and every state
//! reached round-trip exactly; raw bytes decode as a record or a snapshot or give a typed
//! error, never a panic, and a record that decodes re-encodes to the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use assoc_core::persist::MAX_MSG_WINDOW;
use assoc_core::record_codec::{decode_record, decode_store, encode_record, encode_store};
use assoc_core::wire::{FirstSegment, Resolution};
use assoc_core::{MessageId, NonDelivery, Record, SessionStore, StoredInbound};
use bytes::Bytes;

use crate::common::Progress;

/// Most records of one case that are applied.
const MAX_OPS: usize = 1_000;

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub struct Case {
    /// Map ids, msns and offsets into small ranges so that records meet.
    small: bool,
    ops: Vec<Op>,
}

/// One record application.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Apply this record.
    Apply(Record),
    /// Apply an earlier record again (counting back from the newest).
    Again {
        /// Which one.
        back: u8,
    },
    /// Decode raw bytes as a record and as a snapshot (nothing is applied).
    Decode(Vec<u8>),
    /// Apply a chunk that extends the durable prefix of `msn` exactly.
    Extend {
        /// The message (modulo 8 above the watermark).
        msn: u8,
        /// Chunk length.
        len: u8,
    },
    /// Deliver what a partial message holds, as the core does (its content then stays in
    /// the store's chunk rows).
    Deliver {
        /// The message (modulo 4 above the watermark).
        msn: u8,
        /// Bytes appended to the durable prefix.
        more: u8,
    },
}

fn shrink(r: &mut Record) {
    match r {
        Record::Epoch(e) => *e %= 8,
        Record::Submitted { id, message } => {
            id.0 %= 16;
            if let Some(m) = message.msn.as_mut() {
                *m %= 16;
            }
        }
        Record::Assigned { id, msn } => {
            id.0 %= 16;
            *msn %= 16;
        }
        Record::CancelRequested { id, .. } | Record::Finished { id, .. } => id.0 %= 16,
        Record::Chunk { msn, offset, bytes, .. } => {
            *msn %= 16;
            *offset %= 8;
            bytes.truncate(8);
        }
        Record::Delivered { msn, .. } | Record::Resolved { msn, .. } => *msn %= 16,
        _ => {}
    }
}

/// What the store has said so far that must stay said.
#[derive(Default)]
struct Facts {
    finished: BTreeSet<MessageId>,
    assigned: BTreeMap<MessageId, u64>,
    cancel: BTreeMap<MessageId, NonDelivery>,
    resolved: BTreeMap<u64, Resolution>,
    prefix: BTreeMap<u64, (Option<FirstSegment>, Bytes)>,
}

/// How `msn` is resolved according to `st`, if it is and `st` still remembers how.
fn resolution(st: &SessionStore, msn: u64) -> Option<Resolution> {
    if let Some(StoredInbound::Resolved(r)) = st.inbound.get(&msn) {
        return Some(*r);
    }
    if msn < st.watermark {
        return Some(st.recent_non_delivered.get(&msn).copied().unwrap_or(Resolution::Delivered));
    }
    None
}

impl Facts {
    fn check(&mut self, before: &SessionStore, st: &SessionStore, r: &Record) -> Result<(), String> {
        if let Record::Finished { id, .. } = r {
            if before.outbound.contains_key(id) {
                self.finished.insert(*id);
            }
        }
        for id in &self.finished {
            if st.outbound.contains_key(id) {
                return Err(format!("finished {id:?} is back in the outbound store"));
            }
        }
        for (id, m) in &st.outbound {
            if id.0 >= st.next_id {
                return Err(format!("{id:?} at or above next_id {}", st.next_id));
            }
            if let Some(msn) = m.msn {
                if *self.assigned.entry(*id).or_insert(msn) != msn {
                    return Err(format!("{id:?} msn changed to {msn}"));
                }
            }
            if let Some(c) = m.cancel {
                if *self.cancel.entry(*id).or_insert(c) != c {
                    return Err(format!("{id:?} cancellation changed to {c:?}"));
                }
            }
        }
        let remembered = st.watermark.saturating_sub(MAX_MSG_WINDOW);
        for (&msn, &old) in self.resolved.range(remembered..) {
            match resolution(st, msn) {
                Some(now) if now == old => {}
                now => return Err(format!("msn {msn} was resolved {old:?}, now {now:?}")),
            }
        }
        for (&msn, entry) in &st.inbound {
            if msn < st.watermark {
                return Err(format!("inbound msn {msn} below the watermark {}", st.watermark));
            }
            match entry {
                StoredInbound::Resolved(r) => {
                    self.resolved.entry(msn).or_insert(*r);
                }
                StoredInbound::Partial { first, bytes } => {
                    if let Some((old_first, old)) = self.prefix.get(&msn) {
                        if !bytes.starts_with(old) {
                            return Err(format!(
                                "inbound msn {msn}: durable prefix {old:?} became {bytes:?}"
                            ));
                        }
                        if old_first.is_some() && old_first != first {
                            return Err(format!(
                                "inbound msn {msn}: metadata {old_first:?} became {first:?}"
                            ));
                        }
                    }
                    self.prefix.insert(msn, (*first, bytes.clone()));
                }
            }
        }
        for (&msn, &r) in st.recent_non_delivered.range(..st.watermark) {
            self.resolved.entry(msn).or_insert(r);
        }
        if let Some((&hi, _)) = st.recent_non_delivered.last_key_value() {
            if hi >= st.watermark {
                return Err(format!("remembered non-delivery of msn {hi} at or above the watermark"));
            }
        }
        if let Some((&lo, _)) = st.recent_non_delivered.first_key_value() {
            if lo < remembered {
                return Err(format!("remembered non-delivery of msn {lo} below the window"));
            }
        }
        // Below the watermark every msn is resolved for good: prefixes no longer apply.
        self.prefix.retain(|&msn, _| msn >= st.watermark);
        if let Some(msn) = self.prefix.keys().find(|m| !st.inbound.contains_key(m)) {
            return Err(format!("inbound msn {msn} lost its durable prefix without being resolved"));
        }
        Ok(())
    }
}

/// Records applied between two store commits (at most).
const BATCH: usize = 4;

/// Runs one case; panics with a description on the first violated property.
pub fn run(case: Case) {
    let db = assoc_io::Database::in_memory().expect("an in-memory database opens");
    let mut store = db.session(0).expect("a fresh namespace opens");
    let mut batch: Vec<Record> = Vec::new();
    let mut commit = |batch: &mut Vec<Record>, st: &SessionStore, verify: bool| {
        if let Err(e) = store.commit(batch) {
            panic!("committing {batch:?}: {e}");
        }
        if store.session_store() != st {
            panic!("after committing {batch:?} the store's view differs from the fold");
        }
        if verify && !store.verify().unwrap_or(false) {
            panic!("after committing {batch:?} the rows differ from the fold");
        }
        batch.clear();
    };
    let mut st = SessionStore::default();
    let mut applied: Vec<Record> = Vec::new();
    let mut facts = Facts::default();
    for (n, op) in case.ops.into_iter().take(MAX_OPS).enumerate() {
        let r = match op {
            Op::Apply(mut r) => {
                if case.small {
                    shrink(&mut r);
                }
                r
            }
            Op::Again { back } => {
                match applied.len().checked_sub(1 + usize::from(back) % applied.len().max(1)) {
                    Some(k) => applied[k].clone(),
                    None => continue,
                }
            }
            Op::Decode(raw) => {
                if let Err(e) = check_decode(&raw) {
                    panic!("op {n}: {e}");
                }
                continue;
            }
            Op::Extend { msn, len } => {
                let msn = st.watermark + u64::from(msn % 8);
                let offset = match st.inbound.get(&msn) {
                    Some(StoredInbound::Partial { bytes, .. }) => bytes.len() as u64,
                    _ => 0,
                };
                let bytes = crate::common::content(msn, usize::from(len % 16) + 1);
                Record::Chunk { msn, offset, first: None, bytes }
            }
            Op::Deliver { msn, more } => {
                let msn = st.watermark + u64::from(msn % 4);
                let Some(StoredInbound::Partial { first, bytes }) = st.inbound.get(&msn) else { continue };
                let mut content = bytes.to_vec();
                content.extend_from_slice(&crate::common::content(msn, usize::from(more % 4)));
                let app_id = first.map_or(0, |f| f.app_id);
                Record::Delivered { msn, app_id, bytes: Bytes::from(content) }
            }
        };
        let before = st.clone();
        st.apply(&r);
        let once = st.clone();
        st.apply(&r);
        if st != once {
            panic!("op {n}: applying {r:?} twice differs from once:\n{once:?}\nvs\n{st:?}");
        }
        if let Err(e) = Progress::of(&before).check_advanced(Progress::of(&st)) {
            panic!("op {n}: {r:?}: {e}");
        }
        if let Err(e) = facts.check(&before, &st, &r) {
            panic!("op {n}: after {r:?}: {e}");
        }
        if decode_record(&encode_record(&r)).as_ref() != Ok(&r) {
            panic!("op {n}: {r:?} does not round-trip through the record codec");
        }
        if decode_store(&encode_store(&st)).as_ref() != Ok(&st) {
            panic!("op {n}: after {r:?} the state does not round-trip through the snapshot codec");
        }
        batch.push(r.clone());
        applied.push(r);
        if batch.len() >= BATCH || n % 3 == 0 {
            commit(&mut batch, &st, n % 16 == 0);
        }
    }
    commit(&mut batch, &st, true);
}

/// Raw bytes: a record that decodes is canonical (re-encodes to the same bytes); a snapshot
/// that decodes round-trips; anything else is a typed error (a panic fails the target).
fn check_decode(raw: &[u8]) -> Result<(), String> {
    if let Ok(r) = decode_record(raw) {
        if encode_record(&r) != raw {
            return Err(format!("{r:?} decoded from bytes it does not encode to"));
        }
    }
    if let Ok(st) = decode_store(raw) {
        if decode_store(&encode_store(&st)).as_ref() != Ok(&st) {
            return Err("a decoded snapshot does not round-trip".to_string());
        }
    }
    Ok(())
}
