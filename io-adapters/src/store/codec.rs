//! The values kept in the store's tables. Every session value is encoded with the core's
//! record codec ([`assoc_core::record_codec`]); this module only adds the one-byte row tags
//! that say which kind of row a value is, and the session's counters row.

use assoc_core::record_codec::{self, RecordDecodeError};
use assoc_core::wire::{FirstSegment, Resolution};
use assoc_core::{FinishedMessage, StoredMessage, UnacknowledgedDelivery};

/// A value that does not decode: the store file is damaged or from another format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("corrupt {what} value: {why}")]
pub struct Corrupt {
    /// Which kind of value.
    pub what: &'static str,
    /// What the decoder found.
    pub why: RecordDecodeError,
}

/// Tags the core codec's error with the table it came from.
pub(crate) fn corrupt(what: &'static str) -> impl Fn(RecordDecodeError) -> Corrupt {
    move |why| Corrupt { what, why }
}

fn bad_tag(what: &'static str, tag: u8) -> Corrupt {
    Corrupt { what, why: RecordDecodeError::Tag { what, tag } }
}

fn truncated(what: &'static str) -> Corrupt {
    Corrupt { what, why: RecordDecodeError::Truncated(what) }
}

fn tagged(tag: u8, body: Vec<u8>) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 1);
    v.push(tag);
    v.extend_from_slice(&body);
    v
}

/// A session's counters, one row per session: what cannot be derived from its other rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SessionMeta {
    pub(crate) epoch: u64,
    pub(crate) next_id: u64,
    pub(crate) next_msn: u64,
    pub(crate) watermark: u64,
    pub(crate) max_app_id: u64,
    /// Every `Outcome` row below this id is acknowledged (read as remembered): outcomes
    /// acknowledged in id order cost no row write.
    pub(crate) acked_below: u64,
}

const META_LEN: usize = 1 + 6 * 8;

impl SessionMeta {
    /// The version byte of the core's codec, then six `u64`s big-endian.
    pub(crate) fn encode(&self) -> [u8; META_LEN] {
        let mut out = [0u8; META_LEN];
        out[0] = record_codec::FORMAT_VERSION;
        let fields =
            [self.epoch, self.next_id, self.next_msn, self.watermark, self.max_app_id, self.acked_below];
        for (i, v) in fields.into_iter().enumerate() {
            out[1 + 8 * i..9 + 8 * i].copy_from_slice(&v.to_be_bytes());
        }
        out
    }

    pub(crate) fn decode(buf: &[u8]) -> Result<SessionMeta, Corrupt> {
        let what = "session counters";
        let Some((&version, rest)) = buf.split_first() else { return Err(truncated(what)) };
        if version != record_codec::FORMAT_VERSION {
            return Err(Corrupt { what, why: RecordDecodeError::Version(version) });
        }
        if rest.len() != META_LEN - 1 {
            return Err(truncated(what));
        }
        let at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rest[8 * i..8 * i + 8]);
            u64::from_be_bytes(b)
        };
        Ok(SessionMeta {
            epoch: at(0),
            next_id: at(1),
            next_msn: at(2),
            watermark: at(3),
            max_app_id: at(4),
            acked_below: at(5),
        })
    }
}

/// A row of the `outbound` table: an outbound message through its whole life, so each
/// step is one overwrite of the same key (and the content is dropped at the outcome).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OutRow {
    /// In custody, as submitted (its msn and cancellation live in the `progress` table).
    Pending(StoredMessage),
    /// Finished; the application has not acknowledged the outcome.
    Outcome(FinishedMessage),
    /// Finished and acknowledged: remembered for idempotent submission.
    Remembered(FinishedMessage),
}

