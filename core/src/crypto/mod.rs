//! The crypto boundary: proofs, the key schedule, handshake MACs, the cookie, and packet
//! protection. The exact constructions, labels and test vectors are in `core/PROTOCOL.md`
//! ("Key schedule").
//!
//! Everything is written once over a small private trait of primitives (HMAC, HKDF
//! extract/expand, an AEAD) with two implementations, selected by the closed enum
//! [`Suite`] so that session state stays plain data:
//!
//! * [`Suite::ChaCha20Poly1305`] (feature `rustcrypto`, on by default): HMAC-SHA256,
//!   HKDF-SHA256 and ChaCha20-Poly1305 from the RustCrypto crates, all `no_std`. Packet
//!   bodies are encrypted; every PDU is authenticated. This is what [`Suite::default`] and
//!   [`Config::new`](crate::Config::new) pick.
//! * [`Suite::Symbolic`]: a deterministic keyed mixing hash in place of every primitive,
//!   with bodies left in clear. **Not secure** — anyone can forge it. It exists so the model
//!   checker can assume perfect crypto and tests and fuzzers can read every PDU. It is the
//!   default **only** when the crate is built without `rustcrypto` (then no secure suite
//!   exists at all; see [`Suite::is_secure`]).

mod psk;
mod ratelimit;
#[cfg(feature = "rustcrypto")]
mod real;
mod symbolic;

pub use psk::{Psk, PskError, MIN_PSK_LEN};
pub use ratelimit::{InitBudget, InitRateLimiter};

use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::fmt;

use crate::wire::{AuthTag, Cookie, Nonce, Params, PeerName, RawPdu, AUTH_LEN, HEADER_LEN};

/// Which crypto implementation protects an association. Both sides must use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// Deterministic keyed hashing standing in for every primitive; packet bodies in
    /// clear. **Not secure**: for the model checker, fuzzers and tests only.
    Symbolic,
    /// HMAC-SHA256 (truncated to 16 bytes) for proofs and handshake MACs, HKDF-SHA256 for
    /// the key schedule, ChaCha20-Poly1305 for packets. The default.
    #[cfg(feature = "rustcrypto")]
    ChaCha20Poly1305,
}

/// Runs `$body` with `$P` naming the primitives of `$suite`.
macro_rules! with_primitives {
    ($suite:expr, $P:ident => $body:expr) => {
        match $suite {
            Suite::Symbolic => {
                type $P = symbolic::Symbolic;
                $body
            }
            #[cfg(feature = "rustcrypto")]
            Suite::ChaCha20Poly1305 => {
                type $P = real::RustCrypto;
                $body
            }
        }
    };
}

impl Suite {
    /// The suite a new [`Config`](crate::Config) uses: [`Suite::ChaCha20Poly1305`] when the
    /// `rustcrypto` feature is on (the default); **[`Suite::Symbolic`] when it is off**,
    /// because then no secure suite is compiled in. Check [`Suite::is_secure`] before
    /// deploying a build without default features.
    pub const fn recommended() -> Suite {
        #[cfg(feature = "rustcrypto")]
        {
            Suite::ChaCha20Poly1305
        }
        #[cfg(not(feature = "rustcrypto"))]
        {
            Suite::Symbolic
        }
    }

    /// Whether this suite gives real confidentiality and authenticity (false for
    /// [`Suite::Symbolic`]). A driver shipping to production should refuse an insecure one.
    pub const fn is_secure(self) -> bool {
        match self {
            Suite::Symbolic => false,
            #[cfg(feature = "rustcrypto")]
            Suite::ChaCha20Poly1305 => true,
        }
    }

    /// Whether packet bodies are encrypted on the wire (and so cannot be read with
    /// [`Pdu::decode`](crate::wire::Pdu::decode)).
    pub const fn encrypts(self) -> bool {
        with_primitives!(self, P => P::ENCRYPTS)
    }
}

impl Default for Suite {
    /// [`Suite::recommended`].
    fn default() -> Self {
        Suite::recommended()
    }
}

