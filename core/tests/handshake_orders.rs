//! The handshake under reordering, duplication and stale PDUs, with exact expectations.

mod common;
use assoc_core::Verdict;

use assoc_core::{DownReason, DropReason, Event, Input, InputError, Role, Session};
use bytes::Bytes;
use common::{configs, Manual};

/// Runs the usual retransmission machinery until both sides agree (or gives up).
fn settle(m: &mut Manual, delivered: &mut [usize; 2]) -> bool {
    for _ in 0..50 {
        m.exchange(delivered);
        if agreed(m) {
            return true;
        }
        m.tick();
    }
    false
}

fn agreed(m: &Manual) -> bool {
    match (m.s[0].association(), m.s[1].association()) {
        (Some(a), Some(b)) => {
            a.usable
                && b.usable
                && a.id.epoch == b.id.epoch
                && a.id.local_tag == b.id.peer_tag
                && a.id.peer_tag == b.id.local_tag
        }
        _ => false,
    }
}

/// The four PDUs of a clean handshake opened by alpha: INIT, CHALLENGE, CONFIRM, ACCEPT.
fn clean_transcript() -> [(usize, Bytes); 4] {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    m.deliver(0, 0).unwrap();
    m.deliver(1, 0).unwrap();
    m.deliver(0, 1).unwrap();
    m.deliver(1, 1).unwrap();
    assert!(agreed(&m));
    [
        (0, m.sent[0][0].clone()),
        (1, m.sent[1][0].clone()),
        (0, m.sent[0][1].clone()),
        (1, m.sent[1][1].clone()),
    ]
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn every_reordering_of_the_four_handshake_pdus_ends_in_one_agreed_association() {
    let transcript = clean_transcript();
    let perms = permutations(4);
    assert_eq!(perms.len(), 24);
    for dup in [false, true] {
        for perm in &perms {
            let mut m = Manual::new();
            m.input(0, Input::Open).unwrap();
            assert_eq!(m.sent[0][0], transcript[0].1, "the run is deterministic");
            for &k in perm {
                let (from, d) = &transcript[k];
                for _ in 0..(1 + dup as usize) {
                    let _ = m.input(
                        1 - from,
                        Input::Datagram { from: Manual::remote(1 - (1 - from)), datagram: d.clone() },
                    );
                }
            }
            let mut delivered = [m.sent[0].len(), m.sent[1].len()];
            assert!(settle(&mut m, &mut delivered), "order {perm:?} dup={dup}: no agreement");
            for side in 0..2 {
                let ups = m.events[side].iter().filter(|e| matches!(e, Event::AssociationUp { .. })).count();
                assert_eq!(ups, 1, "order {perm:?} dup={dup}: side {side} events {:?}", m.events[side]);
                assert!(!m.events[side].iter().any(|e| matches!(e, Event::AssociationDown { .. })));
            }
            assert_eq!(m.s[0].association().unwrap().id.epoch, 1);
        }
    }
}

#[test]
fn stale_handshake_pdus_from_an_earlier_attempt_are_dropped_and_change_nothing() {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    let mut delivered = [0, 0];
    assert!(settle(&mut m, &mut delivered));
    let old: Vec<(usize, Bytes)> = vec![
        (0, m.sent[0][0].clone()), // INIT
        (1, m.sent[1][0].clone()), // CHALLENGE
        (0, m.sent[0][1].clone()), // CONFIRM
        (1, m.sent[1][1].clone()), // ACCEPT
    ];
    // The link drops; a second association forms at epoch 2.
    m.input(0, Input::LinkDown).unwrap();
    m.input(1, Input::LinkDown).unwrap();
    m.input(0, Input::LinkUp { peer: Some(Manual::remote(1)) }).unwrap();
    m.input(1, Input::LinkUp { peer: Some(Manual::remote(0)) }).unwrap();
    delivered = [m.sent[0].len(), m.sent[1].len()];
    assert!(settle(&mut m, &mut delivered));
    let before = [m.s[0].association(), m.s[1].association()];
    assert_eq!(before[0].unwrap().id.epoch, 2);

    let results: Vec<Result<Verdict, InputError>> = old
        .iter()
        .map(|(from, d)| {
            m.input(1 - from, Input::Datagram { from: Manual::remote(1 - (1 - from)), datagram: d.clone() })
        })
        .collect();
    // INIT is answered statelessly; CHALLENGE and ACCEPT match no attempt; the authentic
    // old CONFIRM is answered with STALE (a stable fact), which in turn matches nothing.
    assert_eq!(results[0], Ok(Verdict::Answered));
    assert_eq!(results[1], Ok(Verdict::Dropped(DropReason::Stale)));
    assert_eq!(results[2], Ok(Verdict::Answered));
    assert_eq!(results[3], Ok(Verdict::Dropped(DropReason::Stale)));
    let stale_answer = m.sent[1].last().unwrap().clone();
    assert_eq!(
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: stale_answer }),
        Ok(Verdict::Dropped(DropReason::Stale))
    );
    // The CHALLENGE answering the old INIT matches no attempt either.
    let challenge = m.sent[1][m.sent[1].len() - 2].clone();
    assert_eq!(
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: challenge }),
        Ok(Verdict::Dropped(DropReason::Stale))
    );
    assert_eq!([m.s[0].association(), m.s[1].association()], before, "nothing changed");
    assert!(agreed(&m));
}

