//! Why a byte string is not a PDU.

/// Why a byte string could not be decoded. Decoding never panics; every failure is one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before a field that was required.
    #[error("truncated: {field} needs {needed} more bytes")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// How many more bytes it needed.
        needed: usize,
    },
    /// The version byte is not one this implementation speaks.
    #[error("unsupported version {0}")]
    BadVersion(u8),
    /// The PDU type byte is unknown.
    #[error("unknown pdu type {0}")]
    UnknownType(u8),
    /// The frame type byte is unknown.
    #[error("unknown frame type {0}")]
    UnknownFrame(u8),
    /// A declared length does not match the bytes present.
    #[error("bad length: {field} declares {declared}, {actual} present")]
    BadLength {
        /// The length field.
        field: &'static str,
        /// What it declares.
        declared: usize,
        /// What is there.
        actual: usize,
    },
    /// A field holds a value outside its allowed range.
    #[error("field {field} out of range")]
    OutOfRange {
        /// The field.
        field: &'static str,
    },
}
