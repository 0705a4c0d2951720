//! A versioned binary codec for every [`Record`] and for a snapshot of a [`SessionStore`]:
//! what a driver writes to disk. The format is specified in `core/PROTOCOL.md` ("Record and
//! snapshot encoding").
//!
//! Integers are fixed-width big-endian; an optional value is a flag byte (0 absent, 1
//! present) and the value; byte strings and map sizes carry a `u64` length; enums are one
//! tag byte. Every encoding starts with [`FORMAT_VERSION`]. Decoding checks every length,
//! tag and flag and that the input ends exactly where the value does: garbage yields a
//! [`RecordDecodeError`], never a panic, and never an allocation larger than the input.
//!
//! The component encoders ([`encode_message`], [`encode_finished`], …) are public so that a
//! store with one table per kind of value (the io-adapters' redb store) writes the same
//! bytes as the snapshot does.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::input::Ack;
use crate::message::{MessageId, NonDelivery, Outcome};
use crate::persist::{
    FinishedMessage, Record, SessionStore, StoredInbound, StoredMessage, UnacknowledgedDelivery,
};
use crate::time::Instant;
use crate::wire::{FirstSegment, Priority, RejectReason, Resolution};

/// The version byte in front of every record, snapshot and component value.
pub const FORMAT_VERSION: u8 = 1;

/// Why bytes do not decode as a record or a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RecordDecodeError {
    /// The input ended inside a value.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// The version byte is not one this build reads.
    #[error("unsupported format version {0}")]
    Version(u8),
    /// A tag or flag byte has no meaning here.
    #[error("invalid tag {tag} in {what}")]
    Tag {
        /// Which value.
        what: &'static str,
        /// The byte found.
        tag: u8,
    },
    /// Bytes remain after the value.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

type Result<T> = core::result::Result<T, RecordDecodeError>;

