//! Tests for the codec: round trips, strictness, canonical encoding, never panicking.

use super::frame::MAX_FRAMES;
use super::header::{encode_header, HEADER_LEN};
use crate::wire::{
    AbortReason, Accept, AuthTag, Body, Challenge, CloseReason, Confirm, Cookie, DataFrame, DecodeError,
    FirstSegment, Frame, Header, Init, Nonce, Params, PartialEntry, Pdu, PduType, PeerName, PnRange,
    Priority, RawPdu, RejectReason, Resolution, ResolvedEntry, Stale, Summary, AUTH_LEN, MAX_ACK_RANGES,
    MAX_SUMMARY_ENTRIES,
};
use alloc::vec;
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

// ---------------------------------------------------------------------------------------
// Examples.

fn name(s: &str) -> PeerName {
    match PeerName::new(s.as_bytes()) {
        Ok(n) => n,
        Err(e) => panic!("bad test name {s:?}: {e}"),
    }
}

fn params() -> Params {
    Params { max_datagram: 1200, msg_window: 64, checkpoint_size: 65_536, checkpoint_window: 8 }
}

fn hdr(dst_tag: u64, pn: u64) -> Header {
    Header { sid: 0xA1B2_C3D4, dst_tag, epoch: 7, pn }
}

fn auth(b: u8) -> AuthTag {
    AuthTag([b; AUTH_LEN])
}

fn cookie() -> Cookie {
    Cookie {
        tag_i: 0x1111_2222_3333_4444,
        tag_r: 0x5555_6666_7777_8888,
        nonce_i: Nonce([0x11; 16]),
        nonce_r: Nonce([0x22; 16]),
        epoch: 7,
        params: params(),
        issued: 0x0102_0304_0506_0708,
        key_id: 3,
        mac: auth(0xC0),
    }
}

fn summary() -> Summary {
    Summary {
        resolved_below: 10,
        resolved: vec![
            ResolvedEntry { msn: 3, resolution: Resolution::Rejected(RejectReason::Expired) },
            ResolvedEntry { msn: 10, resolution: Resolution::Delivered },
            ResolvedEntry { msn: 12, resolution: Resolution::Cancelled },
        ],
        partial: vec![PartialEntry { msn: 11, durable: 4096 }, PartialEntry { msn: 13, durable: 0 }],
    }
}

fn data(msn: u64, offset: u64, fin: bool, first: Option<(u64, Priority)>, bytes: &'static [u8]) -> Frame {
    Frame::Data(DataFrame {
        msn,
        offset,
        fin,
        first: first.map(|(total_len, priority)| FirstSegment { total_len, priority, app_id: 0xAB }),
        bytes: Bytes::from_static(bytes),
    })
}

/// At least one frame of every frame type, and every DATA shape.
fn frames() -> Vec<Frame> {
    vec![
        Frame::Ping,
        Frame::Ack {
            ranges: vec![
                PnRange { smallest: 90, largest: 100 },
                PnRange { smallest: 50, largest: 88 },
                PnRange { smallest: 0, largest: 0 },
            ],
            ack_delay_us: 250,
        },
        Frame::Ack { ranges: vec![PnRange { smallest: u64::MAX, largest: u64::MAX }], ack_delay_us: 0 },
        Frame::Summary(summary()),
        Frame::Summary(Summary::default()),
        data(1, 0, true, Some((5, Priority::Urgent)), b"hello"),
        data(2, 0, false, Some((10, Priority::Normal)), b"abcd"),
        data(2, 4, false, None, b"efg"),
        data(2, 7, true, None, b"hij"),
        data(3, 0, true, Some((0, Priority::NonUrgent)), b""),
        data(4, 9, true, None, b""),
        Frame::Cancel { msn: 42 },
        Frame::Resolved { msn: 5, resolution: Resolution::Delivered },
        Frame::Resolved { msn: 6, resolution: Resolution::Cancelled },
        Frame::Resolved { msn: 7, resolution: Resolution::Rejected(RejectReason::TooLarge) },
        Frame::Reject { msn: 8, reason: RejectReason::Refused },
        Frame::Close { reason: CloseReason::Shutdown },
        Frame::CloseAck,
        Frame::Abort { reason: AbortReason::ResourceLimit },
    ]
}

fn init() -> Init {
    Init {
        tag_i: 0x1111_2222_3333_4444,
        nonce_i: Nonce([0x11; 16]),
        initiator: name("mta-a.example"),
        responder: name("b_2"),
        params: params(),
        padding: 5,
    }
}

fn challenge() -> Challenge {
    Challenge {
        tag_r: 0x5555_6666_7777_8888,
        nonce_r: Nonce([0x22; 16]),
        nonce_i: Nonce([0x11; 16]),
        params: params(),
        cookie: cookie(),
        proof_r: auth(0xD0),
    }
}

fn confirm(summary: Summary) -> Confirm {
    Confirm { cookie: cookie(), initiator: name("mta-a.example"), proof_i: auth(0xE0), summary }
}

