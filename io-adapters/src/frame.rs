//! Stream-bearer framing: every PDU behind a 4-byte big-endian length (PROTOCOL.md).
//!
//! The prefix is bearer framing only; the PDU inside is exactly what a datagram would
//! carry. A length of zero or above [`MAX_FRAME`] cannot be a PDU: the stream is garbage
//! and the connection is dropped.

use bytes::{Buf, Bytes, BytesMut};

/// Largest PDU a frame may carry (a datagram bearer cannot carry more either).
pub const MAX_FRAME: usize = 65_535;

/// Encodes one PDU as a frame.
pub fn encode(pdu: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + pdu.len());
    out.extend_from_slice(&(pdu.len() as u32).to_be_bytes());
    out.extend_from_slice(pdu);
    out.freeze()
}

/// A frame length that cannot be a PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("frame length {0} is not a PDU length (1..={MAX_FRAME})")]
pub struct BadLength(pub u32);

/// Incremental decoder: feed bytes as they arrive, take whole frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's PDU, `Ok(None)` if more bytes are needed, or an error if
    /// the stream cannot be PDUs.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, BadLength> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if len == 0 || len as usize > MAX_FRAME {
            return Err(BadLength(len));
        }
        if self.buf.len() < 4 + len as usize {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len as usize).freeze()))
    }

    /// Bytes buffered that do not yet form a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let stream: Vec<u8> = [encode(b"one"), encode(b"second pdu"), encode(&[7u8; 300])].concat();
        for cut in 0..stream.len() {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                d.extend(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got.len(), 3);
            assert_eq!(&got[1][..], b"second pdu");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn impossible_lengths_are_errors() {
        let mut d = Decoder::new();
        d.extend(&[0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(BadLength(0)));
        let mut d = Decoder::new();
        d.extend(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(d.next_frame(), Err(BadLength(u32::MAX)));
    }
}
