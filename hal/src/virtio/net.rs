//! The virtio-net card: [`VirtioNet`], whole Ethernet frames in and out, polled.
//!
//! The driver keeps its frames where the device can reach them by address: each receive slot
//! and the transmit slot is an [`OwnedFrame`] page of the direct map that the driver alone
//! holds, so no request bounces through [`crate::dma`] and none can fail for want of a bounce
//! block once the card is up. The receive ring is kept full ([`RX_SLOTS`] pages lent to the
//! device); [`VirtioNet::receive`] copies a completed frame out and lends its page back at
//! once. [`VirtioNet::transmit`] copies one frame (behind the virtio-net header) into a free
//! transmit page ([`TX_SLOTS`] of them) and submits it without waiting; pages the device has
//! finished with are taken back at the next transmit, so a page is never written while lent.
//!
//! Field order matters for soundness: `device` is dropped first, and its `Drop` unsets the
//! queues before the pages the device was reading or writing are freed.

use alloc::vec::Vec;

use buddy::MigrateType;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceType, Transport};

use super::{VirtioError, VirtioHal, io_error, transport};
use crate::mem::frames::OwnedFrame;
use crate::pci::PciDevice;

/// Descriptors per queue (and so receive slots lent to the device at once).
pub const RX_SLOTS: usize = 16;
/// The largest Ethernet frame the driver moves (no jumbo frames: 1500 bytes of MTU plus the
/// 14-byte header; the card offers no VLAN or offload features that would make it longer).
pub const MAX_FRAME: usize = 1514;
/// Transmit pages: frames in flight at once (the queue has [`RX_SLOTS`] descriptors too).
const TX_SLOTS: usize = 8;
/// Polls of the transmit ring, with every page in flight, before a frame counts as lost.
const TX_POLL_LIMIT: u32 = 1_000_000;

/// A virtio-net card on the PCI bus.
pub struct VirtioNet {
    device: VirtIONetRaw<VirtioHal, PciTransport, RX_SLOTS>,
    /// Receive pages by descriptor token; `None` only while a page is being recycled.
    rx: Vec<Option<OwnedFrame>>,
    /// Transmit pages lent to the device, by descriptor token, with the bytes lent.
    tx: Vec<Option<(OwnedFrame, usize)>>,
    /// Transmit pages ready to be filled.
    tx_free: Vec<OwnedFrame>,
    device_info: PciDevice,
    mac: [u8; 6],
}

impl VirtioNet {
    /// Initialises the claimed card (from `hal::pci::claim_virtio(VirtioKind::Network)`) and
    /// fills its receive ring.
    pub fn new(device: PciDevice) -> Result<Self, VirtioError> {
        let transport = transport(&device)?;
        if transport.device_type() != DeviceType::Network {
            return Err(VirtioError::Init("not a network device"));
        }
        let mut raw = VirtIONetRaw::<VirtioHal, _, RX_SLOTS>::new(transport)
            .map_err(|_| VirtioError::Init("virtio-net device (queues need DMA memory)"))?;
        let mut tx_free = Vec::new();
        tx_free
            .try_reserve_exact(TX_SLOTS)
            .map_err(|_| VirtioError::NoMemory)?;
        for _ in 0..TX_SLOTS {
            tx_free.push(
                OwnedFrame::new(0, MigrateType::Unmovable).map_err(|_| VirtioError::NoMemory)?,
            );
        }
        let mut tx: Vec<Option<(OwnedFrame, usize)>> = Vec::new();
        tx.try_reserve_exact(RX_SLOTS)
            .map_err(|_| VirtioError::NoMemory)?;
        tx.resize_with(RX_SLOTS, || None);
        let mut rx: Vec<Option<OwnedFrame>> = Vec::new();
        rx.try_reserve_exact(RX_SLOTS)
            .map_err(|_| VirtioError::NoMemory)?;
        rx.resize_with(RX_SLOTS, || None);
        for _ in 0..RX_SLOTS {
            let mut page =
                OwnedFrame::new(0, MigrateType::Unmovable).map_err(|_| VirtioError::NoMemory)?;
            // SAFETY: the page is a direct-map frame owned by this driver; it is stored in
            // `rx` under its token and not touched again until `receive_complete` returns it.
            let token = unsafe { raw.receive_begin(page.bytes_mut()) }.map_err(io_error)?;
            match rx.get_mut(usize::from(token)) {
                Some(slot @ None) => *slot = Some(page),
                // virtio-drivers hands out each token once while it is in flight; anything
                // else leaves the device pointing at a page we cannot track: give up (the
                // device is dropped, unsetting its queues, before `page` is freed).
                _ => return Err(VirtioError::Init("receive ring token out of range")),
            }
        }
        let mac = raw.mac_address();
        Ok(Self {
            device: raw,
            rx,
            tx,
            tx_free,
            device_info: device,
            mac,
        })
    }

