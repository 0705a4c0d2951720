//! Encoding and strict decoding of PDUs.
//!
//! The byte layout is specified in `core/PROTOCOL.md` ("Wire format"); this file is its
//! implementation. Every integer is big-endian and fixed-width, so every value has exactly
//! one encoding: whatever decodes re-encodes to the identical bytes.
//!
//! Decoding reads through a private checked `Reader`; nothing here indexes, unwraps or
//! does unchecked arithmetic on input, so no byte string can make it panic.
//!
//! Encoding is infallible and does not validate: a [`Pdu`] that breaks a rule the decoder
//! enforces (ACK ranges out of order, a DATA `first` that does not match `offset == 0`,
//! lists longer than their limits, ...) encodes to bytes that the decoder rejects. Building
//! only valid PDUs is the state machine's job; the decoder is the check on the peer's.
//!
//! One file per thing encoded: `header.rs` (the fixed header, [`RawPdu`] and [`Pdu`]),
//! `body.rs` (the dispatch on the PDU type), `handshake.rs` (the handshake bodies' parts),
//! `frame.rs` (PACKET frames and the summary), `reader.rs` (the checked cursor). Decoding is
//! structural first: only what the encoding itself forbids (bad codes, reserved bits,
//! non-zero padding, non-canonical names) and counts, which are bounded before anything is
//! allocated; semantic rules are applied afterwards by the `check` methods.

mod body;
mod frame;
mod handshake;
mod header;
mod reader;

pub use header::{RawPdu, HEADER_LEN};

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
