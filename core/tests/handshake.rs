//! Association establishment end to end, over the simulator.

mod common;

use assoc_core::sim::Impairments;
use assoc_core::{Duration, Event, Input, Role, SessionState};
use common::pair;

#[test]
fn clean_network_establishes_with_agreed_tags_and_epoch_one() {
    let mut p = pair(Impairments::none(), 1);
    p.input(0, Input::Open);
    assert!(p.run_until(Duration::from_secs(10), |p| p.agreed()));
    let a = p.sessions[0].association().unwrap();
    assert_eq!(a.id.epoch, 1);
    assert_eq!(a.id.role, Role::Initiator);
    assert_eq!(p.events[0], [Event::AssociationUp { epoch: 1, role: Role::Initiator }]);
    assert_eq!(p.events[1], [Event::AssociationUp { epoch: 1, role: Role::Responder }]);
    assert_eq!(p.durable[0].epoch, 1);
    assert_eq!(p.durable[1].epoch, 1);
}

#[test]
fn idle_association_is_released_after_lifetime_and_bearer_hung_up() {
    let mut p = pair(Impairments::none(), 2);
    p.input(0, Input::Open);
    assert!(p.run_until(Duration::from_secs(10), |p| p.agreed()));
    p.input(0, Input::Release);
    assert!(
        p.run_until(Duration::from_secs(60), |p| p.sessions.iter().all(|s| s.state() == SessionState::Idle))
    );
    assert!(p.events[0].iter().any(|e| matches!(e, Event::AssociationDown { .. })));
    assert!(p.events[1].iter().any(|e| matches!(e, Event::AssociationDown { .. })));
    // After disconnect_delay with no association, the bearer is hung up.
    assert!(p.run_until(Duration::from_secs(300), |p| !p.link_up));
}
