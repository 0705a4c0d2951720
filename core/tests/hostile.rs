//! The seed failure cannot happen: under heavy reordering, duplication, loss, replay of
//! any earlier datagram, link drops, dial failures and crashes, an association is always
//! eventually established, and re-established after every drop.

mod common;

use assoc_core::sim::{Impairments, Pair};
use assoc_core::{DownReason, DropReason, Duration, Event, Input, Suite};

/// What one scenario went through, summed over seeds to show the hard cases happened.
#[derive(Default)]
struct Exercised {
    stale: u64,
    collisions: u64,
    replays: u64,
    associations: u64,
    released: u64,
}

/// Runs one seeded scenario; returns a description of the first failure.
fn scenario(seed: u64, suite: Suite, seen: &mut Exercised) -> Result<(), String> {
    let (mut a, mut b) = common::configs_with(suite);
    // Frequent keepalives put data-phase packets on the wire to be replayed and reordered.
    a.keepalive = Some(Duration::from_secs(2));
    b.keepalive = Some(Duration::from_secs(2));
    let mut p = Pair::new(a, b, Impairments::hostile(), seed).expect("valid configs");
    p.input(0, Input::Open);
    if seed % 3 == 0 {
        // Both sides want the association: simultaneous opens happen.
        p.input(1, Input::Open);
    }
    let fail = |p: &Pair, what: &str| format!("seed {seed} at {:?}: {what}; events {:?}", p.now, p.events);
    for round in 0..3 {
        // Chaos: run a while with random link drops and crashes, checking safety each step.
        let chaos_end = p.now + Duration::from_secs(20);
        let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(round);
        while p.now < chaos_end && p.step() {
            p.check_safety().map_err(|e| fail(&p, e))?;
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            match (rng >> 33) % 400 {
                0 => p.drop_link(),
                2 => {
                    // An orderly release while the application still wants traffic: the
                    // association drains and a new one forms.
                    p.input(0, Input::Release);
                    p.input(0, Input::Open);
                }
                1 => {
                    let side = ((rng >> 20) & 1) as usize;
                    p.crash(side);
                    // The restarted application asks again for what it asked before.
                    if side == 0 || seed % 3 == 0 {
                        p.input(side, Input::Open);
                    }
                }
                _ => {}
            }
        }
        // Then the association must form (again) within bounded time, with no help.
        let ok = p.run_until(Duration::from_secs(600), |p| p.agreed());
        p.check_safety().map_err(|e| fail(&p, e))?;
        if !ok {
            return Err(fail(&p, &format!("no agreed association after round {round}")));
        }
        p.drop_link();
    }
    for s in &p.sessions {
        seen.stale += s.stats().dropped(DropReason::Stale);
        seen.collisions += s.stats().dropped(DropReason::Collision);
        seen.replays += s.stats().dropped(DropReason::Replay);
        seen.associations += s.stats().associations;
    }
    for events in &p.events {
        seen.released += events
            .iter()
            .filter(|e| matches!(e, Event::AssociationDown { reason: DownReason::Released(_), .. }))
            .count() as u64;
    }
    Ok(())
}

#[test]
fn thousand_hostile_scenarios_always_reestablish() {
    let mut seen = Exercised::default();
    let n = common::seeds(1000);
    let failures: Vec<String> =
        (0..n).filter_map(|seed| scenario(seed, Suite::Symbolic, &mut seen).err()).collect();
    assert!(failures.is_empty(), "{} of {n} failed; first: {}", failures.len(), failures[0]);
    // The runs really met stale PDUs from earlier attempts, collisions and replays.
    assert!(seen.stale > n, "stale drops: {}", seen.stale);
    assert!(seen.collisions > n / 100, "collisions: {}", seen.collisions);
    assert!(seen.replays > n, "replays: {}", seen.replays);
    assert!(seen.associations >= 6 * n, "associations: {}", seen.associations);
    assert!(seen.released > n / 10, "orderly releases: {}", seen.released);
    println!(
        "stale {} collisions {} replays {} associations {} released {}",
        seen.stale, seen.collisions, seen.replays, seen.associations, seen.released
    );
}

/// The same scenarios with the real suite (encrypted packets, HMAC'd handshake, expiring
/// cookies).
#[test]
fn real_suite_hostile_scenarios_always_reestablish() {
    let mut seen = Exercised::default();
    let suite = common::real_suite();
    let n = common::seeds(1000);
    let failures: Vec<String> = (0..n).filter_map(|seed| scenario(seed, suite, &mut seen).err()).collect();
    assert!(failures.is_empty(), "{} of {n} failed; first: {}", failures.len(), failures[0]);
    assert!(seen.replays > n, "replays: {}", seen.replays);
    assert!(seen.associations >= 6 * n, "associations: {}", seen.associations);
}

/// The pair's network is the shared emulator (`assoc_core::impair`): each direction's
/// counters see the hostile profile's loss, duplication and reordering, in proportion, and
/// nothing arrives that the emulator did not let through (or the replays add).
#[test]
fn the_pair_network_is_the_shared_impairment_emulator() {
    let (mut a, mut b) = common::configs();
    for c in [&mut a, &mut b] {
        // Steady traffic both ways.
        c.keepalive = Some(Duration::from_millis(200));
    }
    let imp = Impairments { replay_pct: 0, ..Impairments::hostile() };
    let mut p = Pair::new(a, b, imp, 11).expect("valid configs");
    p.link_up_now();
    p.input(0, Input::Open);
    p.run_for(Duration::from_secs(120));
    let (a, b) = (p.link_stats(0), p.link_stats(1));
    let pushed = a.pushed + b.pushed;
    assert!(pushed > 100, "traffic both ways: {a:?} {b:?}");
    for (what, n, pct) in [("lost", a.lost + b.lost, 10), ("duplicated", a.duplicated + b.duplicated, 10)] {
        assert!(n > 0 && n < pushed * pct * 3 / 100, "{what} about {pct} %: {n} of {pushed}");
    }
    assert!(a.reordered + b.reordered > 0, "reordered: {a:?} {b:?}");
    let let_through = pushed - a.lost - b.lost + a.duplicated + b.duplicated;
    assert!(p.delivered <= let_through, "{} delivered of {let_through}", p.delivered);
}
