//! `decode`: the wire codec on any bytes, in both directions.
//!
//! Bytes → PDU: [`Pdu::decode`] never panics; whatever decodes re-encodes to the identical
//! bytes, with `encoded_len` equal to their length and [`Pdu::check`] passing; the split
//! API ([`RawPdu::parse`] + [`Body::decode`]) agrees with it; the authenticated prefix is
//! everything but the trailer.
//!
//! PDU → bytes: the same input read as an `arbitrary` [`Pdu`]; `encoded_len` is the
//! encoding's length, and `Pdu::decode(&p.to_bytes()) == Ok(p)` exactly when `p.check()`
//! is `Ok` (`PROTOCOL.md`, "Strict").

use arbitrary::{Arbitrary, Unstructured};
use assoc_core::wire::{Body, Pdu, RawPdu, AUTH_LEN};
use bytes::Bytes;

/// Runs one input (raw bytes, as libFuzzer hands them over).
pub fn run(data: &[u8]) {
    bytes_to_pdu(&Bytes::copy_from_slice(data));
    pdu_to_bytes(data);
}

fn bytes_to_pdu(bytes: &Bytes) {
    let raw = RawPdu::parse(bytes);
    let pdu = match Pdu::decode(bytes) {
        Ok(pdu) => pdu,
        Err(e) => {
            let _ = e.to_string();
            if let Ok(raw) = raw {
                assert!(
                    Body::decode(raw.ty, &raw.body).is_err(),
                    "Pdu::decode failed ({e}) but RawPdu::parse and Body::decode accept"
                );
            }
            return;
        }
    };
    let _ = format!("{pdu:?}");
    assert_eq!(&pdu.to_bytes(), bytes, "decode∘encode is not the identity for {pdu:?}");
    assert_eq!(pdu.encoded_len(), bytes.len(), "encoded_len of {pdu:?}");
    assert_eq!(pdu.check(), Ok(()), "a decoded PDU fails check: {pdu:?}");
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => panic!("Pdu::decode accepts but RawPdu::parse fails ({e}): {pdu:?}"),
    };
    assert_eq!(raw.ty, pdu.body.pdu_type());
    assert_eq!(raw.header, pdu.header);
    assert_eq!(raw.auth, pdu.auth);
    assert_eq!(raw.body.len(), pdu.body.encoded_len(), "body encoded_len of {pdu:?}");
    assert_eq!(Body::decode(raw.ty, &raw.body).as_ref(), Ok(&pdu.body));
    let prefix = pdu.authenticated_prefix();
    assert_eq!(prefix.len() + AUTH_LEN, bytes.len());
    assert_eq!(RawPdu::authenticated_bytes(bytes), prefix.freeze());
    if let Body::Packet(frames) = &pdu.body {
        let sum: usize = frames.iter().map(|f| f.encoded_len()).sum();
        assert_eq!(Pdu::PACKET_OVERHEAD + sum, bytes.len(), "frame encoded_len of {pdu:?}");
        for f in frames {
            assert_eq!(f.check(), Ok(()), "a decoded frame fails check: {f:?}");
        }
    }
}

fn pdu_to_bytes(data: &[u8]) {
    let Ok(pdu) = Pdu::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let bytes = pdu.to_bytes();
    assert_eq!(bytes.len(), pdu.encoded_len(), "encoded_len of {pdu:?}");
    match (pdu.check(), Pdu::decode(&bytes)) {
        (Ok(()), Ok(back)) => assert_eq!(back, pdu, "decode(encode(p)) != p"),
        (Ok(()), Err(e)) => panic!("check accepts but decode rejects ({e}): {pdu:?}"),
        (Err(e), Ok(_)) => panic!("check rejects ({e}) but decode accepts: {pdu:?}"),
        (Err(a), Err(b)) => {
            let _ = (a.to_string(), b.to_string());
        }
    }
}
