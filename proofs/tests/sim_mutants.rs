//! The message-layer mutations, each caught by the guarantees oracle (`sim::Ledger`) over
//! seeded hostile simulator runs: a second, independent catch beside the model's
//! (`cargo run --release -p assoc-model -- mutants`, which catches every mutation).

use assoc_core::mutation::{Mutation, Mutations};
use assoc_core::sim::{Impairments, Ledger, Pair};
use assoc_core::{Config, Duration, Input, PeerName, Priority, Psk, Submission, Suite};
use bytes::Bytes;

fn configs(m: Option<Mutation>) -> (Config, Config) {
    let psk = Psk::new(b"0123456789abcdef").expect("16 bytes");
    let (a, b) = (PeerName::new(b"alpha").expect("name"), PeerName::new(b"beta").expect("name"));
    let mut ca = Config::new(a, b, psk.clone());
    let mut cb = Config::new(b, a, psk);
    for c in [&mut ca, &mut cb] {
        c.suite = Suite::Symbolic;
        c.params.max_datagram = 512;
        c.params.checkpoint_size = 1024;
        c.params.checkpoint_window = 2;
        c.params.msg_window = 4;
        c.max_open_retries = 10_000;
        c.open_interval = Duration::from_secs(5);
        c.keepalive = Some(Duration::from_secs(2));
        c.mutations = m.map_or(Mutations::NONE, |m| Mutations::NONE.with(m));
    }
    (ca, cb)
}

/// One hostile run with the mutation on; `Err` is the first broken guarantee.
fn run(m: Option<Mutation>, seed: u64) -> Result<(), String> {
    let (a, b) = configs(m);
    let mut p = Pair::new(a, b, Impairments::hostile(), seed).expect("valid");
    let mut ledger = Ledger::default();
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut submitted = 0u64;
    let end = p.now + Duration::from_secs(40);
    while p.now < end {
        p.step_at_most(Duration::from_millis(100));
        ledger.check(&p)?;
        match next(200) {
            0 => p.drop_link(),
            1 => p.crash(next(2) as usize),
            2 => p.input(0, Input::Release),
            3..=12 if submitted < 6 => {
                let len = [0usize, 300, 2500][next(3) as usize];
                let bytes = Bytes::from(vec![submitted as u8; len]);
                ledger.submitted(0, submitted, bytes.clone());
                let deadline = (next(3) == 0).then(|| p.now + Duration::from_secs(1 + next(10)));
                p.input(
                    0,
                    Input::Submit(Submission {
                        app_id: submitted,
                        priority: Priority::Normal,
                        deadline,
                        bytes,
                    }),
                );
                submitted += 1;
            }
            _ => {}
        }
    }
    let settled = p.run_until(Duration::from_secs(3600), |p| {
        let mut l = ledger.clone();
        l.check(p).is_ok() && l.all_resolved()
    });
    ledger.check(&p)?;
    if !settled {
        return Err("stuck: a queued message never got its outcome".into());
    }
    Ok(())
}

/// Runs seeds until the mutation breaks a guarantee; returns (seed, what broke).
fn first_catch(m: Mutation) -> Option<(u64, String)> {
    (0..SEEDS).find_map(|seed| run(Some(m), seed).err().map(|e| (seed, e)))
}

/// Seeds tried per mutation; the shipping protocol must pass all of them.
const SEEDS: u64 = 300;

#[test]
fn the_shipping_protocol_passes_every_seed_the_mutants_are_tried_on() {
    for seed in 0..SEEDS {
        if let Err(e) = run(None, seed) {
            panic!("seed {seed}: {e}");
        }
    }
}

macro_rules! caught {
    ($name:ident, $m:expr) => {
        #[test]
        fn $name() {
            let (seed, what) =
                first_catch($m).unwrap_or_else(|| panic!("{:?} was not caught in {SEEDS} seeds", $m));
            println!("{:?} caught at seed {seed}: {what}", $m);
        }
    };
}

caught!(resume_from_own_offset_is_caught, Mutation::ResumeFromOwnOffset);
caught!(ndr_in_doubt_on_timer_is_caught, Mutation::NdrInDoubtOnTimer);
caught!(no_duplicate_suppression_is_caught, Mutation::NoDuplicateSuppression);
caught!(release_drops_in_flight_is_caught, Mutation::ReleaseDropsInFlight);
