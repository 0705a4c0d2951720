//! `assoc relay`: a UDP relay with an impairment shim in each direction, for putting a
//! bad network between two real processes (see the network-namespace test).

use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use assoc_io::{Clock, Shim};
use bytes::Bytes;
use clap::Args;
use tokio::net::UdpSocket;

use crate::common::{stop_signal, Fallible, ImpairArgs};

/// Arguments of `assoc relay`.
#[derive(Args, Debug)]
pub(crate) struct RelayArgs {
    /// Where clients send (UDP).
    #[arg(long)]
    listen: SocketAddr,
    /// Where the relay forwards to (the server).
    #[arg(long)]
    to: SocketAddr,
    /// Local address for the server side (default any).
    #[arg(long)]
    bind: Option<SocketAddr>,
    #[command(flatten)]
    impair: ImpairArgs,
}

pub(crate) async fn run(args: RelayArgs) -> Fallible<i32> {
    let front = UdpSocket::bind(args.listen).await?;
    let back =
        UdpSocket::bind(args.bind.unwrap_or_else(|| crate::common::any_address_for(Some(args.to)))).await?;
    let clock = Clock::new();
    let mut up = Shim::new(args.impair.always(), args.impair.impair_seed);
    let mut down = Shim::new(args.impair.always(), args.impair.impair_seed ^ 0x5A5A);
    let mut client: Option<SocketAddr> = None;
    eprintln!("assoc relay: {} → {} with {:?}", front.local_addr()?, args.to, up.impairment());
    let (mut fbuf, mut bbuf) = (vec![0u8; 65_536], vec![0u8; 65_536]);
    let stop = stop_signal();
    tokio::pin!(stop);
    let far = || tokio::time::Instant::now() + StdDuration::from_secs(3600);
    let sleep = tokio::time::sleep_until(far());
    tokio::pin!(sleep);
    loop {
        let next = [up.next_release(), down.next_release()].into_iter().flatten().min();
        sleep.as_mut().reset(next.map_or_else(far, |t| clock.to_std(t).into()));
        tokio::select! {
            () = &mut stop => break,
            r = front.recv_from(&mut fbuf) => {
                if let Ok((n, from)) = r {
                    client = Some(from);
                    up.push(clock.now(), Bytes::copy_from_slice(&fbuf[..n]));
                }
            }
            r = back.recv_from(&mut bbuf) => {
                if let Ok((n, _)) = r {
                    down.push(clock.now(), Bytes::copy_from_slice(&bbuf[..n]));
                }
            }
            () = &mut sleep => {}
        }
        let now = clock.now();
        while let Some(p) = up.pop_due(now) {
            let _ = back.try_send_to(&p, args.to);
        }
        while let Some(p) = down.pop_due(now) {
            if let Some(c) = client {
                let _ = front.try_send_to(&p, c);
            }
        }
    }
    eprintln!("assoc relay: client→server {:?}", up.stats());
    eprintln!("assoc relay: server→client {:?}", down.stats());
    Ok(0)
}