// ----- the writer and reader -----

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn versioned() -> Writer {
        Writer(alloc::vec![FORMAT_VERSION])
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn option<T>(&mut self, v: Option<T>, put: impl FnOnce(&mut Writer, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                put(self, v);
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn versioned(buf: &'a [u8]) -> Result<Reader<'a>> {
        let mut r = Reader { buf };
        match r.u8("version")? {
            FORMAT_VERSION => Ok(r),
            v => Err(RecordDecodeError::Version(v)),
        }
    }
    fn u8(&mut self, what: &'static str) -> Result<u8> {
        let (&b, rest) = self.buf.split_first().ok_or(RecordDecodeError::Truncated(what))?;
        self.buf = rest;
        Ok(b)
    }
    fn u64(&mut self, what: &'static str) -> Result<u64> {
        let Some((head, rest)) = self.buf.split_first_chunk::<8>() else {
            return Err(RecordDecodeError::Truncated(what));
        };
        self.buf = rest;
        Ok(u64::from_be_bytes(*head))
    }
    fn bytes(&mut self, what: &'static str) -> Result<Bytes> {
        let len = self.u64(what)?;
        let len = usize::try_from(len).ok().filter(|l| *l <= self.buf.len());
        let Some(len) = len else { return Err(RecordDecodeError::Truncated(what)) };
        let (b, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(Bytes::copy_from_slice(b))
    }
    fn option<T>(
        &mut self,
        what: &'static str,
        get: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => get(self).map(Some),
            tag => Err(RecordDecodeError::Tag { what, tag }),
        }
    }
    /// A map size: every entry takes at least one byte, so a count above what is left is
    /// garbage (and is refused before anything is allocated).
    fn count(&mut self, what: &'static str) -> Result<u64> {
        let n = self.u64(what)?;
        if n > self.buf.len() as u64 {
            return Err(RecordDecodeError::Truncated(what));
        }
        Ok(n)
    }
    fn end(&self) -> Result<()> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(RecordDecodeError::Trailing(n)),
        }
    }
}

// ----- components -----

fn put_priority(w: &mut Writer, p: Priority) {
    w.u8(p as u8);
}

fn get_priority(r: &mut Reader<'_>) -> Result<Priority> {
    match r.u8("priority")? {
        0 => Ok(Priority::Urgent),
        1 => Ok(Priority::Normal),
        2 => Ok(Priority::NonUrgent),
        tag => Err(RecordDecodeError::Tag { what: "priority", tag }),
    }
}

fn get_reject(r: &mut Reader<'_>) -> Result<RejectReason> {
    match r.u8("reject reason")? {
        1 => Ok(RejectReason::TooLarge),
        2 => Ok(RejectReason::Refused),
        3 => Ok(RejectReason::Expired),
        tag => Err(RecordDecodeError::Tag { what: "reject reason", tag }),
    }
}

fn put_non_delivery(w: &mut Writer, n: NonDelivery) {
    match n {
        NonDelivery::Expired => w.u8(1),
        NonDelivery::Cancelled => w.u8(2),
        NonDelivery::Rejected(r) => {
            w.u8(3);
            w.u8(r as u8);
        }
        NonDelivery::OpenFailed => w.u8(4),
    }
}

fn get_non_delivery(r: &mut Reader<'_>) -> Result<NonDelivery> {
    match r.u8("non-delivery")? {
        1 => Ok(NonDelivery::Expired),
        2 => Ok(NonDelivery::Cancelled),
        3 => Ok(NonDelivery::Rejected(get_reject(r)?)),
        4 => Ok(NonDelivery::OpenFailed),
        tag => Err(RecordDecodeError::Tag { what: "non-delivery", tag }),
    }
}

fn put_outcome(w: &mut Writer, o: Outcome) {
    match o {
        Outcome::Delivered => w.u8(0),
        Outcome::NonDelivered(n) => {
            w.u8(1);
            put_non_delivery(w, n);
        }
    }
}

fn get_outcome(r: &mut Reader<'_>) -> Result<Outcome> {
    match r.u8("outcome")? {
        0 => Ok(Outcome::Delivered),
        1 => Ok(Outcome::NonDelivered(get_non_delivery(r)?)),
        tag => Err(RecordDecodeError::Tag { what: "outcome", tag }),
    }
}

fn put_resolution(w: &mut Writer, res: Resolution) {
    match res {
        Resolution::Delivered => w.u8(0),
        Resolution::Cancelled => w.u8(1),
        Resolution::Rejected(r) => {
            w.u8(2);
            w.u8(r as u8);
        }
    }
}

fn get_resolution(r: &mut Reader<'_>) -> Result<Resolution> {
    match r.u8("resolution")? {
        0 => Ok(Resolution::Delivered),
        1 => Ok(Resolution::Cancelled),
        2 => Ok(Resolution::Rejected(get_reject(r)?)),
        tag => Err(RecordDecodeError::Tag { what: "resolution", tag }),
    }
}

fn put_first(w: &mut Writer, f: FirstSegment) {
    w.u64(f.total_len);
    put_priority(w, f.priority);
    w.u64(f.app_id);
}

fn get_first(r: &mut Reader<'_>) -> Result<FirstSegment> {
    let total_len = r.u64("first segment")?;
    let priority = get_priority(r)?;
    Ok(FirstSegment { total_len, priority, app_id: r.u64("first segment")? })
}

fn put_message(w: &mut Writer, m: &StoredMessage) {
    w.u64(m.app_id);
    put_priority(w, m.priority);
    w.u64(m.submitted.as_micros());
    w.u64(m.deadline.as_micros());
    w.option(m.msn, Writer::u64);
    w.option(m.cancel, put_non_delivery);
    w.bytes(&m.bytes);
}

fn get_message(r: &mut Reader<'_>) -> Result<StoredMessage> {
    let app_id = r.u64("message")?;
    let priority = get_priority(r)?;
    let submitted = Instant::from_micros(r.u64("message")?);
    let deadline = Instant::from_micros(r.u64("message")?);
    let msn = r.option("message msn", |r| r.u64("message msn"))?;
    let cancel = r.option("message cancel", get_non_delivery)?;
    let bytes = r.bytes("message bytes")?;
    Ok(StoredMessage { app_id, priority, submitted, deadline, bytes, msn, cancel })
}

fn put_finished(w: &mut Writer, f: &FinishedMessage) {
    w.u64(f.app_id);
    put_outcome(w, f.outcome);
}

fn get_finished(r: &mut Reader<'_>) -> Result<FinishedMessage> {
    let app_id = r.u64("finished message")?;
    Ok(FinishedMessage { app_id, outcome: get_outcome(r)? })
}

fn put_inbound(w: &mut Writer, i: &StoredInbound) {
    match i {
        StoredInbound::Partial { first, bytes } => {
            w.u8(0);
            w.option(*first, put_first);
            w.bytes(bytes);
        }
        StoredInbound::Resolved(res) => {
            w.u8(1);
            put_resolution(w, *res);
        }
    }
}

fn get_inbound(r: &mut Reader<'_>) -> Result<StoredInbound> {
    match r.u8("inbound")? {
        0 => {
            let first = r.option("inbound first", get_first)?;
            Ok(StoredInbound::Partial { first, bytes: r.bytes("inbound bytes")? })
        }
        1 => Ok(StoredInbound::Resolved(get_resolution(r)?)),
        tag => Err(RecordDecodeError::Tag { what: "inbound", tag }),
    }
}

fn put_delivery(w: &mut Writer, d: &UnacknowledgedDelivery) {
    w.u64(d.app_id);
    w.bytes(&d.bytes);
}

fn get_delivery(r: &mut Reader<'_>) -> Result<UnacknowledgedDelivery> {
    let app_id = r.u64("delivery")?;
    Ok(UnacknowledgedDelivery { app_id, bytes: r.bytes("delivery bytes")? })
}

/// Encodes one value with the version byte in front.
fn versioned(put: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::versioned();
    put(&mut w);
    w.0
}

/// Decodes one versioned value that must span the whole input.
fn whole<T>(buf: &[u8], get: impl FnOnce(&mut Reader<'_>) -> Result<T>) -> Result<T> {
    let mut r = Reader::versioned(buf)?;
    let v = get(&mut r)?;
    r.end()?;
    Ok(v)
}

/// An outbound message (a `Submitted` record's body, a row of a store's outbound table).
pub fn encode_message(m: &StoredMessage) -> Vec<u8> {
    versioned(|w| put_message(w, m))
}

/// Decodes [`encode_message`]'s bytes.
pub fn decode_message(buf: &[u8]) -> Result<StoredMessage> {
    whole(buf, get_message)
}

/// A finished message: its application id and outcome.
pub fn encode_finished(f: &FinishedMessage) -> Vec<u8> {
    versioned(|w| put_finished(w, f))
}

/// Decodes [`encode_finished`]'s bytes.
pub fn decode_finished(buf: &[u8]) -> Result<FinishedMessage> {
    whole(buf, get_finished)
}

/// An inbound resolution.
pub fn encode_resolution(res: Resolution) -> Vec<u8> {
    versioned(|w| put_resolution(w, res))
}

/// Decodes [`encode_resolution`]'s bytes.
pub fn decode_resolution(buf: &[u8]) -> Result<Resolution> {
    whole(buf, get_resolution)
}

/// The metadata of an inbound message's first segment, if known.
pub fn encode_first_segment(first: Option<FirstSegment>) -> Vec<u8> {
    versioned(|w| w.option(first, put_first))
}

/// Decodes [`encode_first_segment`]'s bytes.
pub fn decode_first_segment(buf: &[u8]) -> Result<Option<FirstSegment>> {
    whole(buf, |r| r.option("first segment", get_first))
}

/// A delivery the application has not acknowledged.
pub fn encode_delivery(d: &UnacknowledgedDelivery) -> Vec<u8> {
    versioned(|w| put_delivery(w, d))
}

/// Decodes [`encode_delivery`]'s bytes.
pub fn decode_delivery(buf: &[u8]) -> Result<UnacknowledgedDelivery> {
    whole(buf, get_delivery)
}

// ----- records -----

mod tag {
    pub(super) const EPOCH: u8 = 1;
    pub(super) const SUBMITTED: u8 = 2;
    pub(super) const ASSIGNED: u8 = 3;
    pub(super) const CANCEL_REQUESTED: u8 = 4;
    pub(super) const FINISHED: u8 = 5;
    pub(super) const CHUNK: u8 = 6;
    pub(super) const DELIVERED: u8 = 7;
    pub(super) const RESOLVED: u8 = 8;
    pub(super) const ACKNOWLEDGED: u8 = 9;
    pub(super) const FORGOTTEN: u8 = 10;
}

/// Encodes one record: version, tag, fields.
pub fn encode_record(record: &Record) -> Vec<u8> {
    versioned(|w| match record {
        Record::Epoch(e) => {
            w.u8(tag::EPOCH);
            w.u64(*e);
        }
        Record::Submitted { id, message } => {
            w.u8(tag::SUBMITTED);
            w.u64(id.0);
            put_message(w, message);
        }
        Record::Assigned { id, msn } => {
            w.u8(tag::ASSIGNED);
            w.u64(id.0);
            w.u64(*msn);
        }
        Record::CancelRequested { id, reason } => {
            w.u8(tag::CANCEL_REQUESTED);
            w.u64(id.0);
            put_non_delivery(w, *reason);
        }
        Record::Finished { id, outcome } => {
            w.u8(tag::FINISHED);
            w.u64(id.0);
            put_outcome(w, *outcome);
        }
        Record::Chunk { msn, offset, first, bytes } => {
            w.u8(tag::CHUNK);
            w.u64(*msn);
            w.u64(*offset);
            w.option(*first, put_first);
            w.bytes(bytes);
        }
        Record::Delivered { msn, app_id, bytes } => {
            w.u8(tag::DELIVERED);
            w.u64(*msn);
            w.u64(*app_id);
            w.bytes(bytes);
        }
        Record::Resolved { msn, resolution } => {
            w.u8(tag::RESOLVED);
            w.u64(*msn);
            put_resolution(w, *resolution);
        }
        Record::Acknowledged(ack) => {
            w.u8(tag::ACKNOWLEDGED);
            match ack {
                Ack::Delivery(msn) => {
                    w.u8(0);
                    w.u64(*msn);
                }
                Ack::Outcome(id) => {
                    w.u8(1);
                    w.u64(id.0);
                }
            }
        }
        Record::Forgotten { id } => {
            w.u8(tag::FORGOTTEN);
            w.u64(id.0);
        }
    })
}

/// Decodes [`encode_record`]'s bytes.
pub fn decode_record(buf: &[u8]) -> Result<Record> {
    whole(buf, |r| {
        let id = |r: &mut Reader<'_>| r.u64("message id").map(MessageId);
        Ok(match r.u8("record")? {
            tag::EPOCH => Record::Epoch(r.u64("epoch")?),
            tag::SUBMITTED => Record::Submitted { id: id(r)?, message: get_message(r)? },
            tag::ASSIGNED => Record::Assigned { id: id(r)?, msn: r.u64("msn")? },
            tag::CANCEL_REQUESTED => Record::CancelRequested { id: id(r)?, reason: get_non_delivery(r)? },
            tag::FINISHED => Record::Finished { id: id(r)?, outcome: get_outcome(r)? },
            tag::CHUNK => {
                let msn = r.u64("chunk")?;
                let offset = r.u64("chunk")?;
                let first = r.option("chunk first", get_first)?;
                Record::Chunk { msn, offset, first, bytes: r.bytes("chunk bytes")? }
            }
            tag::DELIVERED => {
                let msn = r.u64("delivered")?;
                let app_id = r.u64("delivered")?;
                Record::Delivered { msn, app_id, bytes: r.bytes("delivered bytes")? }
            }
            tag::RESOLVED => Record::Resolved { msn: r.u64("resolved")?, resolution: get_resolution(r)? },
            tag::ACKNOWLEDGED => match r.u8("acknowledgement")? {
                0 => Record::Acknowledged(Ack::Delivery(r.u64("acknowledgement")?)),
                1 => Record::Acknowledged(Ack::Outcome(id(r)?)),
                tag => return Err(RecordDecodeError::Tag { what: "acknowledgement", tag }),
            },
            tag::FORGOTTEN => Record::Forgotten { id: id(r)? },
            tag => return Err(RecordDecodeError::Tag { what: "record", tag }),
        })
    })
}

// ----- snapshots -----

fn put_map<K: Copy, V>(
    w: &mut Writer,
    m: &BTreeMap<K, V>,
    key: impl Fn(K) -> u64,
    put: impl Fn(&mut Writer, &V),
) {
    w.u64(m.len() as u64);
    for (k, v) in m {
        w.u64(key(*k));
        put(w, v);
    }
}

fn get_map<K: Ord, V>(
    r: &mut Reader<'_>,
    what: &'static str,
    key: impl Fn(u64) -> K,
    get: impl Fn(&mut Reader<'_>) -> Result<V>,
) -> Result<BTreeMap<K, V>> {
    let mut m = BTreeMap::new();
    for _ in 0..r.count(what)? {
        let k = key(r.u64(what)?);
        let v = get(r)?;
        m.insert(k, v);
    }
    Ok(m)
}

/// Encodes a whole session store (every field, derived ones included, so that decoding
/// gives back exactly the same value).
pub fn encode_store(s: &SessionStore) -> Vec<u8> {
    versioned(|w| {
        for v in [s.epoch, s.next_id, s.next_msn, s.queued_bytes, s.watermark, s.inbox_bytes] {
            w.u64(v);
        }
        put_map(w, &s.outbound, |id| id.0, put_message);
        put_map(w, &s.inbound, |msn| msn, put_inbound);
        put_map(w, &s.recent_non_delivered, |msn| msn, |w, r| put_resolution(w, *r));
        put_map(w, &s.outcomes, |id| id.0, put_finished);
        put_map(w, &s.remembered, |id| id.0, put_finished);
        put_map(w, &s.app_ids, |app| app, |w, id| w.u64(id.0));
        put_map(w, &s.inbox, |msn| msn, put_delivery);
    })
}

/// Decodes [`encode_store`]'s bytes.
pub fn decode_store(buf: &[u8]) -> Result<SessionStore> {
    whole(buf, |r| {
        let mut s = SessionStore {
            epoch: r.u64("store")?,
            next_id: r.u64("store")?,
            next_msn: r.u64("store")?,
            queued_bytes: r.u64("store")?,
            watermark: r.u64("store")?,
            inbox_bytes: r.u64("store")?,
            ..SessionStore::default()
        };
        s.outbound = get_map(r, "outbound", MessageId, get_message)?;
        s.inbound = get_map(r, "inbound", |m| m, get_inbound)?;
        s.recent_non_delivered = get_map(r, "recent", |m| m, get_resolution)?;
        s.outcomes = get_map(r, "outcomes", MessageId, get_finished)?;
        s.remembered = get_map(r, "remembered", MessageId, get_finished)?;
        s.app_ids = get_map(r, "app ids", |a| a, |r| r.u64("app id").map(MessageId))?;
        s.inbox = get_map(r, "inbox", |m| m, get_delivery)?;
        Ok(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> StoredMessage {
        StoredMessage {
            app_id: 7,
            priority: Priority::NonUrgent,
            submitted: Instant::from_micros(11),
            deadline: Instant::from_micros(99),
            bytes: Bytes::from_static(b"hello"),
            msn: Some(3),
            cancel: Some(NonDelivery::Rejected(RejectReason::Expired)),
        }
    }

    fn every_record() -> Vec<Record> {
        let first = FirstSegment { total_len: 9, priority: Priority::Urgent, app_id: 4 };
        alloc::vec![
            Record::Epoch(u64::MAX),
            Record::Submitted { id: MessageId(2), message: message() },
            Record::Submitted {
                id: MessageId(3),
                message: StoredMessage { msn: None, cancel: None, bytes: Bytes::new(), ..message() },
            },
            Record::Assigned { id: MessageId(2), msn: 5 },
            Record::CancelRequested { id: MessageId(2), reason: NonDelivery::Cancelled },
            Record::Finished { id: MessageId(2), outcome: Outcome::NonDelivered(NonDelivery::OpenFailed) },
            Record::Finished { id: MessageId(3), outcome: Outcome::Delivered },
            Record::Chunk { msn: 0, offset: 0, first: Some(first), bytes: Bytes::from_static(b"abc") },
            Record::Chunk { msn: 1, offset: 3, first: None, bytes: Bytes::new() },
            Record::Delivered { msn: 0, app_id: 4, bytes: Bytes::from_static(b"abcdefghi") },
            Record::Resolved { msn: 2, resolution: Resolution::Rejected(RejectReason::TooLarge) },
            Record::Resolved { msn: 1, resolution: Resolution::Cancelled },
            Record::Acknowledged(Ack::Delivery(0)),
            Record::Acknowledged(Ack::Outcome(MessageId(3))),
            Record::Forgotten { id: MessageId(3) },
        ]
    }

    #[test]
    fn every_record_round_trips() {
        for r in every_record() {
            let bytes = encode_record(&r);
            assert_eq!(bytes[0], FORMAT_VERSION);
            assert_eq!(decode_record(&bytes), Ok(r));
        }
    }

    #[test]
    fn a_snapshot_round_trips_exactly() {
        let mut s = SessionStore::default();
        let mut snapshots = alloc::vec![s.clone()];
        for r in every_record() {
            s.apply(&r);
            snapshots.push(s.clone());
        }
        let some = |f: fn(&SessionStore) -> bool| snapshots.iter().any(f);
        assert!(some(|s| !s.inbound.is_empty()) && some(|s| !s.recent_non_delivered.is_empty()));
        assert!(some(|s| !s.outbound.is_empty()) && some(|s| !s.inbox.is_empty()));
        assert!(some(|s| !s.outcomes.is_empty()) && some(|s| !s.remembered.is_empty()));
        for s in snapshots {
            assert_eq!(decode_store(&encode_store(&s)), Ok(s));
        }
    }

    #[test]
    fn components_round_trip() {
        assert_eq!(decode_message(&encode_message(&message())), Ok(message()));
        let f = FinishedMessage { app_id: 1, outcome: Outcome::NonDelivered(NonDelivery::Expired) };
        assert_eq!(decode_finished(&encode_finished(&f)), Ok(f));
        let res = Resolution::Rejected(RejectReason::Refused);
        assert_eq!(decode_resolution(&encode_resolution(res)), Ok(res));
        for first in [None, Some(FirstSegment { total_len: 1, priority: Priority::Normal, app_id: 2 })] {
            assert_eq!(decode_first_segment(&encode_first_segment(first)), Ok(first));
        }
        let d = UnacknowledgedDelivery { app_id: 3, bytes: Bytes::from_static(b"x") };
        assert_eq!(decode_delivery(&encode_delivery(&d)), Ok(d));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(decode_record(&[]), Err(RecordDecodeError::Truncated("version")));
        assert_eq!(decode_record(&[2, 1]), Err(RecordDecodeError::Version(2)));
        assert_eq!(decode_record(&[1, 99]), Err(RecordDecodeError::Tag { what: "record", tag: 99 }));
        let mut epoch = encode_record(&Record::Epoch(1));
        epoch.push(0);
        assert_eq!(decode_record(&epoch), Err(RecordDecodeError::Trailing(1)));
        // A length or count far beyond the input is refused before anything is allocated.
        let mut huge = alloc::vec![1u8];
        huge.extend_from_slice(&[0xff; 8 * 7]);
        assert_eq!(decode_store(&huge), Err(RecordDecodeError::Truncated("outbound")));
        // Every truncation of every record is an error, never a panic.
        for r in every_record() {
            let bytes = encode_record(&r);
            for n in 0..bytes.len() {
                assert!(decode_record(&bytes[..n]).is_err(), "{r:?} cut at {n}");
            }
        }
    }
}
