//! The session configuration in a recording: every field but the pre-shared key, which
//! never goes to disk — only a fingerprint, so a replay given the wrong key says so.

use std::hash::Hash;

use assoc_core::wire::PeerName;
use assoc_core::{Config, DialPolicy, Duration, Psk, Suite};

use super::bytes::{In, Malformed, Out};
use super::digest::Digest;

/// A fingerprint of a PSK (a 64-bit non-cryptographic hash of a ≥ 128-bit random key; it
/// identifies the key without revealing it).
pub(crate) fn psk_fingerprint(psk: &Psk) -> u64 {
    let mut d = Digest::default();
    d.add(b"assoc-recorder-psk");
    psk.hash(&mut d);
    d.value()
}

fn dur(o: &mut Out, d: Duration) {
    o.var(d.as_micros());
}

fn get_dur(i: &mut In<'_>) -> Result<Duration, Malformed> {
    Ok(Duration::from_micros(i.var("config duration")?))
}

/// Writes `c` without its PSK.
pub(crate) fn encode(c: &Config, o: &mut Out) {
    o.blob(c.local_name.as_bytes());
    o.blob(c.peer_name.as_bytes());
    o.var(c.sid.into());
    o.u8(match c.suite {
        Suite::Symbolic => 0,
        _ => 1,
    });
    dur(o, c.cookie_lifetime);
    o.var(c.init_budget.burst.into());
    o.var(c.init_budget.per_second.into());
    o.var(c.params.max_datagram.into());
    o.var(c.params.msg_window.into());
    o.var(c.params.checkpoint_size.into());
    o.var(c.params.checkpoint_window.into());
    o.u8(match c.dial {
        DialPolicy::OnDemand => 0,
        DialPolicy::RemoteOnly => 1,
    });
    for d in [c.lifetime, c.disconnect_delay] {
        dur(o, d);
    }
    o.var(c.max_open_retries.into());
    for d in [c.open_interval, c.open_backoff_start, c.handshake_rto] {
        dur(o, d);
    }
    o.var(c.handshake_retransmits.into());
    dur(o, c.initial_rtt);
    dur(o, c.max_ack_delay);
    o.var(c.max_probes.into());
    o.opt(c.keepalive.map(Duration::as_micros));
    o.var(c.ack_ranges.into());
    o.var(c.drain_ptos.into());
    o.var(c.max_queued_messages.into());
    o.var(c.max_queued_bytes);
    o.var(c.max_message_len);
    for d in c.expiry.iter().chain(&c.transfer_timeout_per_kib) {
        dur(o, *d);
    }
    dur(o, c.aging_interval);
    o.var(c.max_packets_in_flight.into());
    o.var(c.reset_budget.burst.into());
    o.var(c.reset_budget.per_second.into());
    o.var(c.max_auth_failures.into());
    o.var(c.idempotency_window.into());
    o.var(c.source_limits.budget.burst.into());
    o.var(c.source_limits.budget.per_second.into());
    o.var(c.source_limits.max_sources.into());
}

