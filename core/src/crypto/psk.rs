//! The pre-shared key and how to build one from raw bytes or hex text.

use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt;

/// Fewest bytes a PSK may have: 128 bits.
pub const MIN_PSK_LEN: usize = 16;

/// A pre-shared key for one peer pair. Its `Debug` output never shows the key.
///
/// An MTA "password" is a label that selects one of these; the key itself must be random
/// (at least 128 bits of entropy): the handshake resists offline guessing only as well as
/// the key does.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Psk(Bytes);

/// Why a PSK was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PskError {
    /// Fewer than 16 bytes.
    #[error("pre-shared key is {len} bytes; at least 16 (128 bits) are required")]
    TooShort {
        /// Its length.
        len: usize,
    },
    /// Hex text with an odd number of digits.
    #[error("pre-shared key hex has {digits} digits; two digits per byte are required")]
    OddHexLength {
        /// Hex digits found.
        digits: usize,
    },
    /// Hex text with a character that is not a hex digit.
    #[error("pre-shared key hex has {found:?} at position {at}; only 0-9, a-f and A-F are allowed")]
    NotHex {
        /// Position of the character, in characters from the start.
        at: usize,
        /// The character.
        found: char,
    },
}

impl Psk {
    /// A key from raw bytes; at least 16 bytes.
    pub fn new(raw: &[u8]) -> Result<Self, PskError> {
        if raw.len() < MIN_PSK_LEN {
            return Err(PskError::TooShort { len: raw.len() });
        }
        Ok(Psk(Bytes::copy_from_slice(raw)))
    }

    /// A key from hex text (`"00ff…"`, either case); at least 32 digits (16 bytes).
    /// Nothing else is accepted: no prefix, separators or whitespace.
    pub fn from_hex(text: &str) -> Result<Self, PskError> {
        let mut raw = Vec::with_capacity(text.len() / 2);
        let mut high: Option<u8> = None;
        for (at, c) in text.chars().enumerate() {
            let nibble = c.to_digit(16).ok_or(PskError::NotHex { at, found: c })? as u8;
            match high.take() {
                None => high = Some(nibble),
                Some(h) => raw.push((h << 4) | nibble),
            }
        }
        if high.is_some() {
            return Err(PskError::OddHexLength { digits: text.chars().count() });
        }
        Psk::new(&raw)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false for a constructed key; present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Psk(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn debug_is_redacted_and_short_keys_are_refused() {
        let psk = Psk::new(&[0x41; 20]).unwrap();
        assert_eq!(format!("{psk:?}"), "Psk(<20 bytes redacted>)");
        assert_eq!(Psk::new(&[1; 15]), Err(PskError::TooShort { len: 15 }));
    }

    #[test]
    fn hex_keys_decode_in_either_case_with_clear_errors() {
        let psk = Psk::from_hex("000102030405060708090A0b0c0d0e0F").unwrap();
        assert_eq!(psk.as_bytes(), (0u8..16).collect::<Vec<u8>>());
        assert_eq!(Psk::from_hex("00112233"), Err(PskError::TooShort { len: 4 }));
        assert_eq!(Psk::from_hex("0011223"), Err(PskError::OddHexLength { digits: 7 }));
        assert_eq!(
            Psk::from_hex("00 11223344556677889900aabbccddee"),
            Err(PskError::NotHex { at: 2, found: ' ' })
        );
        assert_eq!(Psk::from_hex("0x11"), Err(PskError::NotHex { at: 1, found: 'x' }));
        // Both nibbles of every byte land where they belong.
        let psk = Psk::from_hex("f0E1d2C3b4A5968778695a4B3c2D1e0F").unwrap();
        let want =
            [0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f];
        assert_eq!(psk.as_bytes(), want);
        assert!(!psk.is_empty());
        assert_eq!(psk.len(), 16);
        let e = Psk::from_hex("zz").unwrap_err();
        assert_eq!(
            format!("{e}"),
            "pre-shared key hex has 'z' at position 0; only 0-9, a-f and A-F are allowed"
        );
    }
}
