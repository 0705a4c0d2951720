//! Exhaustive proofs of pure helpers over small domains: every input in the domain is
//! checked, so within it the property is proved, not sampled.

use assoc_core::wire::{FirstSegment, Params, Resolution};
use assoc_core::{
    Duration, Instant, MessageId, NonDelivery, Outcome, PeerName, Priority, Record, SessionStore,
    StoredMessage,
};
use bytes::Bytes;

/// A small alphabet of records touching every field of the store.
fn alphabet() -> Vec<Record> {
    let msg = |app_id| StoredMessage {
        app_id,
        priority: Priority::Normal,
        submitted: Instant::ZERO,
        deadline: Instant::from_micros(10),
        bytes: Bytes::from_static(b"xy"),
        msn: None,
        cancel: None,
    };
    let first = Some(FirstSegment { total_len: 3, priority: Priority::Normal, app_id: 9 });
    vec![
        Record::Epoch(1),
        Record::Epoch(2),
        Record::Submitted { id: MessageId(0), message: msg(0) },
        Record::Submitted { id: MessageId(1), message: msg(1) },
        Record::Assigned { id: MessageId(0), msn: 0 },
        Record::CancelRequested { id: MessageId(0), reason: NonDelivery::Expired },
        Record::Finished { id: MessageId(0), outcome: Outcome::Delivered },
        Record::Chunk { msn: 0, offset: 0, first, bytes: Bytes::from_static(b"ab") },
        Record::Chunk { msn: 0, offset: 2, first: None, bytes: Bytes::from_static(b"c") },
        Record::Delivered { msn: 0, app_id: 9, bytes: Bytes::from_static(b"abc") },
        Record::Resolved { msn: 1, resolution: Resolution::Cancelled },
        Record::Delivered { msn: 1, app_id: 4, bytes: Bytes::new() },
    ]
}

/// Whether every record about a message follows that message's `Submitted`, and every
/// chunk starts where the previous one of its message ended, as the core writes them.
fn causal(seq: &[&Record]) -> bool {
    let mut submitted = Vec::new();
    let mut prefix = std::collections::BTreeMap::new();
    seq.iter().all(|r| match r {
        Record::Chunk { msn, offset, bytes, .. } => {
            let end = prefix.entry(*msn).or_insert(0u64);
            let in_order = *offset == *end;
            *end += bytes.len() as u64;
            in_order
        }
        Record::Submitted { id, .. } => {
            submitted.push(*id);
            true
        }
        Record::Assigned { id, .. } | Record::CancelRequested { id, .. } | Record::Finished { id, .. } => {
            submitted.contains(id)
        }
        _ => true,
    })
}

fn fold(records: &[&Record]) -> SessionStore {
    let mut s = SessionStore::default();
    for r in records {
        s.apply(r);
    }
    s
}

/// Every sequence of up to 4 records from the alphabet (12⁴ + 12³ + 12² + 12 + 1 = 22,621):
/// applying a record twice equals applying it once; epoch, ids, msns and the watermark
/// never decrease. And for every log the core can write (a message's records follow its
/// `Submitted`; chunks in offset order), replaying the whole log again changes nothing (a driver may replay its log
/// after a crash).
#[test]
fn store_fold_is_idempotent_monotone_and_replay_safe_for_every_short_log() {
    let alpha = alphabet();
    let mut sequences: Vec<Vec<&Record>> = vec![vec![]];
    for _ in 0..4 {
        let longer: Vec<Vec<&Record>> = sequences
            .iter()
            .filter(|s| s.len() == sequences.last().map_or(0, Vec::len))
            .flat_map(|s| alpha.iter().map(move |r| [s.clone(), vec![r]].concat()))
            .collect();
        sequences.extend(longer);
    }
    assert_eq!(sequences.len(), 22_621);
    for seq in &sequences {
        let mut s = SessionStore::default();
        for r in seq {
            let before = s.clone();
            s.apply(r);
            let once = s.clone();
            s.apply(r);
            assert_eq!(s, once, "applying {r:?} twice differs from once after {seq:?}");
            assert!(s.epoch >= before.epoch && s.next_id >= before.next_id, "{seq:?}");
            assert!(s.next_msn >= before.next_msn && s.watermark >= before.watermark, "{seq:?}");
        }
        if causal(seq) {
            let replayed: Vec<&Record> = seq.iter().chain(seq.iter()).copied().collect();
            assert_eq!(fold(&replayed), fold(seq), "replaying the log changes the store: {seq:?}");
        }
    }
}

