//! Byte encodings of the values kept in the store's tables.
//!
//! Fixed-width big-endian integers and one-byte tags; a value's variable-length content
//! (message bytes) always comes last and runs to the end. Every decoder checks lengths and
//! tags and reports corruption instead of panicking.

use assoc_core::wire::{FirstSegment, RejectReason, Resolution};
use assoc_core::{Instant, MessageId, NonDelivery, Outcome, Priority, StoredMessage};
use bytes::Bytes;

/// A value that does not decode: the store file is damaged or from another format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("corrupt {what} value")]
pub struct Corrupt {
    /// Which kind of value.
    pub what: &'static str,
}

/// The head of an inbound message at or above the watermark. Partial content lives in
/// chunk rows keyed `(msn, offset)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InboundHead {
    Partial { first: Option<FirstSegment>, len: u64 },
    Resolved(Resolution),
}

#[derive(Default)]
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }
    fn err(&self) -> Corrupt {
        Corrupt { what: self.what }
    }
    fn u8(&mut self) -> Result<u8, Corrupt> {
        let (&b, rest) = self.buf.split_first().ok_or(Corrupt { what: self.what })?;
        self.buf = rest;
        Ok(b)
    }
    fn u64(&mut self) -> Result<u64, Corrupt> {
        if self.buf.len() < 8 {
            return Err(self.err());
        }
        let (head, rest) = self.buf.split_at(8);
        self.buf = rest;
        let mut a = [0u8; 8];
        a.copy_from_slice(head);
        Ok(u64::from_be_bytes(a))
    }
    fn rest(&mut self) -> Bytes {
        let b = Bytes::copy_from_slice(self.buf);
        self.buf = &[];
        b
    }
    fn end(&self) -> Result<(), Corrupt> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.err())
        }
    }
}

fn priority_code(p: Priority) -> u8 {
    p as u8
}

fn priority_from(code: u8, r: &Reader<'_>) -> Result<Priority, Corrupt> {
    match code {
        0 => Ok(Priority::Urgent),
        1 => Ok(Priority::Normal),
        2 => Ok(Priority::NonUrgent),
        _ => Err(r.err()),
    }
}

fn reject_from(code: u8, r: &Reader<'_>) -> Result<RejectReason, Corrupt> {
    match code {
        1 => Ok(RejectReason::TooLarge),
        2 => Ok(RejectReason::Refused),
        3 => Ok(RejectReason::Expired),
        _ => Err(r.err()),
    }
}

fn put_non_delivery(w: &mut Writer, n: NonDelivery) {
    match n {
        NonDelivery::Expired => w.u8(1),
        NonDelivery::Cancelled => w.u8(2),
        NonDelivery::Rejected(r) => w.u8(3).u8(r as u8),
        NonDelivery::OpenFailed => w.u8(4),
    };
}

fn get_non_delivery(r: &mut Reader<'_>) -> Result<NonDelivery, Corrupt> {
    match r.u8()? {
        1 => Ok(NonDelivery::Expired),
        2 => Ok(NonDelivery::Cancelled),
        3 => {
            let c = r.u8()?;
            Ok(NonDelivery::Rejected(reject_from(c, r)?))
        }
        4 => Ok(NonDelivery::OpenFailed),
        _ => Err(r.err()),
    }
}

fn put_outcome(w: &mut Writer, o: Outcome) {
    match o {
        Outcome::Delivered => {
            w.u8(0);
        }
        Outcome::NonDelivered(n) => {
            w.u8(1);
            put_non_delivery(w, n);
        }
    }
}

fn get_outcome(r: &mut Reader<'_>) -> Result<Outcome, Corrupt> {
    match r.u8()? {
        0 => Ok(Outcome::Delivered),
        1 => Ok(Outcome::NonDelivered(get_non_delivery(r)?)),
        _ => Err(r.err()),
    }
}

fn put_resolution(w: &mut Writer, res: Resolution) {
    match res {
        Resolution::Delivered => w.u8(0),
        Resolution::Cancelled => w.u8(1),
        Resolution::Rejected(r) => w.u8(2).u8(r as u8),
    };
}

fn get_resolution(r: &mut Reader<'_>) -> Result<Resolution, Corrupt> {
    match r.u8()? {
        0 => Ok(Resolution::Delivered),
        1 => Ok(Resolution::Cancelled),
        2 => {
            let c = r.u8()?;
            Ok(Resolution::Rejected(reject_from(c, r)?))
        }
        _ => Err(r.err()),
    }
}

/// Format version byte in front of every outbound message value.
const MESSAGE_V1: u8 = 1;

pub(crate) fn encode_message(m: &StoredMessage) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(MESSAGE_V1)
        .u64(m.app_id)
        .u8(priority_code(m.priority))
        .u64(m.submitted.as_micros())
        .u64(m.deadline.as_micros());
    match m.msn {
        Some(msn) => w.u8(1).u64(msn),
        None => w.u8(0),
    };
    match m.cancel {
        Some(n) => {
            w.u8(1);
            put_non_delivery(&mut w, n);
        }
        None => {
            w.u8(0);
        }
    }
    w.bytes(&m.bytes).finish()
}

pub(crate) fn decode_message(buf: &[u8]) -> Result<StoredMessage, Corrupt> {
    let mut r = Reader::new(buf, "outbound message");
    if r.u8()? != MESSAGE_V1 {
        return Err(r.err());
    }
    let app_id = r.u64()?;
    let p = r.u8()?;
    let priority = priority_from(p, &r)?;
    let submitted = Instant::from_micros(r.u64()?);
    let deadline = Instant::from_micros(r.u64()?);
    let msn = match r.u8()? {
        0 => None,
        1 => Some(r.u64()?),
        _ => return Err(r.err()),
    };
    let cancel = match r.u8()? {
        0 => None,
        1 => Some(get_non_delivery(&mut r)?),
        _ => return Err(r.err()),
    };
    let bytes = r.rest();
    Ok(StoredMessage { app_id, priority, submitted, deadline, bytes, msn, cancel })
}

