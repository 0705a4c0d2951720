//! The restored store in a recording. The only place the recorder touches the store's
//! value encoders (`crate::store::codec`): when that codec moves, only this file changes.

use assoc_core::{MessageId, SessionStore, StoredInbound};

use super::bytes::{In, Malformed, Out};
use crate::store::codec::{self, InboundHead};

/// Writes every field of `s`.
pub(crate) fn encode_store(s: &SessionStore, o: &mut Out) {
    for v in [s.epoch, s.next_id, s.next_msn, s.queued_bytes, s.watermark] {
        o.var(v);
    }
    o.var(s.outbound.len() as u64);
    for (id, m) in &s.outbound {
        o.var(id.0);
        o.blob(&codec::encode_message(m));
    }
    o.var(s.inbound.len() as u64);
    for (msn, entry) in &s.inbound {
        o.var(*msn);
        match entry {
            StoredInbound::Partial { first, bytes } => {
                let head = InboundHead::Partial { first: *first, len: bytes.len() as u64 };
                o.blob(&codec::encode_head(&head));
                o.blob(bytes);
            }
            StoredInbound::Resolved(r) => o.blob(&codec::encode_head(&InboundHead::Resolved(*r))),
        }
    }
    o.var(s.recent_non_delivered.len() as u64);
    for (msn, r) in &s.recent_non_delivered {
        o.var(*msn);
        o.blob(&codec::encode_resolution(*r));
    }
}

/// Reads a store written by [`encode_store`]: exactly the value that was written.
pub(crate) fn decode_store(i: &mut In<'_>) -> Result<SessionStore, Malformed> {
    const WHAT: &str = "restored store";
    let bad = |_| Malformed(WHAT);
    let mut s = SessionStore::default();
    for v in [&mut s.epoch, &mut s.next_id, &mut s.next_msn, &mut s.queued_bytes, &mut s.watermark] {
        *v = i.var(WHAT)?;
    }
    for _ in 0..i.var(WHAT)? {
        let id = MessageId(i.var(WHAT)?);
        s.outbound.insert(id, codec::decode_message(i.blob(WHAT)?).map_err(bad)?);
    }
    for _ in 0..i.var(WHAT)? {
        let msn = i.var(WHAT)?;
        let entry = match codec::decode_head(i.blob(WHAT)?).map_err(bad)? {
            InboundHead::Partial { first, len } => {
                let bytes = i.bytes(WHAT)?;
                if bytes.len() as u64 != len {
                    return Err(Malformed(WHAT));
                }
                StoredInbound::Partial { first, bytes }
            }
            InboundHead::Resolved(r) => StoredInbound::Resolved(r),
        };
        s.inbound.insert(msn, entry);
    }
    for _ in 0..i.var(WHAT)? {
        let msn = i.var(WHAT)?;
        s.recent_non_delivered.insert(msn, codec::decode_resolution(i.blob(WHAT)?).map_err(bad)?);
    }
    Ok(s)
}