/// The primitives a suite provides. The whole protocol is written over these.
pub(crate) trait Primitives {
    /// Whether [`Primitives::seal`] encrypts the body (or leaves it in clear).
    const ENCRYPTS: bool;
    /// HMAC of the concatenation of `parts` under `key`.
    fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32];
    /// HKDF-Extract(salt, IKM).
    fn extract(salt: &[u8], ikm: &[u8]) -> [u8; 32];
    /// HKDF-Expand(PRK, concatenation of `info`, 32).
    fn expand(prk: &[u8; 32], info: &[&[u8]]) -> [u8; 32];
    /// AEAD-seals `body` in place; returns the tag.
    fn seal(key: &Key, nonce: &[u8; 12], aad: &[u8], body: &mut [u8]) -> [u8; AUTH_LEN];
    /// AEAD-opens `body`: its cleartext, or `None` if it is not authentic.
    fn open(key: &Key, nonce: &[u8; 12], aad: &[u8], body: &Bytes, tag: &[u8; AUTH_LEN]) -> Option<Bytes>;
}

/// A 256-bit symmetric key. Its `Debug` output never shows the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Key(pub(crate) [u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(..)")
    }
}

/// Everything the proofs and the association keys are bound to. Public so that another
/// implementation can check itself against the vectors in `PROTOCOL.md`
/// ([`Suite::key_schedule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transcript {
    /// The initiator's canonical name.
    pub initiator: PeerName,
    /// The responder's canonical name.
    pub responder: PeerName,
    /// The session id.
    pub sid: u32,
    /// The initiator's tag.
    pub tag_i: u64,
    /// The responder's tag.
    pub tag_r: u64,
    /// The initiator's nonce.
    pub nonce_i: Nonce,
    /// The responder's nonce.
    pub nonce_r: Nonce,
    /// The agreed epoch.
    pub epoch: u64,
    /// The agreed parameters.
    pub params: Params,
}

impl Transcript {
    /// The transcript's encoding `T` (see `PROTOCOL.md`, "Key schedule"): both names
    /// length-prefixed, then `sid`, both tags, both nonces, the epoch and the parameters,
    /// big-endian and fixed-width.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(2 + 2 * crate::wire::MAX_NAME_LEN + 70);
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

/// Every secret the key schedule derives for one PSK and transcript, for known-answer
/// tests and interoperability checks. These are live keys: never log them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeySchedule {
    /// `PRK = HKDF-Extract("assoc v1 psk", PSK)`.
    pub prk: [u8; 32],
    /// MAC key of the INIT and CHALLENGE trailers.
    pub handshake_mac: [u8; 32],
    /// Key of the two proofs.
    pub proof_key: [u8; 32],
    /// The initiator's proof `proof_I`.
    pub proof_initiator: [u8; AUTH_LEN],
    /// The responder's proof `proof_R`.
    pub proof_responder: [u8; AUTH_LEN],
    /// ChaCha20-Poly1305 key of PACKETs from initiator to responder.
    pub i2r_packet: [u8; 32],
    /// MAC key of the CONFIRM trailer (initiator to responder).
    pub i2r_handshake: [u8; 32],
    /// ChaCha20-Poly1305 key of PACKETs from responder to initiator.
    pub r2i_packet: [u8; 32],
    /// MAC key of the ACCEPT and STALE trailers (responder to initiator).
    pub r2i_handshake: [u8; 32],
}

impl fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySchedule(..)")
    }
}

/// Which side of the handshake a proof or key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    Initiator,
    Responder,
}

/// One direction of an association: its nonce prefix and its two keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PathKeys {
    /// `0` initiator→responder, `1` responder→initiator: the first 4 nonce bytes.
    dir: u32,
    /// ChaCha20-Poly1305 key of PACKETs.
    packet: Key,
    /// MAC key of CONFIRM (initiator→responder), ACCEPT and STALE (responder→initiator).
    pub(crate) handshake: Key,
}

/// The two per-association directions, from this endpoint's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DirectionKeys {
    pub(crate) send: PathKeys,
    pub(crate) recv: PathKeys,
}

impl DirectionKeys {
    /// Keys that verify nothing anyone sends (for tests of the decision tables).
    #[cfg(test)]
    pub(crate) fn unused() -> DirectionKeys {
        let p = PathKeys { dir: 0, packet: Key::default(), handshake: Key::default() };
        DirectionKeys { send: p, recv: p }
    }
}

/// The keys a PSK alone determines (before any handshake values exist).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PskKeys {
    /// MAC key of the INIT and CHALLENGE trailers.
    pub(crate) handshake_mac: Key,
    /// Key of the proofs.
    proof: Key,
}

