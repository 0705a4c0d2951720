//! The crypto boundary: MACs for the handshake and the cookie, direction keys, packet
//! protection. One small closed enum of suites, so state stays plain data.
//!
//! [`Suite::Symbolic`] is a deterministic, **insecure** stand-in with the same shape as the
//! real suite: it detects accidental corruption and lets the model assume perfect crypto,
//! but an attacker can forge it. It exists for model checking, fuzzing and tests.

use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::fmt;

use crate::wire::{AuthTag, Cookie, Nonce, Params, PeerName, RawPdu, AUTH_LEN};

/// Which crypto implementation protects an association.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// Deterministic keyed hashing; **not secure**. For the model, fuzzers and tests.
    Symbolic,
}

/// A pre-shared key for one peer pair. Its `Debug` output never shows the key.
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
}

impl Psk {
    /// A key from raw bytes; at least 16 bytes.
    pub fn new(raw: &[u8]) -> Result<Self, PskError> {
        if raw.len() < 16 {
            return Err(PskError::TooShort { len: raw.len() });
        }
        Ok(Psk(Bytes::copy_from_slice(raw)))
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

/// A 256-bit symmetric key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Key(pub(crate) [u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(..)")
    }
}

/// Everything both sides' proofs and keys are bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Transcript {
    pub(crate) initiator: PeerName,
    pub(crate) responder: PeerName,
    pub(crate) sid: u32,
    pub(crate) tag_i: u64,
    pub(crate) tag_r: u64,
    pub(crate) nonce_i: Nonce,
    pub(crate) nonce_r: Nonce,
    pub(crate) epoch: u64,
    pub(crate) params: Params,
}

impl Transcript {
    fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(200);
        for name in [&self.initiator, &self.responder] {
            v.push(name.as_bytes().len() as u8);
            v.extend_from_slice(name.as_bytes());
        }
        v.extend_from_slice(&self.sid.to_be_bytes());
        v.extend_from_slice(&self.tag_i.to_be_bytes());
        v.extend_from_slice(&self.tag_r.to_be_bytes());
        v.extend_from_slice(&self.nonce_i.0);
        v.extend_from_slice(&self.nonce_r.0);
        v.extend_from_slice(&self.epoch.to_be_bytes());
        push_params(&mut v, &self.params);
        v
    }
}

fn push_params(v: &mut Vec<u8>, p: &Params) {
    v.extend_from_slice(&p.max_datagram.to_be_bytes());
    v.extend_from_slice(&p.msg_window.to_be_bytes());
    v.extend_from_slice(&p.checkpoint_size.to_be_bytes());
    v.extend_from_slice(&p.checkpoint_window.to_be_bytes());
}

/// The two per-association direction keys, from this endpoint's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DirectionKeys {
    pub(crate) send: Key,
    pub(crate) recv: Key,
}

/// Which side of the handshake a proof or key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Initiator,
    Responder,
}

impl Suite {
    /// A 16-byte MAC of the concatenation of `parts` (each length-prefixed) under `key`.
    fn mac(self, key: &[u8], parts: &[&[u8]]) -> AuthTag {
        match self {
            Suite::Symbolic => symbolic::mac(key, parts),
        }
    }

    /// The proof that `side` knows the PSK, bound to the whole transcript.
    pub(crate) fn proof(self, psk: &Psk, side: Side, t: &Transcript) -> AuthTag {
        let label: &[u8] = match side {
            Side::Initiator => b"assoc proof initiator",
            Side::Responder => b"assoc proof responder",
        };
        self.mac(psk.as_bytes(), &[label, &t.bytes()])
    }

    /// Direction keys for `me` (initiator→responder and responder→initiator, swapped as needed).
    pub(crate) fn direction_keys(self, psk: &Psk, t: &Transcript, me: Side) -> DirectionKeys {
        let tb = t.bytes();
        let derive = |label: &[u8]| {
            let a = self.mac(psk.as_bytes(), &[label, b"0", &tb]);
            let b = self.mac(psk.as_bytes(), &[label, b"1", &tb]);
            let mut k = [0u8; 32];
            k[..16].copy_from_slice(&a.0);
            k[16..].copy_from_slice(&b.0);
            Key(k)
        };
        let i2r = derive(b"assoc key initiator to responder");
        let r2i = derive(b"assoc key responder to initiator");
        match me {
            Side::Initiator => DirectionKeys { send: i2r, recv: r2i },
            Side::Responder => DirectionKeys { send: r2i, recv: i2r },
        }
    }

    /// The MAC that makes a cookie the responder's own.
    pub(crate) fn cookie_mac(self, secret: &Key, c: &Cookie) -> AuthTag {
        let mut v = Vec::with_capacity(80);
        v.extend_from_slice(&c.tag_i.to_be_bytes());
        v.extend_from_slice(&c.tag_r.to_be_bytes());
        v.extend_from_slice(&c.nonce_i.0);
        v.extend_from_slice(&c.nonce_r.0);
        v.extend_from_slice(&c.epoch.to_be_bytes());
        push_params(&mut v, &c.params);
        v.push(c.key_id);
        self.mac(&secret.0, &[b"assoc cookie", &v])
    }

