//! The network card as smoltcp sees it: [`Nic`] is the small trait a driver implements
//! (whole Ethernet frames in and out), [`NicDevice`] adapts it to `smoltcp::phy::Device` and
//! counts the link's packets, bytes and errors for `netctl status` and the metrics.

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;

/// The largest Ethernet frame moved (1500 bytes of MTU plus the 14-byte header).
pub const MAX_FRAME: usize = 1514;

/// A frame the card could not receive or send (counted in [`LinkStats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLost;

/// A card that moves whole Ethernet frames.
pub trait Nic {
    /// The card's Ethernet address.
    fn mac(&self) -> [u8; 6];
    /// Copies the next received frame into `buf`; `Ok(None)` when nothing arrived, `Err`
    /// when a frame was lost (counted as a receive error).
    fn receive(&mut self, buf: &mut [u8; MAX_FRAME]) -> Result<Option<usize>, FrameLost>;
    /// Sends one frame; `Err` when it was not sent (counted as a transmit error).
    fn transmit(&mut self, frame: &[u8]) -> Result<(), FrameLost>;
}

/// Traffic counters of the link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
}

/// A [`Nic`] as a smoltcp device.
pub struct NicDevice<N: Nic> {
    pub nic: N,
    pub stats: LinkStats,
}

impl<N: Nic> NicDevice<N> {
    pub fn new(nic: N) -> Self {
        Self {
            nic,
            stats: LinkStats::default(),
        }
    }
}

/// A received frame, copied out of the card.
pub struct NicRx {
    buf: [u8; MAX_FRAME],
    len: usize,
}

/// Permission to send one frame.
pub struct NicTx<'a, N: Nic> {
    nic: &'a mut N,
    stats: &'a mut LinkStats,
}

impl RxToken for NicRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.buf.get(..self.len).unwrap_or_default())
    }
}

impl<N: Nic> TxToken for NicTx<'_, N> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = [0u8; MAX_FRAME];
        match buf.get_mut(..len) {
            Some(frame) => {
                let result = f(frame);
                if self.nic.transmit(frame).is_ok() {
                    self.stats.tx_packets += 1;
                    self.stats.tx_bytes += len as u64;
                } else {
                    self.stats.tx_errors += 1;
                }
                result
            }
            // smoltcp never asks for more than the MTU it was given; if it did, the frame is
            // built into a scratch buffer and dropped.
            None => {
                self.stats.tx_errors += 1;
                let mut scratch = alloc::vec![0u8; len];
                f(&mut scratch)
            }
        }
    }
}

impl<N: Nic> Device for NicDevice<N> {
    type RxToken<'a>
        = NicRx
    where
        Self: 'a;
    type TxToken<'a>
        = NicTx<'a, N>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let mut buf = [0u8; MAX_FRAME];
        match self.nic.receive(&mut buf) {
            Ok(Some(len)) => {
                self.stats.rx_packets += 1;
                self.stats.rx_bytes += len as u64;
                Some((
                    NicRx { buf, len },
                    NicTx {
                        nic: &mut self.nic,
                        stats: &mut self.stats,
                    },
                ))
            }
            Ok(None) => None,
            Err(FrameLost) => {
                self.stats.rx_errors += 1;
                None
            }
        }
    }

    fn transmit(&mut self, _: Instant) -> Option<Self::TxToken<'_>> {
        Some(NicTx {
            nic: &mut self.nic,
            stats: &mut self.stats,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(1);
        caps
    }
}
