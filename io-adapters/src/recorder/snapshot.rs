//! The restored store in a recording: the core's own versioned snapshot encoding
//! ([`assoc_core::record_codec::encode_store`]) as one blob.

use assoc_core::record_codec;
use assoc_core::SessionStore;

use super::bytes::{In, Malformed, Out};

const WHAT: &str = "restored store";

/// Writes every field of `s`.
pub(crate) fn encode_store(s: &SessionStore, o: &mut Out) {
    o.blob(&record_codec::encode_store(s));
}

/// Reads a store written by [`encode_store`]: exactly the value that was written.
pub(crate) fn decode_store(i: &mut In<'_>) -> Result<SessionStore, Malformed> {
    record_codec::decode_store(i.blob(WHAT)?).map_err(|_| Malformed(WHAT))
}