    /// The responder's tag and nonce for an INIT, derived from its secret so that the
    /// responder stays stateless and answers a duplicate INIT identically.
    pub(crate) fn responder_values(
        self,
        secret: &Key,
        tag_i: u64,
        nonce_i: &Nonce,
        epoch: u64,
    ) -> (u64, Nonce) {
        let seed = [&tag_i.to_be_bytes()[..], &nonce_i.0, &epoch.to_be_bytes()];
        let t = self.mac(&secret.0, &[b"assoc responder tag", seed[0], seed[1], seed[2]]);
        let n = self.mac(&secret.0, &[b"assoc responder nonce", seed[0], seed[1], seed[2]]);
        let mut tag = u64::from_be_bytes([t.0[0], t.0[1], t.0[2], t.0[3], t.0[4], t.0[5], t.0[6], t.0[7]]);
        if tag == 0 {
            tag = 1;
        }
        (tag, Nonce(n.0))
    }

    /// Authenticates (and, with an AEAD suite, encrypts) a PDU whose header and body are
    /// already encoded in `prefix`; returns the datagram.
    pub(crate) fn seal(self, key: &Key, mut prefix: BytesMut) -> Bytes {
        let tag = self.mac(&key.0, &[b"assoc packet", &prefix]);
        prefix.extend_from_slice(&tag.0);
        prefix.freeze()
    }

    /// Checks a received PDU's authenticator under `key`.
    pub(crate) fn open(self, key: &Key, datagram: &Bytes, raw: &RawPdu) -> bool {
        let expected = self.mac(&key.0, &[b"assoc packet", &RawPdu::authenticated_bytes(datagram)]);
        constant_time_eq(&expected.0, &raw.auth.0)
    }
}

fn constant_time_eq(a: &[u8; AUTH_LEN], b: &[u8; AUTH_LEN]) -> bool {
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The symbolic suite: a keyed 128-bit mixing hash. Deterministic, fast, and insecure.
mod symbolic {
    use crate::wire::{AuthTag, AUTH_LEN};

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
        fn byte(&mut self, x: u8) {
            self.a = mix(self.a ^ u64::from(x)).rotate_left(7);
            self.b = self.b.wrapping_mul(0x100_0000_01B3) ^ u64::from(x) ^ self.a;
        }
        fn bytes(&mut self, xs: &[u8]) {
            for &x in (xs.len() as u64).to_be_bytes().iter().chain(xs) {
                self.byte(x);
            }
        }
    }

    pub(super) fn mac(key: &[u8], parts: &[&[u8]]) -> AuthTag {
        let mut h = Absorber { a: 0x6A09_E667_F3BC_C908, b: 0xBB67_AE85_84CA_A73B };
        h.bytes(key);
        for p in parts {
            h.bytes(p);
        }
        h.bytes(key);
        let mut out = [0u8; AUTH_LEN];
        out[..8].copy_from_slice(&mix(h.a ^ h.b.rotate_left(13)).to_be_bytes());
        out[8..].copy_from_slice(&mix(h.b ^ 0x3C6E_F372_FE94_F82B).to_be_bytes());
        AuthTag(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn transcript() -> Transcript {
        Transcript {
            initiator: PeerName::new(b"a").unwrap(),
            responder: PeerName::new(b"b").unwrap(),
            sid: 1,
            tag_i: 11,
            tag_r: 22,
            nonce_i: Nonce([1; 16]),
            nonce_r: Nonce([2; 16]),
            epoch: 3,
            params: Params { max_datagram: 1400, msg_window: 8, checkpoint_size: 4096, checkpoint_window: 2 },
        }
    }

    #[test]
    fn proofs_bind_side_key_and_every_transcript_field() {
        let s = Suite::Symbolic;
        let psk = Psk::new(&[9; 16]).unwrap();
        let t = transcript();
        let p = s.proof(&psk, Side::Initiator, &t);
        assert_eq!(p, s.proof(&psk, Side::Initiator, &t), "deterministic");
        assert_ne!(p, s.proof(&psk, Side::Responder, &t));
        assert_ne!(p, s.proof(&Psk::new(&[8; 16]).unwrap(), Side::Initiator, &t));
        let variants: [fn(&mut Transcript); 6] = [
            |t| t.tag_i += 1,
            |t| t.tag_r += 1,
            |t| t.nonce_i.0[15] ^= 1,
            |t| t.epoch += 1,
            |t| t.params.msg_window += 1,
            |t| t.initiator = PeerName::new(b"c").unwrap(),
        ];
        for v in variants {
            let mut t2 = t;
            v(&mut t2);
            assert_ne!(p, s.proof(&psk, Side::Initiator, &t2));
        }
    }

    #[test]
    fn direction_keys_mirror_each_other() {
        let s = Suite::Symbolic;
        let psk = Psk::new(&[9; 16]).unwrap();
        let i = s.direction_keys(&psk, &transcript(), Side::Initiator);
        let r = s.direction_keys(&psk, &transcript(), Side::Responder);
        assert_eq!(i.send, r.recv);
        assert_eq!(i.recv, r.send);
        assert_ne!(i.send, i.recv);
    }

    #[test]
    fn psk_debug_is_redacted_and_short_keys_refused() {
        let psk = Psk::new(&[0x41; 20]).unwrap();
        assert_eq!(format!("{psk:?}"), "Psk(<20 bytes redacted>)");
        assert_eq!(Psk::new(&[1; 15]), Err(PskError::TooShort { len: 15 }));
    }
}
