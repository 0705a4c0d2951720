//! The symbolic suite: a keyed 128-bit mixing hash standing in for every primitive.
//! Deterministic, fast, and **insecure**: anyone can forge it. Packet bodies stay in clear.
//!
//! It has exactly the shape of the real suite (same keys, same derivations, same checks),
//! so the state machine behaves identically under both; only the bytes differ. The model
//! checker and the fuzzers use it to assume perfect crypto and to read every PDU.

use bytes::Bytes;

use super::{Key, Primitives};

/// The symbolic primitives.
pub(crate) struct Symbolic;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Absorber {
    a: u64,
    b: u64,
}

impl Absorber {
    fn word(&mut self, x: u64) {
        self.a = mix(self.a ^ x).rotate_left(7);
        self.b = self.b.wrapping_mul(0x100_0000_01B3) ^ x ^ self.a;
    }
    /// A cheaper step for bulk data: injective in `x` for a given state (an odd multiplier
    /// and a rotation are bijections); the full mixing happens at the end of each part.
    fn bulk(&mut self, x: u64) {
        self.a = (self.a ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
        self.b = (self.b ^ x).wrapping_mul(0x100_0000_01B3).rotate_left(17);
    }
    /// The length, then eight bytes at a time (a packet body costs one cheap step per word,
    /// not a mixing step per byte), then the tail byte by byte, then a full mixing step.
    fn bytes(&mut self, xs: &[u8]) {
        self.word(xs.len() as u64);
        let mut words = xs.chunks_exact(8);
        for w in &mut words {
            let mut le = [0u8; 8];
            le.copy_from_slice(w);
            self.bulk(u64::from_le_bytes(le));
        }
        for &x in words.remainder() {
            self.bulk(u64::from(x));
        }
        self.word(self.b);
    }
}

/// A 16-byte keyed hash of the length-prefixed `parts`.
fn mac16(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Absorber { a: 0x6A09_E667_F3BC_C908, b: 0xBB67_AE85_84CA_A73B };
    h.bytes(key);
    for p in parts {
        h.bytes(p);
    }
    h.bytes(key);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&mix(h.a ^ h.b.rotate_left(13)).to_be_bytes());
    out[8..].copy_from_slice(&mix(h.b ^ 0x3C6E_F372_FE94_F82B).to_be_bytes());
    out
}

/// 32 bytes: two domain-separated 16-byte hashes.
fn mac32(key: &[u8], domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (half, chunk) in out.chunks_exact_mut(16).enumerate() {
        let mut h = Absorber { a: 0x510E_527F_ADE6_82D1, b: 0x9B05_688C_2B3E_6C1F ^ half as u64 };
        h.bytes(domain);
        h.bytes(&mac16(key, parts));
        let mut x = [0u8; 16];
        x[..8].copy_from_slice(&mix(h.a).to_be_bytes());
        x[8..].copy_from_slice(&mix(h.b).to_be_bytes());
        chunk.copy_from_slice(&x);
    }
    out
}

impl Primitives for Symbolic {
    const ENCRYPTS: bool = false;

    fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        mac32(key, b"mac", parts)
    }

    fn extract(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
        mac32(salt, b"extract", &[ikm])
    }

    fn expand(prk: &[u8; 32], info: &[&[u8]]) -> [u8; 32] {
        mac32(prk, b"expand", info)
    }

    fn seal(key: &Key, nonce: &[u8; 12], aad: &[u8], body: &mut [u8]) -> [u8; 16] {
        mac16(&key.0, &[b"packet", nonce, aad, body])
    }

    fn open(key: &Key, nonce: &[u8; 12], aad: &[u8], body: &Bytes, tag: &[u8; 16]) -> Option<Bytes> {
        // Nothing to decrypt: the body stays a zero-copy slice of the datagram.
        super::constant_time_eq(&mac16(&key.0, &[b"packet", nonce, aad, body]), tag).then(|| body.clone())
    }
}