    /// The card's Ethernet address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// PCI bus, device and function.
    pub fn location(&self) -> (u8, u8, u8) {
        let at = self.device_info.location();
        (at.bus, at.device, at.function)
    }

    /// Copies the next received frame into `out` and returns its length (`Ok(None)`: nothing
    /// arrived). A frame longer than `out` is dropped and reported as an error; the page goes
    /// back to the device either way.
    pub fn receive(&mut self, out: &mut [u8]) -> Result<Option<usize>, VirtioError> {
        let Some(token) = self.device.poll_receive() else {
            return Ok(None);
        };
        let Some(mut page) = self.rx.get_mut(usize::from(token)).and_then(Option::take) else {
            return Err(VirtioError::Io("receive token without a page"));
        };
        // SAFETY: `page` is the buffer lent under `token` by `receive_begin` (it was stored
        // in `rx` at that token and taken out just now).
        let done = unsafe { self.device.receive_complete(token, page.bytes_mut()) };
        let result = match done {
            Ok((header, len)) => match (out.get_mut(..len), page.bytes().get(header..header + len))
            {
                (Some(dst), Some(src)) => {
                    dst.copy_from_slice(src);
                    Ok(Some(len))
                }
                _ => Err(VirtioError::Io("received frame larger than the buffer")),
            },
            Err(e) => Err(io_error(e)),
        };
        self.recycle(page)?;
        result
    }

    /// Lends a receive page back to the device.
    fn recycle(&mut self, mut page: OwnedFrame) -> Result<(), VirtioError> {
        // SAFETY: as in `new`: the page is ours, stored under its token until completed.
        let token = unsafe { self.device.receive_begin(page.bytes_mut()) }.map_err(io_error)?;
        match self.rx.get_mut(usize::from(token)) {
            Some(slot @ None) => {
                *slot = Some(page);
                Ok(())
            }
            // Unreachable with virtio-drivers' token discipline; were it reached, the device
            // would hold a page we are about to free, which must not happen: stop.
            _ => crate::fault::fatal("virtio-net: receive token reused while in flight"),
        }
    }

    /// Takes back every transmit page the device has finished with.
    fn reap_transmitted(&mut self) -> Result<(), VirtioError> {
        while let Some(token) = self.device.poll_transmit() {
            let Some((page, len)) = self.tx.get_mut(usize::from(token)).and_then(Option::take)
            else {
                return Err(VirtioError::Io("transmit token without a page"));
            };
            let buffer = page.bytes().get(..len).unwrap_or_default();
            // SAFETY: the buffer passed to `transmit_begin` for `token`: the same page and
            // length, stored under that token until now.
            let done = unsafe { self.device.transmit_complete(token, buffer) };
            self.tx_free.push(page);
            done.map_err(io_error)?;
        }
        Ok(())
    }

    /// Sends one Ethernet frame (at most [`MAX_FRAME`] bytes) without waiting for the device:
    /// the frame is copied into a free transmit page, which stays lent to the device until a
    /// later call takes it back. When every page is in flight, waits (polling) for one; a
    /// device that keeps all of them is an error (the frame is dropped, the pages stay lent).
    pub fn transmit(&mut self, frame: &[u8]) -> Result<(), VirtioError> {
        if frame.is_empty() || frame.len() > MAX_FRAME {
            return Err(VirtioError::Io("frame size out of range"));
        }
        self.reap_transmitted()?;
        let mut polls = 0;
        let mut page = loop {
            if let Some(page) = self.tx_free.pop() {
                break page;
            }
            polls += 1;
            if polls > TX_POLL_LIMIT {
                return Err(VirtioError::Io("the card keeps every transmit page"));
            }
            core::hint::spin_loop();
            self.reap_transmitted()?;
        };
        let filled = {
            let bytes = page.bytes_mut();
            self.device
                .fill_buffer_header(bytes)
                .map_err(io_error)
                .and_then(|header| match bytes.get_mut(header..header + frame.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(frame);
                        Ok(header + frame.len())
                    }
                    None => Err(VirtioError::Io("frame size out of range")),
                })
        };
        let len = match filled {
            Ok(len) => len,
            Err(e) => {
                self.tx_free.push(page);
                return Err(e);
            }
        };
        let buffer = page.bytes().get(..len).unwrap_or_default();
        // SAFETY: the page is this driver's and is stored under the returned token until
        // `reap_transmitted` takes it back after the device is done; nothing writes it
        // meanwhile (it is in neither `tx_free` nor anyone's hands).
        let token = match unsafe { self.device.transmit_begin(buffer) } {
            Ok(token) => token,
            Err(e) => {
                self.tx_free.push(page);
                return Err(io_error(e));
            }
        };
        match self.tx.get_mut(usize::from(token)) {
            Some(slot @ None) => {
                *slot = Some((page, len));
                Ok(())
            }
            // Unreachable with virtio-drivers' token discipline; were it reached, the device
            // would read a page we could free: stop.
            _ => crate::fault::fatal("virtio-net: transmit token reused while in flight"),
        }
    }
}