#[test]
fn simultaneous_open_yields_one_association_and_counts_the_collision() {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    m.input(1, Input::Open).unwrap();
    let mut delivered = [0, 0];
    assert!(settle(&mut m, &mut delivered));
    // "alpha" < "beta": alpha's attempt wins, beta answers it and drops its own.
    assert_eq!(
        m.s[0].association().unwrap().id.role,
        Role::Initiator,
        "events {:?} / {:?}",
        m.events,
        m.s.iter().map(|s| s.stats().dropped).collect::<Vec<_>>()
    );
    assert_eq!(m.s[0].stats().dropped(DropReason::Collision), 1);
    // Stays agreed: nothing left in flight tears it down.
    for _ in 0..5 {
        m.tick();
        m.exchange(&mut delivered);
    }
    assert!(agreed(&m));
}

#[test]
fn peer_restart_supersedes_the_old_association_without_losing_the_epoch() {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    let mut delivered = [0, 0];
    assert!(settle(&mut m, &mut delivered));
    // beta crashes and restarts from its durable store (epoch 1), and wants an association.
    let (_, b) = configs();
    m.s[1] = Session::restore(b, m.s[1].store().clone(), 99).unwrap();
    m.input(1, Input::LinkUp { peer: Some(Manual::remote(0)) }).unwrap();
    m.input(1, Input::Open).unwrap();
    delivered[1] = 0;
    m.sent[1].clear();
    assert!(settle(&mut m, &mut delivered));
    assert_eq!(m.s[0].association().unwrap().id.epoch, 2);
    assert!(m.events[0].contains(&Event::AssociationDown { epoch: 1, reason: DownReason::Superseded }));
    assert!(m.events[0].contains(&Event::AssociationUp { epoch: 2, role: Role::Responder }));
}

#[test]
fn wrong_psk_is_reported_on_both_sides_and_never_associates() {
    let (a, mut b) = configs();
    b.psk = assoc_core::Psk::new(b"another 16B key!").unwrap();
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut delivered = [0, 0];
    assert!(!settle(&mut m, &mut delivered));
    use assoc_core::AuthStage;
    assert!(m.events[1].contains(&Event::AuthenticationFailed { stage: AuthStage::Init }));
    assert!(m.events[0].contains(&Event::AuthenticationFailed { stage: AuthStage::Challenge }));
    assert!(m.s.iter().all(|s| s.association().is_none()));
}