impl OutRow {
    /// Tag `0`, `1` or `2`, then the core's message or finished-message value.
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            OutRow::Pending(m) => tagged(0, record_codec::encode_message(m)),
            OutRow::Outcome(f) => tagged(1, record_codec::encode_finished(f)),
            OutRow::Remembered(f) => tagged(2, record_codec::encode_finished(f)),
        }
    }

    pub(crate) fn decode(buf: &[u8]) -> Result<OutRow, Corrupt> {
        let what = "outbound row";
        match buf.split_first() {
            Some((0, rest)) => {
                Ok(OutRow::Pending(record_codec::decode_message(rest).map_err(corrupt(what))?))
            }
            Some((1, rest)) => {
                Ok(OutRow::Outcome(record_codec::decode_finished(rest).map_err(corrupt(what))?))
            }
            Some((2, rest)) => {
                Ok(OutRow::Remembered(record_codec::decode_finished(rest).map_err(corrupt(what))?))
            }
            Some((tag, _)) => Err(bad_tag(what, *tag)),
            None => Err(truncated(what)),
        }
    }
}

/// A `progress` row: the message's metadata without its content (the core's message
/// value with empty bytes); only its `msn` and `cancel` are read back.
pub(crate) fn encode_progress(m: &StoredMessage) -> Vec<u8> {
    let meta = StoredMessage { bytes: bytes::Bytes::new(), ..m.clone() };
    record_codec::encode_message(&meta)
}

pub(crate) fn decode_progress(buf: &[u8]) -> Result<StoredMessage, Corrupt> {
    record_codec::decode_message(buf).map_err(corrupt("progress row"))
}

/// The head of an inbound message at or above the watermark. A partial message's content
/// lives in chunk rows keyed `(msn, offset)`; its length is theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InboundHead {
    Partial(Option<FirstSegment>),
    Resolved(Resolution),
}

/// `0` then the core's first-segment value, or `1` then the core's resolution value.
pub(crate) fn encode_head(h: &InboundHead) -> Vec<u8> {
    match h {
        InboundHead::Partial(first) => tagged(0, record_codec::encode_first_segment(*first)),
        InboundHead::Resolved(res) => tagged(1, record_codec::encode_resolution(*res)),
    }
}

pub(crate) fn decode_head(buf: &[u8]) -> Result<InboundHead, Corrupt> {
    let what = "inbound head";
    match buf.split_first() {
        Some((0, rest)) => {
            Ok(InboundHead::Partial(record_codec::decode_first_segment(rest).map_err(corrupt(what))?))
        }
        Some((1, rest)) => {
            Ok(InboundHead::Resolved(record_codec::decode_resolution(rest).map_err(corrupt(what))?))
        }
        Some((tag, _)) => Err(bad_tag(what, *tag)),
        None => Err(truncated(what)),
    }
}

/// The first chunk of an inbound message (offset 0) carries the message's metadata, so a
/// partial message needs no head row: the length of the core's first-segment value (one
/// byte), that value, then the content. Later chunks are content only.
pub(crate) fn encode_chunk0(first: Option<FirstSegment>, content: &[u8]) -> Vec<u8> {
    let meta = record_codec::encode_first_segment(first);
    let mut v = Vec::with_capacity(1 + meta.len() + content.len());
    // A first-segment value is a few dozen bytes: its length fits in one.
    v.push(meta.len() as u8);
    v.extend_from_slice(&meta);
    v.extend_from_slice(content);
    v
}

pub(crate) fn decode_chunk0(buf: &[u8]) -> Result<(Option<FirstSegment>, &[u8]), Corrupt> {
    let what = "first chunk";
    let Some((&len, rest)) = buf.split_first() else { return Err(truncated(what)) };
    if rest.len() < usize::from(len) {
        return Err(truncated(what));
    }
    let (meta, content) = rest.split_at(usize::from(len));
    Ok((record_codec::decode_first_segment(meta).map_err(corrupt(what))?, content))
}

/// An `inbox` row: a delivery with its content inline, or one whose content stayed in the
/// chunk rows it was received into (written once, not copied at delivery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InboxRow {
    Inline(UnacknowledgedDelivery),
    InChunks { app_id: u64, len: u64 },
}

