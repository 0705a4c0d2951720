//! The real suite on RustCrypto: HMAC-SHA256, HKDF-SHA256 (RFC 5869) and
//! ChaCha20-Poly1305 (RFC 8439), all `no_std` and without allocation.

use bytes::{Bytes, BytesMut};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{Key, Primitives};

/// The RustCrypto primitives.
pub(crate) struct RustCrypto;

/// SHA-256's block size: HMAC keys are hashed above it and zero-padded to it (RFC 2104).
const BLOCK: usize = 64;

/// HMAC-SHA256 keyed through the infallible fixed-size constructor: the key block is built
/// here exactly as RFC 2104 prescribes, so no error path exists.
fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

impl Primitives for RustCrypto {
    const ENCRYPTS: bool = true;

    fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut m = hmac_sha256(key);
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    fn extract(salt: &[u8], ikm: &[u8]) -> [u8; 32] {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
        prk.into()
    }

    fn expand(prk: &[u8; 32], info: &[&[u8]]) -> [u8; 32] {
        let mut okm = [0u8; 32];
        // Neither call can fail here: the PRK is exactly one hash long and 32 output bytes
        // are far below the 255 × 32 limit. Should one ever fail, compute the same value by
        // the RFC 5869 definition for a one-block output: T(1) = HMAC(PRK, info || 0x01).
        let ok = Hkdf::<Sha256>::from_prk(prk).is_ok_and(|h| h.expand_multi_info(info, &mut okm).is_ok());
        if ok {
            return okm;
        }
        let mut m = hmac_sha256(prk);
        for p in info {
            m.update(p);
        }
        m.update(&[1]);
        m.finalize().into_bytes().into()
    }

    fn seal(key: &Key, nonce: &[u8; 12], aad: &[u8], body: &mut [u8]) -> [u8; 16] {
        let aead = ChaCha20Poly1305::new(&key.0.into());
        match aead.encrypt_in_place_detached(&(*nonce).into(), aad, body) {
            Ok(tag) => tag.into(),
            Err(_) => {
                // Only a body beyond 256 GiB fails; never send it in clear.
                body.fill(0);
                [0; 16]
            }
        }
    }

    fn open(key: &Key, nonce: &[u8; 12], aad: &[u8], body: &Bytes, tag: &[u8; 16]) -> Option<Bytes> {
        let aead = ChaCha20Poly1305::new(&key.0.into());
        let mut clear = BytesMut::from(&body[..]);
        // The tag is verified before anything is decrypted.
        aead.decrypt_in_place_detached(&(*nonce).into(), aad, &mut clear, &(*tag).into()).ok()?;
        Some(clear.freeze())
    }
}