/// Parameter agreement over every pair from a domain of boundary values: commutative,
/// idempotent, never above either side.
#[test]
fn params_agreement_is_commutative_idempotent_and_a_lower_bound() {
    let v16 = [0u16, 1, 512, u16::MAX];
    let v32 = [0u32, 1, 30 * 1024, u32::MAX];
    let mut all = Vec::new();
    for &max_datagram in &v16 {
        for &msg_window in &v16 {
            for &checkpoint_size in &v32 {
                for &checkpoint_window in &v16 {
                    all.push(Params { max_datagram, msg_window, checkpoint_size, checkpoint_window });
                }
            }
        }
    }
    for a in &all {
        assert_eq!(a.agree(a), *a);
        for b in &all {
            let ab = a.agree(b);
            assert_eq!(ab, b.agree(a));
            assert!(ab.max_datagram <= a.max_datagram.min(b.max_datagram));
            assert!(ab.msg_window <= a.msg_window && ab.checkpoint_size <= b.checkpoint_size);
            assert_eq!(ab.agree(a), ab, "agreeing again changes nothing");
        }
    }
}

/// The collision tie-break: over every name of 1–3 bytes from `{a, B, -}`, the order is a
/// total order, equals byte-wise order of the case-folded names, and case never matters.
#[test]
fn peer_name_order_is_total_case_blind_and_lexicographic() {
    let letters: [u8; 3] = [b'a', b'B', b'-'];
    let mut raw: Vec<Vec<u8>> = Vec::new();
    for len in 1..=3 {
        let mut idx = vec![0usize; len];
        loop {
            raw.push(idx.iter().map(|&i| letters[i]).collect());
            let mut k = len;
            while k > 0 {
                k -= 1;
                idx[k] += 1;
                if idx[k] < letters.len() {
                    break;
                }
                idx[k] = 0;
            }
            if idx.iter().all(|&i| i == 0) {
                break;
            }
        }
    }
    assert_eq!(raw.len(), 3 + 9 + 27);
    let names: Vec<(Vec<u8>, PeerName)> =
        raw.iter().map(|r| (r.to_ascii_lowercase(), PeerName::new(r).expect("valid"))).collect();
    for (fa, a) in &names {
        for (fb, b) in &names {
            assert_eq!(a.cmp(b), fa.cmp(fb), "{a} vs {b}");
            assert_eq!(a == b, fa == fb);
        }
    }
}

/// Time arithmetic never panics and saturates, over every pair of boundary values.
#[test]
fn time_arithmetic_saturates_on_every_boundary_pair() {
    let vals = [0u64, 1, 2, 1_000_000, u64::MAX / 2, u64::MAX - 1, u64::MAX];
    for &a in &vals {
        for &b in &vals {
            let (t, d) = (Instant::from_micros(a), Duration::from_micros(b));
            assert_eq!((t + d).as_micros(), a.saturating_add(b));
            assert_eq!((Instant::from_micros(a) - Instant::from_micros(b)).as_micros(), a.saturating_sub(b));
            assert_eq!(Duration::from_micros(a).saturating_mul(b).as_micros(), a.saturating_mul(b));
            for shift in [0u32, 1, 31, 63, 64, 200] {
                let got = Duration::from_micros(a).saturating_shl(shift).as_micros();
                let want = if a == 0 {
                    0
                } else {
                    a.checked_shl(shift).filter(|v| v >> shift == a).unwrap_or(u64::MAX)
                };
                assert_eq!(got, want, "{a} << {shift}");
            }
        }
    }
}
