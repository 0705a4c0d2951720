//! Checked reading: every read of the input goes through [`Reader`].

use crate::wire::DecodeError;
use bytes::Bytes;

/// A cursor over a [`Bytes`] whose every read is checked: running out of input yields
/// [`DecodeError::Truncated`], never a panic.
pub(super) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes as a borrowed slice.
    pub(super) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let out = rest
            .get(..n)
            .ok_or_else(|| DecodeError::Truncated { field, needed: n.saturating_sub(rest.len()) })?;
        // Cannot overflow: `pos + n <= buf.len()` since the slice above exists.
        self.pos += n;
        Ok(out)
    }

    /// The next `n` bytes as a zero-copy slice of the underlying buffer.
    pub(super) fn bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(n, field)?;
        Ok(self.buf.slice(start..self.pos))
    }

    pub(super) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, field)?;
        <[u8; N]>::try_from(s).map_err(|_| DecodeError::Truncated { field, needed: N })
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Fails with [`DecodeError::BadLength`] unless every byte has been consumed.
    pub(super) fn finish(self, field: &'static str) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::BadLength { field, declared: self.pos, actual: self.buf.len() })
        }
    }
}

pub(super) fn out_of_range(field: &'static str) -> DecodeError {
    DecodeError::OutOfRange { field }
}
