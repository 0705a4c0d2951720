//! assoc-core (crate docs being written)
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod rng;
pub mod time;
pub mod wire;
