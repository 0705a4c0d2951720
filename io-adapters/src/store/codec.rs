//! The values kept in the store's tables: the core's record codec
//! ([`assoc_core::record_codec`]) for every session value, so the tables hold the same bytes
//! a snapshot of the session store does; only the table-specific inbound head (a partial
//! message's length, its content living in chunk rows) is composed here, from the core's
//! pieces.

use assoc_core::record_codec::{self, RecordDecodeError};
use assoc_core::wire::{FirstSegment, Resolution};
use assoc_core::MessageId;

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

/// The head of an inbound message at or above the watermark. Partial content lives in
/// chunk rows keyed `(msn, offset)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InboundHead {
    Partial { first: Option<FirstSegment>, len: u64 },
    Resolved(Resolution),
}

/// `0`, the length (u64 big-endian), then the core's first-segment value; or `1`, then
/// the core's resolution value.
pub(crate) fn encode_head(h: &InboundHead) -> Vec<u8> {
    match h {
        InboundHead::Partial { first, len } => {
            let mut v = vec![0];
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(&record_codec::encode_first_segment(*first));
            v
        }
        InboundHead::Resolved(res) => {
            let mut v = vec![1];
            v.extend_from_slice(&record_codec::encode_resolution(*res));
            v
        }
    }
}

pub(crate) fn decode_head(buf: &[u8]) -> Result<InboundHead, Corrupt> {
    let bad =
        |tag| Corrupt { what: "inbound head", why: RecordDecodeError::Tag { what: "inbound head", tag } };
    match buf.split_first() {
        Some((0, rest)) => {
            let Some((len, first)) = rest.split_first_chunk::<8>() else {
                return Err(Corrupt { what: "inbound head", why: RecordDecodeError::Truncated("length") });
            };
            let first = record_codec::decode_first_segment(first).map_err(corrupt("inbound head"))?;
            Ok(InboundHead::Partial { first, len: u64::from_be_bytes(*len) })
        }
        Some((1, rest)) => {
            Ok(InboundHead::Resolved(record_codec::decode_resolution(rest).map_err(corrupt("inbound head"))?))
        }
        Some((tag, _)) => Err(bad(*tag)),
        None => Err(Corrupt { what: "inbound head", why: RecordDecodeError::Truncated("inbound head") }),
    }
}

/// An app-id row: the message id (u64 big-endian).
pub(crate) fn encode_id(id: MessageId) -> [u8; 8] {
    id.0.to_be_bytes()
}

pub(crate) fn decode_id(buf: &[u8]) -> Result<MessageId, Corrupt> {
    let a: [u8; 8] = buf
        .try_into()
        .map_err(|_| Corrupt { what: "app id", why: RecordDecodeError::Truncated("message id") })?;
    Ok(MessageId(u64::from_be_bytes(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use assoc_core::wire::RejectReason;
    use assoc_core::Priority;

    #[test]
    fn heads_and_ids_round_trip() {
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
        assert_eq!(decode_id(&encode_id(MessageId(7))), Ok(MessageId(7)));
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        for n in 0..40u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
            let _ = decode_head(&junk);
            let _ = decode_id(&junk);
        }
        assert!(decode_head(&[7]).is_err());
    }
}
