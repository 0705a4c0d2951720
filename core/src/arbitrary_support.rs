//! `arbitrary::Arbitrary` support for types the derive cannot handle on its own (feature
//! `arbitrary`, used by the fuzzers): `Bytes` fields and canonical peer names.

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;

use crate::wire::{PeerName, MAX_NAME_LEN};

/// An arbitrary `Bytes`, for `#[arbitrary(with = ...)]` on `Bytes` fields.
pub(crate) fn bytes(u: &mut Unstructured<'_>) -> Result<Bytes> {
    Ok(Bytes::copy_from_slice(<&[u8]>::arbitrary(u)?))
}

/// Only valid, canonical names: 1..=64 bytes of `[a-z0-9._-]`.
impl<'a> Arbitrary<'a> for PeerName {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789.-_";
        let len = u.int_in_range(1..=MAX_NAME_LEN)?;
        let mut raw = [0u8; MAX_NAME_LEN];
        for b in &mut raw[..len] {
            *b = *u.choose(ALPHABET)?;
        }
        PeerName::new(&raw[..len]).map_err(|_| arbitrary::Error::IncorrectFormat)
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(1 + MAX_NAME_LEN * 4))
    }
}