/// One PDU of every type (several shapes of some), and a single-frame packet per frame.
fn examples() -> Vec<Pdu> {
    let mut out = vec![
        Pdu { header: hdr(0, 0), body: Body::Init(init()), auth: auth(0) },
        Pdu { header: hdr(0, 0), body: Body::Init(Init { padding: 0, ..init() }), auth: auth(0) },
        Pdu { header: hdr(9, 0), body: Body::Challenge(challenge()), auth: auth(1) },
        Pdu { header: hdr(9, 0), body: Body::Confirm(confirm(summary())), auth: auth(2) },
        Pdu { header: hdr(9, 0), body: Body::Confirm(confirm(Summary::default())), auth: auth(2) },
        Pdu { header: hdr(9, 0), body: Body::Accept(Accept { summary: summary() }), auth: auth(3) },
        Pdu { header: hdr(9, 0), body: Body::Stale(Stale { current_epoch: 99 }), auth: auth(4) },
        Pdu { header: hdr(9, 0), body: Body::Reset, auth: auth(7) },
        Pdu { header: hdr(9, 1234), body: Body::Packet(frames()), auth: auth(5) },
    ];
    for (pn, frame) in (1..).zip(frames()) {
        out.push(Pdu { header: hdr(9, pn), body: Body::Packet(vec![frame]), auth: auth(6) });
    }
    out
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// The wire code of a frame, read back from its encoding.
fn frame_code(frame: &Frame) -> u8 {
    let bytes = Pdu { header: hdr(9, 1), body: Body::Packet(vec![frame.clone()]), auth: auth(0) }.to_bytes();
    bytes[HEADER_LEN + 2]
}

/// A datagram with a correct header (for `ty`) around an arbitrary body.
fn datagram(ty: PduType, header: &Header, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    encode_header(ty, header, body.len(), &mut out);
    out.put_slice(body);
    out.put_slice(&[0xAA; AUTH_LEN]);
    out.freeze()
}

/// A PACKET datagram holding one frame given as raw bytes.
fn packet_with_raw_frame(frame: &[u8]) -> Bytes {
    let mut body = vec![0, 1];
    body.extend_from_slice(frame);
    datagram(PduType::Packet, &hdr(9, 1), &body)
}

/// The canonical-encoding property: whatever decodes re-encodes to the very same bytes
/// and passes `check`. Returns whether `bytes` decoded.
fn assert_canonical(bytes: &Bytes) -> bool {
    match Pdu::decode(bytes) {
        Ok(pdu) => {
            assert_eq!(&pdu.to_bytes(), bytes, "non-canonical decode: {pdu:?}");
            assert_eq!(pdu.encoded_len(), bytes.len());
            assert_eq!(pdu.check(), Ok(()), "{pdu:?}");
            true
        }
        Err(_) => false,
    }
}

fn out_of_range(field: &'static str) -> Result<Pdu, DecodeError> {
    Err(DecodeError::OutOfRange { field })
}

/// `pdu` breaks a rule: `check` reports it, and its encoding decodes to the same error.
fn assert_rejected(pdu: Pdu, field: &'static str) {
    assert_eq!(pdu.check(), Err(DecodeError::OutOfRange { field }), "{pdu:?}");
    assert_eq!(Pdu::decode(&pdu.to_bytes()), out_of_range(field), "{pdu:?}");
}

fn packet(frames: Vec<Frame>) -> Pdu {
    Pdu { header: hdr(9, 1), body: Body::Packet(frames), auth: auth(0) }
}

fn with_byte(bytes: &Bytes, at: usize, value: u8) -> Bytes {
    let mut v = bytes.to_vec();
    v[at] = value;
    Bytes::from(v)
}

// ---------------------------------------------------------------------------------------
// Round trips and sizes.

#[test]
fn examples_cover_every_pdu_and_frame_type() {
    let mut pdu_codes: Vec<u8> = examples().iter().map(|p| p.body.pdu_type() as u8).collect();
    pdu_codes.sort_unstable();
    pdu_codes.dedup();
    assert_eq!(pdu_codes, vec![1, 2, 3, 4, 5, 6, 7]);
    let mut frame_codes: Vec<u8> = frames().iter().map(frame_code).collect();
    frame_codes.sort_unstable();
    frame_codes.dedup();
    assert_eq!(frame_codes, (1..=10).collect::<Vec<u8>>());
}

#[test]
fn every_example_round_trips() {
    for pdu in examples() {
        assert_eq!(pdu.check(), Ok(()), "{pdu:?}");
        let bytes = pdu.to_bytes();
        assert_eq!(pdu.encoded_len(), bytes.len(), "{pdu:?}");
        assert_eq!(HEADER_LEN + pdu.body.encoded_len() + AUTH_LEN, bytes.len());
        assert_eq!(Pdu::decode(&bytes), Ok(pdu.clone()));

        let raw = RawPdu::parse(&bytes).unwrap_or_else(|e| panic!("{pdu:?}: {e}"));
        assert_eq!(raw.ty, pdu.body.pdu_type());
        assert_eq!(raw.header, pdu.header);
        assert_eq!(raw.auth, pdu.auth);
        assert_eq!(raw.body.len(), pdu.body.encoded_len());
        assert_eq!(Body::decode(raw.ty, &raw.body), Ok(pdu.body.clone()));

        // The authenticator covers exactly header and body.
        let prefix = pdu.authenticated_prefix();
        assert_eq!(&prefix[..], &bytes[..bytes.len() - AUTH_LEN]);
        assert_eq!(RawPdu::authenticated_bytes(&bytes), prefix.freeze());
    }
}

#[test]
fn encode_appends_to_existing_buffer() {
    let pdu = &examples()[2];
    let mut out = BytesMut::from(&b"xyz"[..]);
    pdu.encode(&mut out);
    assert_eq!(&out[..3], b"xyz");
    assert_eq!(&out[3..], &pdu.to_bytes()[..]);
    let mut body = BytesMut::from(&b"q"[..]);
    pdu.body.encode(&mut body);
    assert_eq!(body.len(), 1 + pdu.body.encoded_len());
}

#[test]
fn frame_lengths_add_up_to_the_packet() {
    let fs = frames();
    let pdu = packet(fs.clone());
    let sum: usize = fs.iter().map(Frame::encoded_len).sum();
    assert_eq!(pdu.to_bytes().len(), Pdu::PACKET_OVERHEAD + sum);
    for f in fs {
        let one = packet(vec![f.clone()]);
        assert_eq!(one.to_bytes().len(), Pdu::PACKET_OVERHEAD + f.encoded_len(), "{f:?}");
    }
}

/// The "PDU sizes" table of PROTOCOL.md.
#[test]
fn documented_sizes() {
    let len = |body: Body, dst: u64| Pdu { header: hdr(dst, 0), body, auth: auth(0) }.to_bytes().len();
    for (ni, nr, pad) in [(1usize, 1usize, 0u16), (13, 3, 5), (64, 64, 300)] {
        let i = Init {
            initiator: PeerName::new(&vec![b'a'; ni]).unwrap_or_else(|_| name("a")),
            responder: PeerName::new(&vec![b'b'; nr]).unwrap_or_else(|_| name("b")),
            padding: pad,
            ..init()
        };
        assert_eq!(len(Body::Init(i), 0), 90 + ni + nr + usize::from(pad));
        let c = Confirm {
            initiator: PeerName::new(&vec![b'a'; ni]).unwrap_or_else(|_| name("a")),
            ..confirm(Summary::default())
        };
        assert_eq!(len(Body::Confirm(c), 9), 172 + ni);
    }
    assert_eq!(len(Body::Challenge(challenge()), 9), 209);
    assert_eq!(len(Body::Accept(Accept { summary: Summary::default() }), 9), 64);
    assert_eq!(len(Body::Stale(Stale { current_epoch: 1 }), 9), 60);
    assert_eq!(len(Body::Reset, 9), 52);
    assert_eq!(Pdu::PACKET_OVERHEAD, 54);
    assert_eq!(Summary::default().encoded_len(), 12);
    assert_eq!(summary().encoded_len(), 12 + 10 + 9 + 9 + 16 + 16);

    let sizes: Vec<usize> = [
        Frame::Ping,
        Frame::Ack { ranges: vec![PnRange { smallest: 1, largest: 1 }], ack_delay_us: 0 },
        Frame::Summary(Summary::default()),
        data(1, 3, false, None, b""),
        data(1, 0, false, Some((9, Priority::Normal)), b""),
        Frame::Cancel { msn: 1 },
        Frame::Resolved { msn: 1, resolution: Resolution::Delivered },
        Frame::Resolved { msn: 1, resolution: Resolution::Rejected(RejectReason::Refused) },
        Frame::Reject { msn: 1, reason: RejectReason::Refused },
        Frame::Close { reason: CloseReason::Idle },
        Frame::CloseAck,
        Frame::Abort { reason: AbortReason::Requested },
    ]
    .iter()
    .map(|f| packet(vec![f.clone()]).to_bytes().len() - Pdu::PACKET_OVERHEAD)
    .collect();
    assert_eq!(sizes, vec![1, 27, 13, 22, 39, 9, 10, 11, 10, 2, 1, 2]);
}

#[test]
fn min_padding_prevents_amplification() {
    let challenge_len =
        Pdu { header: hdr(9, 0), body: Body::Challenge(challenge()), auth: auth(0) }.to_bytes().len();
    for (i, r) in [("a", "b"), ("mta-a.example", "b_2"), ("x", "y".repeat(64).as_str())]
        .map(|(i, r)| (name(i), PeerName::new(r.as_bytes()).unwrap_or_else(|_| name("z"))))
    {
        let padding = Init::min_padding(&i, &r);
        let pdu = Pdu {
            header: hdr(0, 0),
            body: Body::Init(Init { initiator: i, responder: r, padding, ..init() }),
            auth: auth(0),
        };
        assert_eq!(pdu.encoded_len(), challenge_len.max(90 + i.as_bytes().len() + r.as_bytes().len()));
    }
    let long = PeerName::new(&[b'a'; 64]).unwrap_or_else(|_| name("a"));
    assert_eq!(Init::min_padding(&long, &long), 0);
    assert_eq!(Init::min_padding(&name("a"), &name("b")), 209 - 92);
}

#[test]
fn data_bytes_and_body_are_zero_copy() {
    let pdu = packet(vec![data(1, 0, true, Some((5, Priority::Urgent)), b"hello")]);
    let bytes = pdu.to_bytes();
    let range = bytes.as_ptr_range();
    let raw = RawPdu::parse(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert!(range.contains(&raw.body.as_ptr()));
    assert_eq!(RawPdu::authenticated_bytes(&bytes).as_ptr(), bytes.as_ptr());
    match Pdu::decode(&bytes) {
        Ok(Pdu { body: Body::Packet(frames), .. }) => match frames.as_slice() {
            [Frame::Data(d)] => {
                assert_eq!(&d.bytes[..], b"hello");
                assert!(range.contains(&d.bytes.as_ptr()), "DATA bytes were copied");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Truncation and corruption of every example.

#[test]
fn every_truncation_is_an_error() {
    for pdu in examples() {
        let bytes = pdu.to_bytes();
        for len in 0..bytes.len() {
            let short = bytes.slice(..len);
            assert!(Pdu::decode(&short).is_err(), "{pdu:?} truncated to {len}");
            assert!(RawPdu::parse(&short).is_err(), "{pdu:?} truncated to {len}");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            Pdu::decode(&Bytes::from(long)),
            Err(DecodeError::BadLength { field: "header.body_len", .. })
        ));
    }
}

#[test]
fn every_single_byte_corruption_errs_or_is_canonical() {
    for pdu in examples() {
        let bytes = pdu.to_bytes();
        let (mut ok, mut err) = (0usize, 0usize);
        for at in 0..bytes.len() {
            for value in 0..=u8::MAX {
                if value == bytes[at] {
                    continue;
                }
                let corrupt = with_byte(&bytes, at, value);
                if assert_canonical(&corrupt) {
                    ok += 1;
                } else {
                    err += 1;
                    // The authenticator is opaque: corrupting it never makes decoding fail.
                    assert!(at < bytes.len() - AUTH_LEN, "{pdu:?}: auth byte {at} rejected");
                }
            }
        }
        assert!(ok >= AUTH_LEN * 255, "{pdu:?}");
        assert!(err > 0, "{pdu:?}");
    }
}

// ---------------------------------------------------------------------------------------
// One test per error kind.

#[test]
fn truncated() {
    assert_eq!(
        Pdu::decode(&Bytes::new()),
        Err(DecodeError::Truncated { field: "header.version", needed: 1 })
    );
    let bytes = examples()[6].to_bytes();
    assert_eq!(
        RawPdu::parse(&bytes.slice(..HEADER_LEN - 1)),
        Err(DecodeError::Truncated { field: "header.body_len", needed: 1 })
    );
    assert_eq!(
        Body::decode(PduType::Stale, &Bytes::from_static(&[0; 7])),
        Err(DecodeError::Truncated { field: "stale.current_epoch", needed: 1 })
    );
    // A DATA frame that claims 100 bytes in a body holding 3.
    let mut frame = vec![4];
    frame.extend_from_slice(&1u64.to_be_bytes());
    frame.extend_from_slice(&5u64.to_be_bytes());
    frame.push(0);
    frame.extend_from_slice(&100u32.to_be_bytes());
    frame.extend_from_slice(b"abc");
    assert_eq!(
        Pdu::decode(&packet_with_raw_frame(&frame)),
        Err(DecodeError::Truncated { field: "data.bytes", needed: 97 })
    );
    // A name whose length byte runs past the body.
    let bytes = examples()[0].to_bytes();
    let body = bytes.slice(HEADER_LEN..HEADER_LEN + 8 + 16 + 3);
    assert_eq!(
        Body::decode(PduType::Init, &body),
        Err(DecodeError::Truncated { field: "init.initiator", needed: 11 })
    );
}

#[test]
fn bad_version() {
    let bytes = examples()[0].to_bytes();
    for v in [0, 2, 255] {
        assert_eq!(Pdu::decode(&with_byte(&bytes, 0, v)), Err(DecodeError::BadVersion(v)));
    }
}

#[test]
fn unknown_type() {
    let bytes = examples()[0].to_bytes();
    for t in [0, 8, 255] {
        assert_eq!(Pdu::decode(&with_byte(&bytes, 1, t)), Err(DecodeError::UnknownType(t)));
    }
}

#[test]
fn unknown_frame() {
    for t in [0, 11, 255] {
        assert_eq!(Pdu::decode(&packet_with_raw_frame(&[t])), Err(DecodeError::UnknownFrame(t)));
    }
    assert_eq!(
        Pdu::decode(&packet_with_raw_frame(&[1])).map(|p| p.body),
        Ok(Body::Packet(vec![Frame::Ping]))
    );
}

#[test]
fn bad_length() {
    let bytes = examples()[6].to_bytes(); // STALE: 36 + 8 + 16
    assert_eq!(
        Pdu::decode(&bytes.slice(..bytes.len() - 1)),
        Err(DecodeError::BadLength { field: "header.body_len", declared: 8, actual: 7 })
    );
    // body_len lies upwards, and to the maximum.
    let mut v = bytes.to_vec();
    v[35] = 9;
    assert_eq!(
        Pdu::decode(&Bytes::from(v.clone())),
        Err(DecodeError::BadLength { field: "header.body_len", declared: 9, actual: 8 })
    );
    v[32..36].copy_from_slice(&[0xFF; 4]);
    assert!(matches!(Pdu::decode(&Bytes::from(v)), Err(DecodeError::BadLength { .. })));
    // Trailing bytes inside a consistent body.
    let stale = datagram(PduType::Stale, &hdr(9, 0), &[0; 9]);
    assert_eq!(Pdu::decode(&stale), Err(DecodeError::BadLength { field: "body", declared: 8, actual: 9 }));
    // A packet that declares one frame but holds two.
    let mut body = vec![0, 1, 1, 1];
    assert!(matches!(
        Pdu::decode(&datagram(PduType::Packet, &hdr(9, 1), &body)),
        Err(DecodeError::BadLength { field: "body", declared: 3, actual: 4 })
    ));
    body[1] = 2;
    assert!(Pdu::decode(&datagram(PduType::Packet, &hdr(9, 1), &body)).is_ok());
}

#[test]
fn header_rules() {
    let bytes = examples()[6].to_bytes();
    assert_eq!(Pdu::decode(&with_byte(&bytes, 3, 1)), out_of_range("header.flags"));
    assert_eq!(Pdu::decode(&with_byte(&bytes, 2, 0x80)), out_of_range("header.flags"));
    let stale = Body::Stale(Stale { current_epoch: 1 });
    assert_rejected(Pdu { header: hdr(0, 0), body: stale.clone(), auth: auth(0) }, "header.dst_tag");
    assert_rejected(Pdu { header: hdr(9, 1), body: stale, auth: auth(0) }, "header.pn");
    assert_rejected(Pdu { header: hdr(9, 0), body: Body::Init(init()), auth: auth(0) }, "header.dst_tag");
    assert_rejected(
        Pdu { header: hdr(0, 3), body: Body::Packet(vec![Frame::Ping]), auth: auth(0) },
        "header.dst_tag",
    );
    // pn 0 is a valid packet number.
    assert!(Pdu::decode(&Pdu { header: hdr(9, 0), ..packet(vec![Frame::Ping]) }.to_bytes()).is_ok());
}

#[test]
fn data_flag_bits_are_strict() {
    // The only boolean on the wire is the DATA flag byte: reserved bits must be zero.
    let pdu = packet(vec![data(2, 4, true, None, b"x")]);
    let bytes = pdu.to_bytes();
    let flags_at = HEADER_LEN + 2 + 1 + 8 + 8;
    assert_eq!(bytes[flags_at], 0x01);
    for bit in 2..8 {
        assert_eq!(Pdu::decode(&with_byte(&bytes, flags_at, 0x01 | 1 << bit)), out_of_range("data.flags"));
    }
    assert!(Pdu::decode(&with_byte(&bytes, flags_at, 0x00)).is_ok());
}

#[test]
fn non_canonical_names() {
    let bytes = examples()[0].to_bytes();
    let len_at = HEADER_LEN + 8 + 16;
    assert_eq!(bytes[len_at], 13);
    // Upper case decodes under PeerName::new but is not the canonical form.
    assert_eq!(Pdu::decode(&with_byte(&bytes, len_at + 1, b'M')), out_of_range("init.initiator"));
    assert_eq!(Pdu::decode(&with_byte(&bytes, len_at + 1, b'!')), out_of_range("init.initiator"));
    assert_eq!(Pdu::decode(&with_byte(&bytes, len_at, 0)), out_of_range("init.initiator"));
    assert_eq!(Pdu::decode(&with_byte(&bytes, len_at, 65)), out_of_range("init.initiator"));
    // The responder name and the CONFIRM name are checked the same way.
    assert_eq!(Pdu::decode(&with_byte(&bytes, len_at + 15, b'B')), out_of_range("init.responder"));
    let confirm = examples()[3].to_bytes();
    let at = HEADER_LEN + 91 + 1;
    assert_eq!(confirm[at], b'm');
    assert_eq!(Pdu::decode(&with_byte(&confirm, at, b'M')), out_of_range("confirm.initiator"));
}

#[test]
fn ack_ranges_must_descend_with_gaps() {
    let ack = |ranges: &[(u64, u64)]| {
        packet(vec![Frame::Ack {
            ranges: ranges.iter().map(|&(largest, smallest)| PnRange { smallest, largest }).collect(),
            ack_delay_us: 1,
        }])
    };
    assert_eq!(ack(&[(10, 8), (6, 0)]).check(), Ok(()));
    assert_rejected(ack(&[(6, 0), (10, 8)]), "ack.largest"); // ascending
    assert_rejected(ack(&[(10, 8), (7, 0)]), "ack.largest"); // adjacent: 7 + 1 == 8
    assert_rejected(ack(&[(10, 8), (9, 0)]), "ack.largest"); // overlapping
    assert_rejected(ack(&[(10, 8), (10, 8)]), "ack.largest"); // duplicate
    assert_rejected(ack(&[(u64::MAX, 5), (u64::MAX, u64::MAX)]), "ack.largest");
    assert_rejected(ack(&[(3, 4)]), "ack.smallest");
    assert_rejected(ack(&[]), "ack.n_ranges");
    let many: Vec<(u64, u64)> = (0..=MAX_ACK_RANGES as u64).rev().map(|i| (2 * i, 2 * i)).collect();
    assert_rejected(ack(&many), "ack.n_ranges");
    assert_eq!(ack(&many[1..]).check(), Ok(()));
}

#[test]
fn first_segment_rules() {
    let first = Some((10, Priority::Normal));
    assert_rejected(packet(vec![data(1, 0, false, None, b"ab")]), "data.first");
    assert_rejected(packet(vec![data(1, 3, false, first, b"ab")]), "data.first");
    assert_rejected(packet(vec![data(1, 0, false, Some((1, Priority::Normal)), b"ab")]), "data.len");
    assert_rejected(packet(vec![data(1, 0, true, first, b"ab")]), "data.len"); // fin, short
    assert_rejected(packet(vec![data(1, 0, false, Some((2, Priority::Normal)), b"ab")]), "data.len"); // whole, no fin
    assert_rejected(packet(vec![data(1, u64::MAX - 1, false, None, b"ab")]), "data.len"); // overflow
    assert_eq!(packet(vec![data(1, u64::MAX - 1, true, None, b"a")]).check(), Ok(()));
    // An unknown priority.
    let bytes = packet(vec![data(1, 0, true, Some((1, Priority::Urgent)), b"a")]).to_bytes();
    let prio_at = HEADER_LEN + 2 + 1 + 8 + 8 + 1 + 8;
    assert_eq!(bytes[prio_at], 0);
    assert!(Pdu::decode(&with_byte(&bytes, prio_at, 2)).is_ok());
    assert_eq!(Pdu::decode(&with_byte(&bytes, prio_at, 3)), out_of_range("data.priority"));
}

#[test]
fn nonzero_padding() {
    let bytes = examples()[0].to_bytes();
    let last_pad = bytes.len() - AUTH_LEN - 1;
    assert_eq!(bytes[last_pad], 0);
    assert_eq!(Pdu::decode(&with_byte(&bytes, last_pad, 1)), out_of_range("init.padding"));
    assert_eq!(Pdu::decode(&with_byte(&bytes, last_pad - 4, 0x80)), out_of_range("init.padding"));
}

#[test]
fn zero_tags() {
    let h = |dst| hdr(dst, 0);
    assert_rejected(
        Pdu { header: h(0), body: Body::Init(Init { tag_i: 0, ..init() }), auth: auth(0) },
        "init.tag_i",
    );
    assert_rejected(
        Pdu { header: h(9), body: Body::Challenge(Challenge { tag_r: 0, ..challenge() }), auth: auth(0) },
        "challenge.tag_r",
    );
    let c = Challenge { cookie: Cookie { tag_i: 0, ..cookie() }, ..challenge() };
    assert_rejected(Pdu { header: h(9), body: Body::Challenge(c), auth: auth(0) }, "cookie.tag_i");
    let c = Confirm { cookie: Cookie { tag_r: 0, ..cookie() }, ..confirm(Summary::default()) };
    assert_rejected(Pdu { header: h(9), body: Body::Confirm(c), auth: auth(0) }, "cookie.tag_r");
}

#[test]
fn unknown_enum_codes() {
    let frame_byte = |frame: Frame, at: usize, value: u8| {
        let bytes = packet(vec![frame]).to_bytes();
        Pdu::decode(&with_byte(&bytes, HEADER_LEN + 2 + at, value))
    };
    let close = Frame::Close { reason: CloseReason::Idle };
    let abort = Frame::Abort { reason: AbortReason::Requested };
    let reject = Frame::Reject { msn: 1, reason: RejectReason::Refused };
    let resolved = Frame::Resolved { msn: 1, resolution: Resolution::Rejected(RejectReason::Refused) };
    for (value, ok) in [(0, false), (1, true), (3, true), (4, false)] {
        assert_eq!(frame_byte(close.clone(), 1, value).is_ok(), ok, "close {value}");
        assert_eq!(frame_byte(reject.clone(), 9, value).is_ok(), ok, "reject {value}");
        assert_eq!(frame_byte(resolved.clone(), 10, value).is_ok(), ok, "reject reason {value}");
    }
    assert_eq!(frame_byte(close, 1, 4), out_of_range("close.reason"));
    assert_eq!(frame_byte(abort.clone(), 1, 4).map(|_| ()), Ok(()));
    assert_eq!(frame_byte(abort, 1, 5), out_of_range("abort.reason"));
    assert_eq!(frame_byte(reject, 9, 0), out_of_range("reject.reason"));
    // Resolution codes 1..=3; Delivered and Cancelled carry no reason byte.
    let delivered = Frame::Resolved { msn: 1, resolution: Resolution::Delivered };
    assert_eq!(frame_byte(delivered.clone(), 9, 0), out_of_range("resolved.resolution"));
    assert_eq!(frame_byte(delivered.clone(), 9, 4), out_of_range("resolved.resolution"));
    assert!(frame_byte(delivered.clone(), 9, 2).is_ok());
    assert!(matches!(frame_byte(delivered, 9, 3), Err(DecodeError::Truncated { .. })));
}

#[test]
fn summary_rules() {
    let accept =
        |s: Summary| Pdu { header: hdr(9, 0), body: Body::Accept(Accept { summary: s }), auth: auth(0) };
    let resolved = |msn, resolution| ResolvedEntry { msn, resolution };
    let partial = |msn| PartialEntry { msn, durable: 1 };
    let base = Summary { resolved_below: 10, resolved: vec![], partial: vec![] };
    let rej = Resolution::Rejected(RejectReason::Refused);

    // Non-delivered outcomes may be repeated below the watermark; Delivered ones may not.
    let ok = Summary { resolved: vec![resolved(2, rej), resolved(9, Resolution::Cancelled)], ..base.clone() };
    assert_eq!(accept(ok).check(), Ok(()));
    let s = Summary { resolved: vec![resolved(9, Resolution::Delivered)], ..base.clone() };
    assert_rejected(accept(s), "summary.resolved.resolution");
    let s = Summary { resolved: vec![resolved(12, rej), resolved(11, rej)], ..base.clone() };
    assert_rejected(accept(s), "summary.resolved.msn");
    let s =
        Summary { resolved: vec![resolved(12, rej), resolved(12, Resolution::Delivered)], ..base.clone() };
    assert_rejected(accept(s), "summary.resolved.msn");

    assert_eq!(accept(Summary { partial: vec![partial(10), partial(11)], ..base.clone() }).check(), Ok(()));
    assert_rejected(accept(Summary { partial: vec![partial(9)], ..base.clone() }), "summary.partial.msn");
    assert_rejected(
        accept(Summary { partial: vec![partial(11), partial(11)], ..base.clone() }),
        "summary.partial.msn",
    );
    assert_rejected(
        accept(Summary { partial: vec![partial(12), partial(11)], ..base.clone() }),
        "summary.partial.msn",
    );
    let s = Summary {
        resolved: vec![resolved(11, rej), resolved(13, rej)],
        partial: vec![partial(12), partial(13)],
        ..base.clone()
    };
    assert_rejected(accept(s), "summary.partial.msn");

    let many = |n: usize| Summary {
        resolved_below: 0,
        resolved: (0..n as u64).map(|m| resolved(m, Resolution::Delivered)).collect(),
        partial: vec![],
    };
    assert_eq!(accept(many(MAX_SUMMARY_ENTRIES)).check(), Ok(()));
    assert_rejected(accept(many(MAX_SUMMARY_ENTRIES + 1)), "summary.n_resolved");
    let partials = |n: usize| Summary { partial: (0..n as u64).map(partial).collect(), ..Summary::default() };
    assert_eq!(accept(partials(MAX_SUMMARY_ENTRIES)).check(), Ok(()));
    assert!(Pdu::decode(&accept(partials(MAX_SUMMARY_ENTRIES)).to_bytes()).is_ok());
    assert_rejected(accept(partials(MAX_SUMMARY_ENTRIES + 1)), "summary.n_partial");

    // The same rules apply to the SUMMARY frame and to CONFIRM.
    let s = Summary { partial: vec![partial(9)], ..base.clone() };
    assert_rejected(packet(vec![Frame::Summary(s.clone())]), "summary.partial.msn");
    let c = Pdu { header: hdr(9, 0), body: Body::Confirm(confirm(s)), auth: auth(0) };
    assert_rejected(c, "summary.partial.msn");
}

#[test]
fn frame_count_bounds() {
    assert_rejected(packet(vec![]), "packet.frame_count");
    assert_eq!(packet(vec![Frame::Ping; MAX_FRAMES]).check(), Ok(()));
    assert!(Pdu::decode(&packet(vec![Frame::Ping; MAX_FRAMES]).to_bytes()).is_ok());
    assert_rejected(packet(vec![Frame::Ping; MAX_FRAMES + 1]), "packet.frame_count");
}

// ---------------------------------------------------------------------------------------
// Deterministic pseudo-random smoke tests.

/// Knuth's MMIX LCG; the high bits are used.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

#[test]
fn random_bytes_never_panic_and_are_canonical() {
    let mut rng = Lcg(0x5EED);
    let types = [
        PduType::Init,
        PduType::Challenge,
        PduType::Confirm,
        PduType::Accept,
        PduType::Stale,
        PduType::Packet,
        PduType::Reset,
    ];
    let mut decoded = 0;
    for i in 0..6000 {
        let bytes = match i % 3 {
            // Arbitrary bytes, mostly rejected by the header.
            0 => {
                let len = rng.below(120) as usize;
                Bytes::from(rng.bytes(len))
            }
            // A valid header around a random body, biased towards small counts and codes
            // so the body decoders get exercised.
            1 => {
                let ty = types[rng.below(types.len() as u64) as usize];
                let len = rng.below(200) as usize;
                let mut body = rng.bytes(len);
                if ty == PduType::Packet && body.len() >= 3 {
                    body[0] = 0;
                    body[1] = 1 + rng.below(3) as u8;
                    body[2] = 1 + rng.below(10) as u8;
                }
                let dst = if ty == PduType::Init { 0 } else { 9 };
                let pn = if ty == PduType::Packet { rng.next() } else { 0 };
                Body::decode(ty, &Bytes::from(body.clone())).ok();
                datagram(ty, &hdr(dst, pn), &body)
            }
            // A few random byte changes (and maybe a length change) of a valid example.
            _ => {
                let ex = examples();
                let mut v = ex[rng.below(ex.len() as u64) as usize].to_bytes().to_vec();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(v.len() as u64) as usize;
                    v[at] = if rng.below(2) == 0 { rng.byte() } else { v[at] ^ 1 << rng.below(8) };
                }
                match rng.below(8) {
                    0 => v.truncate(rng.below(v.len() as u64) as usize),
                    1 => {
                        let n = 1 + rng.below(4) as usize;
                        v.extend(rng.bytes(n));
                    }
                    _ => {}
                }
                Bytes::from(v)
            }
        };
        let _ = RawPdu::parse(&bytes);
        if assert_canonical(&bytes) {
            decoded += 1;
        }
    }
    // The property was exercised on real decodes, not only on rejections.
    assert!(decoded > 500, "only {decoded} inputs decoded");
}

fn random_summary(rng: &mut Lcg) -> Summary {
    let mut entry = || rng.below(6);
    let resolved_below = entry();
    let resolved = (0..entry())
        .map(|_| ResolvedEntry {
            msn: entry(),
            resolution: match entry() % 3 {
                0 => Resolution::Delivered,
                1 => Resolution::Cancelled,
                _ => Resolution::Rejected(RejectReason::Expired),
            },
        })
        .collect();
    let partial = (0..entry()).map(|_| PartialEntry { msn: entry(), durable: 3 }).collect();
    Summary { resolved_below, resolved, partial }
}

fn random_frame(rng: &mut Lcg) -> Frame {
    match rng.below(5) {
        0 => Frame::Ack {
            ranges: (0..rng.below(4))
                .map(|_| PnRange { smallest: rng.below(12), largest: rng.below(12) })
                .collect(),
            ack_delay_us: rng.next(),
        },
        1 => Frame::Summary(random_summary(rng)),
        2 | 3 => {
            let offset = [0, 1, 5, u64::MAX - 2][rng.below(4) as usize];
            let len = rng.below(4) as usize;
            let bytes = Bytes::from(rng.bytes(len));
            let first = (rng.below(3) != 0 && offset == 0 || rng.below(8) == 0).then(|| FirstSegment {
                total_len: rng.below(5),
                priority: Priority::Normal,
                app_id: 1,
            });
            Frame::Data(DataFrame { msn: rng.next(), offset, fin: rng.below(2) == 0, first, bytes })
        }
        _ => Frame::Cancel { msn: rng.next() },
    }
}

/// On typed values, `check` is exactly the decoder's acceptance: a PDU round-trips iff it
/// passes `check`.
#[test]
fn check_agrees_with_decode_on_random_pdus() {
    let mut rng = Lcg(42);
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..4000 {
        let tag = [0, 1, 0xFFFF_FFFF_FFFF_FFFF][rng.below(3) as usize];
        let header = Header { sid: rng.next() as u32, dst_tag: tag, epoch: rng.next(), pn: rng.below(2) };
        let body = match rng.below(5) {
            0 => Body::Init(Init { tag_i: tag ^ rng.below(2), padding: rng.below(3) as u16, ..init() }),
            1 => Body::Challenge(Challenge {
                tag_r: rng.below(2),
                cookie: Cookie { tag_i: rng.below(2), ..cookie() },
                ..challenge()
            }),
            2 => Body::Confirm(confirm(random_summary(&mut rng))),
            3 => Body::Accept(Accept { summary: random_summary(&mut rng) }),
            _ => Body::Packet((0..rng.below(4)).map(|_| random_frame(&mut rng)).collect()),
        };
        let pdu = Pdu { header, body, auth: AuthTag([rng.byte(); AUTH_LEN]) };
        let bytes = pdu.to_bytes();
        assert_eq!(bytes.len(), pdu.encoded_len());
        let decoded = Pdu::decode(&bytes);
        match pdu.check() {
            Ok(()) => {
                valid += 1;
                assert_eq!(decoded, Ok(pdu));
            }
            Err(_) => {
                // Which rule is reported first may differ when several are broken.
                invalid += 1;
                assert!(decoded.is_err(), "{pdu:?}");
            }
        }
    }
    assert!(valid > 300 && invalid > 300, "valid {valid}, invalid {invalid}");
}

// ---------------------------------------------------------------------------------------
// Found by mutation testing (core/mutants.md).

/// Every reason code decodes to its own variant: a PDU carrying each one round-trips
/// exactly (a decoder that mapped two codes to one variant, or refused one, fails here).
#[test]
fn every_reason_code_round_trips_to_its_variant() {
    let mut frames = Vec::new();
    for reason in [
        AbortReason::Requested,
        AbortReason::RetransmitsExhausted,
        AbortReason::ProtocolViolation,
        AbortReason::ResourceLimit,
    ] {
        frames.push(Frame::Abort { reason });
    }
    for reason in [CloseReason::Idle, CloseReason::Requested, CloseReason::Shutdown] {
        frames.push(Frame::Close { reason });
    }
    for reason in [RejectReason::TooLarge, RejectReason::Refused, RejectReason::Expired] {
        frames.push(Frame::Reject { msn: 1, reason });
        frames.push(Frame::Resolved { msn: 2, resolution: Resolution::Rejected(reason) });
    }
    for frame in frames {
        let pdu = packet(vec![frame.clone()]);
        assert_eq!(Pdu::decode(&pdu.to_bytes()), Ok(pdu), "{frame:?}");
    }
}

/// A count above its limit is refused as out of range as soon as it is read — before any
/// entry is read — not reported as a truncation of entries that were never meant to come.
#[test]
fn over_limit_counts_are_refused_before_their_entries() {
    // An ACK frame claiming MAX_ACK_RANGES + 1 ranges, and no ranges.
    let mut ack = vec![2u8];
    ack.extend_from_slice(&0u64.to_be_bytes());
    ack.extend_from_slice(&(MAX_ACK_RANGES as u16 + 1).to_be_bytes());
    assert_eq!(Pdu::decode(&packet_with_raw_frame(&ack)), out_of_range("ack.n_ranges"));
    // A PACKET claiming MAX_FRAMES + 1 frames, and no frames.
    let body = (MAX_FRAMES as u16 + 1).to_be_bytes();
    assert_eq!(
        Pdu::decode(&datagram(PduType::Packet, &hdr(9, 1), &body)),
        out_of_range("packet.frame_count")
    );
    // An ACCEPT whose summary claims MAX_SUMMARY_ENTRIES + 1 resolved entries, and none.
    let mut body = 0u64.to_be_bytes().to_vec();
    body.extend_from_slice(&(MAX_SUMMARY_ENTRIES as u16 + 1).to_be_bytes());
    assert_eq!(
        Pdu::decode(&datagram(PduType::Accept, &hdr(9, 0), &body)),
        out_of_range("summary.n_resolved")
    );
}