impl InboxRow {
    /// `0` then the core's delivery value, or `1`, the app id and the length (u64 big-endian).
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            InboxRow::Inline(d) => tagged(0, record_codec::encode_delivery(d)),
            InboxRow::InChunks { app_id, len } => {
                let mut v = vec![1];
                v.extend_from_slice(&app_id.to_be_bytes());
                v.extend_from_slice(&len.to_be_bytes());
                v
            }
        }
    }

    pub(crate) fn decode(buf: &[u8]) -> Result<InboxRow, Corrupt> {
        let what = "inbox row";
        match buf.split_first() {
            Some((0, rest)) => {
                Ok(InboxRow::Inline(record_codec::decode_delivery(rest).map_err(corrupt(what))?))
            }
            Some((1, rest)) if rest.len() == 16 => {
                let (a, l) = rest.split_at(8);
                let n = |b: &[u8]| {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(b);
                    u64::from_be_bytes(x)
                };
                Ok(InboxRow::InChunks { app_id: n(a), len: n(l) })
            }
            Some((1, _)) => Err(truncated(what)),
            Some((tag, _)) => Err(bad_tag(what, *tag)),
            None => Err(truncated(what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assoc_core::wire::RejectReason;
    use assoc_core::{Instant, NonDelivery, Outcome, Priority};
    use bytes::Bytes;

    #[test]
    fn rows_round_trip() {
        let meta = SessionMeta {
            epoch: 1,
            next_id: 2,
            next_msn: 3,
            watermark: 4,
            max_app_id: u64::MAX,
            acked_below: 6,
        };
        assert_eq!(SessionMeta::decode(&meta.encode()), Ok(meta));
        let m = StoredMessage {
            app_id: 9,
            priority: Priority::Urgent,
            submitted: Instant::from_micros(1),
            deadline: Instant::from_micros(2),
            bytes: Bytes::from_static(b"abc"),
            msn: Some(4),
            cancel: Some(NonDelivery::Expired),
        };
        let f = FinishedMessage { app_id: 3, outcome: Outcome::Delivered };
        for row in [OutRow::Pending(m.clone()), OutRow::Outcome(f), OutRow::Remembered(f)] {
            assert_eq!(OutRow::decode(&row.encode()), Ok(row));
        }
        let p = decode_progress(&encode_progress(&m)).unwrap();
        assert_eq!((p.msn, p.cancel, p.bytes.len()), (m.msn, m.cancel, 0));
        let heads = [
            InboundHead::Partial(None),
            InboundHead::Partial(Some(FirstSegment { total_len: 9, priority: Priority::Urgent, app_id: 4 })),
            InboundHead::Resolved(Resolution::Rejected(RejectReason::TooLarge)),
            InboundHead::Resolved(Resolution::Cancelled),
        ];
        for h in heads {
            assert_eq!(decode_head(&encode_head(&h)), Ok(h));
        }
        let first = Some(FirstSegment { total_len: 9, priority: Priority::Normal, app_id: 4 });
        for f in [None, first] {
            assert_eq!(decode_chunk0(&encode_chunk0(f, b"abc")), Ok((f, &b"abc"[..])));
        }
        let d = UnacknowledgedDelivery { app_id: 5, bytes: Bytes::from_static(b"xy") };
        for row in [InboxRow::Inline(d), InboxRow::InChunks { app_id: 5, len: 1 << 20 }] {
            assert_eq!(InboxRow::decode(&row.encode()), Ok(row));
        }
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        for n in 0..60u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
            let _ = SessionMeta::decode(&junk);
            let _ = OutRow::decode(&junk);
            let _ = decode_progress(&junk);
            let _ = decode_head(&junk);
            let _ = InboxRow::decode(&junk);
            let _ = decode_chunk0(&junk);
        }
        assert!(decode_head(&[7]).is_err());
        assert!(OutRow::decode(&[3]).is_err());
        assert!(InboxRow::decode(&[1, 0]).is_err());
        assert!(SessionMeta::decode(&[record_codec::FORMAT_VERSION, 0]).is_err());
    }
}
