//! The virtio-net card as the `net` crate's [`net::Nic`]: frames are copied out of and into
//! the driver's own pages, so nothing here touches DMA memory.

use net::{FrameLost, MAX_FRAME, Nic};

/// The claimed card.
pub struct Card(pub hal::virtio::VirtioNet);

impl Nic for Card {
    fn mac(&self) -> [u8; 6] {
        self.0.mac()
    }

    fn receive(&mut self, buf: &mut [u8; MAX_FRAME]) -> Result<Option<usize>, FrameLost> {
        self.0.receive(buf).map_err(|_| FrameLost)
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), FrameLost> {
        self.0.transmit(frame).map_err(|_| FrameLost)
    }
}
