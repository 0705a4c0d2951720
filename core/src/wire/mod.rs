//! The wire layer: bytes ↔ typed PDUs at the edge. The state machine sees typed PDUs only.
//!
//! Parsing is strict and checked: any byte string either decodes into a [`Pdu`] that
//! re-encodes to the very same bytes, or yields a typed [`DecodeError`]. Nothing here
//! panics on input. The byte layout is specified in `core/PROTOCOL.md`.

mod codec;
mod error;
mod pdu;

pub use codec::{RawPdu, HEADER_LEN};
pub use error::DecodeError;
pub use pdu::*;