const LABEL_PSK: &[u8] = b"assoc v1 psk";
const LABEL_HANDSHAKE: &[u8] = b"assoc v1 handshake mac";
const LABEL_PROOF: &[u8] = b"assoc v1 proof";
const LABEL_PROOF_I: &[u8] = b"assoc v1 proof initiator";
const LABEL_PROOF_R: &[u8] = b"assoc v1 proof responder";
const LABEL_I2R_PACKET: &[u8] = b"assoc v1 i2r packet";
const LABEL_I2R_HANDSHAKE: &[u8] = b"assoc v1 i2r handshake";
const LABEL_R2I_PACKET: &[u8] = b"assoc v1 r2i packet";
const LABEL_R2I_HANDSHAKE: &[u8] = b"assoc v1 r2i handshake";
const LABEL_COOKIE: &[u8] = b"assoc v1 cookie";
const LABEL_RESPONDER: &[u8] = b"assoc v1 responder";
const LABEL_RESET: &[u8] = b"assoc v1 reset";

fn truncate(full: [u8; 32]) -> AuthTag {
    let mut t = [0u8; AUTH_LEN];
    t.copy_from_slice(&full[..AUTH_LEN]);
    AuthTag(t)
}

fn packet_nonce(dir: u32, pn: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&dir.to_be_bytes());
    n[4..].copy_from_slice(&pn.to_be_bytes());
    n
}

/// The cookie's fields before its MAC, as encoded on the wire.
fn cookie_mac_input(c: &Cookie) -> Vec<u8> {
    let mut v = Vec::with_capacity(80);
    v.extend_from_slice(&c.tag_i.to_be_bytes());
    v.extend_from_slice(&c.tag_r.to_be_bytes());
    v.extend_from_slice(&c.nonce_i.0);
    v.extend_from_slice(&c.nonce_r.0);
    v.extend_from_slice(&c.epoch.to_be_bytes());
    push_params(&mut v, &c.params);
    v.extend_from_slice(&c.issued.to_be_bytes());
    v.push(c.key_id);
    v
}

impl Suite {
    /// The whole key schedule for `psk` and `t`, for known-answer tests (`PROTOCOL.md`).
    pub fn key_schedule(self, psk: &Psk, t: &Transcript) -> KeySchedule {
        let tb = t.to_bytes();
        with_primitives!(self, P => {
            let prk = P::extract(LABEL_PSK, psk.as_bytes());
            let proof_key = P::expand(&prk, &[LABEL_PROOF]);
            let dir = |label: &[u8]| P::expand(&prk, &[label, &[0], &tb]);
            KeySchedule {
                prk,
                handshake_mac: P::expand(&prk, &[LABEL_HANDSHAKE]),
                proof_key,
                proof_initiator: truncate(P::hmac(&proof_key, &[LABEL_PROOF_I, &[0], &tb])).0,
                proof_responder: truncate(P::hmac(&proof_key, &[LABEL_PROOF_R, &[0], &tb])).0,
                i2r_packet: dir(LABEL_I2R_PACKET),
                i2r_handshake: dir(LABEL_I2R_HANDSHAKE),
                r2i_packet: dir(LABEL_R2I_PACKET),
                r2i_handshake: dir(LABEL_R2I_HANDSHAKE),
            }
        })
    }

    /// The keys the PSK alone determines.
    pub(crate) fn psk_keys(self, psk: &Psk) -> PskKeys {
        with_primitives!(self, P => {
            let prk = P::extract(LABEL_PSK, psk.as_bytes());
            PskKeys {
                handshake_mac: Key(P::expand(&prk, &[LABEL_HANDSHAKE])),
                proof: Key(P::expand(&prk, &[LABEL_PROOF])),
            }
        })
    }

    /// The key of the RESET trailers that `resetter` sends to `peer` (`PROTOCOL.md`,
    /// "Stateless reset"): derived from the PSK and both names alone, so a restarted endpoint
    /// can produce it without any state, and bound to the sender's name so that neither
    /// side can be made to produce a reset the other side's peer would accept as its own.
    pub(crate) fn reset_key(self, psk: &Psk, resetter: &PeerName, peer: &PeerName) -> Key {
        let (r, p) = (resetter.as_bytes(), peer.as_bytes());
        with_primitives!(self, P => {
            let prk = P::extract(LABEL_PSK, psk.as_bytes());
            Key(P::expand(&prk, &[LABEL_RESET, &[0], &[r.len() as u8], r, &[p.len() as u8], p]))
        })
    }

    /// The proof that `side` knows the PSK, bound to the whole transcript.
    pub(crate) fn proof(self, keys: &PskKeys, side: Side, t: &Transcript) -> AuthTag {
        let label = match side {
            Side::Initiator => LABEL_PROOF_I,
            Side::Responder => LABEL_PROOF_R,
        };
        let tb = t.to_bytes();
        with_primitives!(self, P => truncate(P::hmac(&keys.proof.0, &[label, &[0], &tb])))
    }