pub(crate) fn encode_head(h: &InboundHead) -> Vec<u8> {
    let mut w = Writer::default();
    match h {
        InboundHead::Partial { first, len } => {
            w.u8(0);
            match first {
                Some(f) => w.u8(1).u64(f.total_len).u8(priority_code(f.priority)).u64(f.app_id),
                None => w.u8(0),
            };
            w.u64(*len);
        }
        InboundHead::Resolved(res) => {
            w.u8(1);
            put_resolution(&mut w, *res);
        }
    }
    w.finish()
}

pub(crate) fn decode_head(buf: &[u8]) -> Result<InboundHead, Corrupt> {
    let mut r = Reader::new(buf, "inbound head");
    let head = match r.u8()? {
        0 => {
            let first = match r.u8()? {
                0 => None,
                1 => {
                    let total_len = r.u64()?;
                    let p = r.u8()?;
                    let priority = priority_from(p, &r)?;
                    Some(FirstSegment { total_len, priority, app_id: r.u64()? })
                }
                _ => return Err(r.err()),
            };
            InboundHead::Partial { first, len: r.u64()? }
        }
        1 => InboundHead::Resolved(get_resolution(&mut r)?),
        _ => return Err(r.err()),
    };
    r.end()?;
    Ok(head)
}

pub(crate) fn encode_resolution(res: Resolution) -> Vec<u8> {
    let mut w = Writer::default();
    put_resolution(&mut w, res);
    w.finish()
}

pub(crate) fn decode_resolution(buf: &[u8]) -> Result<Resolution, Corrupt> {
    let mut r = Reader::new(buf, "resolution");
    let res = get_resolution(&mut r)?;
    r.end()?;
    Ok(res)
}

/// An inbox row: the sender's app id, then the content.
pub(crate) fn encode_inbox(app_id: u64, bytes: &[u8]) -> Vec<u8> {
    Writer::default().u64(app_id).bytes(bytes).finish()
}

pub(crate) fn decode_inbox(buf: &[u8]) -> Result<(u64, Bytes), Corrupt> {
    let mut r = Reader::new(buf, "inbox");
    let app_id = r.u64()?;
    Ok((app_id, r.rest()))
}

/// An outcome row: the app id and the outcome.
pub(crate) fn encode_outcome(app_id: u64, outcome: Outcome) -> Vec<u8> {
    let mut w = Writer::default();
    w.u64(app_id);
    put_outcome(&mut w, outcome);
    w.finish()
}

pub(crate) fn decode_outcome(buf: &[u8]) -> Result<(u64, Outcome), Corrupt> {
    let mut r = Reader::new(buf, "outcome");
    let app_id = r.u64()?;
    let o = get_outcome(&mut r)?;
    r.end()?;
    Ok((app_id, o))
}

/// An app-id row: the message id and, once known, its outcome.
pub(crate) fn encode_app_id(id: MessageId, outcome: Option<Outcome>) -> Vec<u8> {
    let mut w = Writer::default();
    w.u64(id.0);
    if let Some(o) = outcome {
        put_outcome(&mut w, o);
    }
    w.finish()
}

pub(crate) fn decode_app_id(buf: &[u8]) -> Result<(MessageId, Option<Outcome>), Corrupt> {
    let mut r = Reader::new(buf, "app id");
    let id = MessageId(r.u64()?);
    let outcome = if r.buf.is_empty() { None } else { Some(get_outcome(&mut r)?) };
    r.end()?;
    Ok((id, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let m = StoredMessage {
            app_id: 7,
            priority: Priority::NonUrgent,
            submitted: Instant::from_micros(11),
            deadline: Instant::from_micros(99),
            bytes: Bytes::from_static(b"hello"),
            msn: Some(3),
            cancel: Some(NonDelivery::Rejected(RejectReason::Expired)),
        };
        assert_eq!(decode_message(&encode_message(&m)), Ok(m.clone()));
        let m2 = StoredMessage { msn: None, cancel: None, bytes: Bytes::new(), ..m };
        assert_eq!(decode_message(&encode_message(&m2)), Ok(m2));
        let heads = [
            InboundHead::Partial { first: None, len: 0 },
            InboundHead::Partial {
                first: Some(FirstSegment { total_len: 9, priority: Priority::Urgent, app_id: 4 }),
                len: 5,
            },
            InboundHead::Resolved(Resolution::Rejected(RejectReason::TooLarge)),
            InboundHead::Resolved(Resolution::Cancelled),
        ];
        for h in heads {
            assert_eq!(decode_head(&encode_head(&h)), Ok(h));
        }
        for o in [Outcome::Delivered, Outcome::NonDelivered(NonDelivery::OpenFailed)] {
            assert_eq!(decode_outcome(&encode_outcome(5, o)), Ok((5, o)));
            assert_eq!(decode_app_id(&encode_app_id(MessageId(2), Some(o))), Ok((MessageId(2), Some(o))));
        }
        assert_eq!(decode_app_id(&encode_app_id(MessageId(2), None)), Ok((MessageId(2), None)));
        assert_eq!(decode_inbox(&encode_inbox(3, b"xy")), Ok((3, Bytes::from_static(b"xy"))));
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        for n in 0..40u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
            let _ = decode_message(&junk);
            let _ = decode_head(&junk);
            let _ = decode_resolution(&junk);
            let _ = decode_outcome(&junk);
            let _ = decode_app_id(&junk);
        }
        assert!(decode_head(&[7]).is_err());
    }
}
