//! Two cores forming an association over a hostile in-memory network, then re-forming it
//! after link drops and a crash. Prints each side's events and what the network did.
//!
//! ```text
//! cargo run --release -p assoc-core --example handshake [SEED]
//! ```

use assoc_core::sim::{Impairments, Pair};
use assoc_core::{Config, DropReason, Duration, Input, PeerName, Psk};

fn main() {
    let seed: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(7);
    let psk = Psk::new(b"example pre-shared key").expect("long enough");
    let (a, b) = (PeerName::new(b"mta-a").expect("valid"), PeerName::new(b"mta-b").expect("valid"));
    let mut pair =
        Pair::new(Config::new(a, b, psk.clone()), Config::new(b, a, psk), Impairments::hostile(), seed)
            .expect("valid configs");
    println!(
        "seed {seed}: 40% reordering (up to 2 s), 10% loss, 10% duplication, 10% replay of old datagrams"
    );

    pair.input(0, Input::Open);
    for round in 1..=3 {
        let formed = pair.run_until(Duration::from_secs(600), |p| p.agreed());
        let info = pair.sessions[0].association();
        println!(
            "round {round}: association {} at {:?}: {:?}",
            if formed { "formed" } else { "NOT formed" },
            pair.now,
            info
        );
        match round {
            1 => {
                println!("  -> the link drops");
                pair.drop_link();
            }
            2 => {
                println!("  -> mta-a crashes and restarts from its durable store");
                pair.crash(0);
                pair.input(0, Input::Open);
            }
            _ => {}
        }
    }
    for (i, name) in ["mta-a", "mta-b"].iter().enumerate() {
        let s = pair.sessions[i].stats();
        println!(
            "{name}: events {:?}\n       stale PDUs dropped {}, replays dropped {}, collisions {}, handshake retransmits {}",
            pair.events[i],
            s.dropped(DropReason::Stale),
            s.dropped(DropReason::Replay),
            s.dropped(DropReason::Collision),
            s.handshake_retransmits
        );
    }
}