    /// The association's keys for `me`.
    pub(crate) fn direction_keys(self, psk: &Psk, t: &Transcript, me: Side) -> DirectionKeys {
        let s = self.key_schedule(psk, t);
        let i2r = PathKeys { dir: 0, packet: Key(s.i2r_packet), handshake: Key(s.i2r_handshake) };
        let r2i = PathKeys { dir: 1, packet: Key(s.r2i_packet), handshake: Key(s.r2i_handshake) };
        match me {
            Side::Initiator => DirectionKeys { send: i2r, recv: r2i },
            Side::Responder => DirectionKeys { send: r2i, recv: i2r },
        }
    }

    /// The responder's cookie-key PRK: its local secret as salt, the PSK as input, so a
    /// cookie key is as hard to guess as the PSK even if the session seed is weak.
    fn cookie_prk(self, secret: &Key, psk: &Psk) -> [u8; 32] {
        with_primitives!(self, P => P::extract(&secret.0, psk.as_bytes()))
    }

    /// The MAC that makes a cookie the responder's own, under the key of time bucket
    /// `bucket` (keys rotate; see `handshake::cookie_bucket`).
    pub(crate) fn cookie_mac(self, secret: &Key, psk: &Psk, bucket: u64, c: &Cookie) -> AuthTag {
        let prk = self.cookie_prk(secret, psk);
        let input = cookie_mac_input(c);
        with_primitives!(self, P => {
            let key = P::expand(&prk, &[LABEL_COOKIE, &[0], &bucket.to_be_bytes()]);
            truncate(P::hmac(&key, &[&input]))
        })
    }

    /// The responder's tag and nonce for an INIT, derived from its secret so that the
    /// responder stays stateless and answers a duplicate INIT with the same values.
    pub(crate) fn responder_values(
        self,
        secret: &Key,
        psk: &Psk,
        tag_i: u64,
        nonce_i: &Nonce,
        epoch: u64,
    ) -> (u64, Nonce) {
        let prk = self.cookie_prk(secret, psk);
        let out = with_primitives!(self, P => {
            let key = P::expand(&prk, &[LABEL_RESPONDER]);
            P::hmac(&key, &[&tag_i.to_be_bytes(), &nonce_i.0, &epoch.to_be_bytes()])
        });
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&out[..8]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&out[8..24]);
        (u64::from_be_bytes(tag).max(1), Nonce(nonce))
    }

    /// Appends the MAC trailer of a handshake PDU (header and body in clear in `prefix`).
    pub(crate) fn seal_handshake(self, key: &Key, mut prefix: BytesMut) -> Bytes {
        let tag = with_primitives!(self, P => truncate(P::hmac(&key.0, &[&prefix])));
        prefix.extend_from_slice(&tag.0);
        prefix.freeze()
    }

    /// Whether a handshake PDU's trailer verifies under `key`.
    pub(crate) fn verify_handshake(self, key: &Key, datagram: &Bytes, raw: &RawPdu) -> bool {
        let covered = RawPdu::authenticated_bytes(datagram);
        let expected = with_primitives!(self, P => truncate(P::hmac(&key.0, &[&covered])));
        constant_time_eq(&expected.0, &raw.auth.0)
    }

    /// Seals a PACKET whose header and cleartext body are in `prefix`: the header is the
    /// associated data, the body is encrypted in place, the AEAD tag is the trailer.
    pub(crate) fn seal_packet(self, path: &PathKeys, pn: u64, mut prefix: BytesMut) -> Bytes {
        let nonce = packet_nonce(path.dir, pn);
        let split = HEADER_LEN.min(prefix.len());
        let (header, body) = prefix.split_at_mut(split);
        let tag = with_primitives!(self, P => P::seal(&path.packet, &nonce, header, body));
        prefix.extend_from_slice(&tag);
        prefix.freeze()
    }

    /// Authenticates (and decrypts) a received PACKET; returns its cleartext body, or
    /// `None` if it is not authentic under `path`.
    pub(crate) fn open_packet(self, path: &PathKeys, datagram: &Bytes, raw: &RawPdu) -> Option<Bytes> {
        let nonce = packet_nonce(path.dir, raw.header.pn);
        let aad = datagram.get(..HEADER_LEN)?;
        with_primitives!(self, P => P::open(&path.packet, &nonce, aad, &raw.body, &raw.auth.0))
    }
}

/// Equality of two tags in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8; AUTH_LEN], b: &[u8; AUTH_LEN]) -> bool {
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