/// Reads a configuration written by [`encode`], completing it with `psk`.
pub(crate) fn decode(i: &mut In<'_>, psk: Psk) -> Result<Config, Malformed> {
    let name = |i: &mut In<'_>| PeerName::new(i.blob("peer name")?).map_err(|_| Malformed("peer name"));
    let local = name(i)?;
    let peer = name(i)?;
    let mut c = Config::new(local, peer, psk);
    c.sid = i.var_u32("sid")?;
    c.suite = match i.u8("suite")? {
        0 => Suite::Symbolic,
        1 if Suite::recommended() != Suite::Symbolic => Suite::recommended(),
        _ => return Err(Malformed("suite")),
    };
    c.cookie_lifetime = get_dur(i)?;
    c.init_budget.burst = i.var_u32("init budget")?;
    c.init_budget.per_second = i.var_u32("init budget")?;
    c.params.max_datagram = i.var_u16("params")?;
    c.params.msg_window = i.var_u16("params")?;
    c.params.checkpoint_size = i.var_u32("params")?;
    c.params.checkpoint_window = i.var_u16("params")?;
    c.dial = match i.u8("dial policy")? {
        0 => DialPolicy::OnDemand,
        1 => DialPolicy::RemoteOnly,
        _ => return Err(Malformed("dial policy")),
    };
    c.lifetime = get_dur(i)?;
    c.disconnect_delay = get_dur(i)?;
    c.max_open_retries = i.var_u32("max_open_retries")?;
    c.open_interval = get_dur(i)?;
    c.open_backoff_start = get_dur(i)?;
    c.handshake_rto = get_dur(i)?;
    c.handshake_retransmits = i.var_u32("handshake_retransmits")?;
    c.initial_rtt = get_dur(i)?;
    c.max_ack_delay = get_dur(i)?;
    c.max_probes = i.var_u32("max_probes")?;
    c.keepalive = i.opt("keepalive")?.map(Duration::from_micros);
    c.ack_ranges = i.var_u16("ack_ranges")?;
    c.drain_ptos = i.var_u32("drain_ptos")?;
    c.max_queued_messages = i.var_u32("max_queued_messages")?;
    c.max_queued_bytes = i.var("max_queued_bytes")?;
    c.max_message_len = i.var("max_message_len")?;
    for d in c.expiry.iter_mut().chain(c.transfer_timeout_per_kib.iter_mut()) {
        *d = get_dur(i)?;
    }
    c.aging_interval = get_dur(i)?;
    c.max_packets_in_flight = i.var_u32("max_packets_in_flight")?;
    c.reset_budget.burst = i.var_u32("reset budget")?;
    c.reset_budget.per_second = i.var_u32("reset budget")?;
    c.max_auth_failures = i.var_u32("max_auth_failures")?;
    c.idempotency_window = i.var_u32("idempotency_window")?;
    c.source_limits.budget.burst = i.var_u32("source limits")?;
    c.source_limits.budget.per_second = i.var_u32("source limits")?;
    c.source_limits.max_sources = i.var_u32("source limits")?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips() {
        let mut c = Config::from_text("alpha", "beta", "000102030405060708090a0b0c0d0e0f").unwrap();
        // Move every field away from its default so a forgotten one shows.
        c.sid = 7;
        c.suite = Suite::Symbolic;
        c.cookie_lifetime = Duration::from_millis(1234);
        c.init_budget.burst = 3;
        c.init_budget.per_second = 2;
        c.params.max_datagram = 999;
        c.params.msg_window = 9;
        c.params.checkpoint_size = 4096;
        c.params.checkpoint_window = 2;
        c.dial = DialPolicy::RemoteOnly;
        c.lifetime = Duration::from_secs(11);
        c.disconnect_delay = Duration::from_secs(12);
        c.max_open_retries = 13;
        c.open_interval = Duration::from_secs(14);
        c.open_backoff_start = Duration::from_secs(2);
        c.handshake_rto = Duration::from_millis(16);
        c.handshake_retransmits = 17;
        c.initial_rtt = Duration::from_millis(18);
        c.max_ack_delay = Duration::from_millis(19);
        c.max_probes = 20;
        c.keepalive = None;
        c.ack_ranges = 21;
        c.drain_ptos = 22;
        c.max_queued_messages = 23;
        c.max_queued_bytes = 24_000;
        c.max_message_len = 2500;
        c.expiry = [Duration::from_secs(26), Duration::from_secs(27), Duration::from_secs(28)];
        c.transfer_timeout_per_kib =
            [Duration::from_secs(29), Duration::from_secs(30), Duration::from_secs(31)];
        c.aging_interval = Duration::from_secs(32);
        c.max_packets_in_flight = 33;
        c.reset_budget.burst = 34;
        c.reset_budget.per_second = 35;
        c.max_auth_failures = 36;
        c.idempotency_window = 37;
        let mut o = Out::default();
        encode(&c, &mut o);
        let mut i = In::new(&o.0);
        assert_eq!(decode(&mut i, c.psk.clone()), Ok(c.clone()));
        assert!(i.end("config").is_ok());
        let fresh = Config::from_text("alpha", "beta", "000102030405060708090a0b0c0d0e0f").unwrap();
        let mut o = Out::default();
        encode(&fresh, &mut o);
        assert_eq!(decode(&mut In::new(&o.0), fresh.psk.clone()), Ok(fresh));
    }

    #[test]
    fn fingerprints_tell_keys_apart() {
        let a = Psk::new(&[1; 16]).unwrap();
        let b = Psk::new(&[2; 16]).unwrap();
        assert_eq!(psk_fingerprint(&a), psk_fingerprint(&a.clone()));
        assert_ne!(psk_fingerprint(&a), psk_fingerprint(&b));
    }
}
