//! # net — the kernel's network server logic
//!
//! Everything of the dashboard's network path that is not hardware: [`nic`] adapts a card that
//! moves Ethernet frames to smoltcp's `Device`; [`server`] runs smoltcp's TCP/IP interface and
//! an HTTP/1.1 + WebSocket server over it (bounded connections, bounded memory per connection,
//! deadlines); [`http`] parses request heads with `httparse` and builds responses; [`ws`] does
//! the WebSocket handshake and framing. The kernel (kernel/src/net) gives it the virtio-net
//! card and the metrics; the host tests give it smoltcp's loopback device and fixed content.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod http;
pub mod nic;
pub mod server;
pub mod ws;

#[cfg(test)]
mod tests;

pub use nic::{FrameLost, LinkStats, MAX_FRAME, Nic, NicDevice};
pub use server::{Asset, Content, NoMemory, Server, ServerConfig, ServerStats};

/// QEMU's user network: the guest's address, prefix and gateway.
pub const GUEST_ADDRESS: [u8; 4] = [10, 0, 2, 15];
pub const GUEST_PREFIX: u8 = 24;
pub const GATEWAY: [u8; 4] = [10, 0, 2, 2];
/// The port the dashboard listens on (QEMU forwards a host port to it).
pub const HTTP_PORT: u16 = 80;
