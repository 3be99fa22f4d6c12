//! PCI configuration space as logic: the address arithmetic of configuration mechanism #1,
//! enumeration of a bus through the small [`ConfigSpace`] trait, the virtio device kinds a
//! vendor/device ID pair names, and [`DeviceTable`], from which each driver claims its device
//! once.
//!
//! Design principles:
//! - Hardware is reached only through [`ConfigSpace`] (one 32-bit register read); `hal`
//!   implements it with ports 0xCF8/0xCFC, the tests with an in-memory configuration space.
//! - The bus is enumerated once, at boot, into a [`DeviceTable`]; a driver *claims* a function
//!   and gets a [`Claim`] token that cannot be cloned, so two drivers never drive one device.
//! - No heap beyond the table's `Vec`, no `unsafe`, no panics on any register contents.
//!
//! Neighbours: `hal::pci` (the port implementation and the boot-time table), `hal::virtio`
//! (turns a claimed function into a virtio transport with `virtio-drivers`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

/// Bus, device (0–31) and function (0–7) of a PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// Reads of the configuration space (registers are 32-bit, `offset` is 4-byte aligned).
pub trait ConfigSpace {
    fn read32(&self, at: Location, offset: u8) -> u32;
}

/// Devices per bus and functions per device.
pub const DEVICES: u8 = 32;
pub const FUNCTIONS: u8 = 8;
/// The vendor ID an absent function reads as.
pub const NO_VENDOR: u16 = 0xffff;
/// PCI vendor ID of virtio devices (Red Hat, Inc.).
pub const VIRTIO_VENDOR: u16 = 0x1af4;

/// The value written to port 0xCF8 (`CONFIG_ADDRESS`) to select register `offset` of `at`:
/// the enable bit, bus, device, function and the register number (the low two bits of
/// `offset` are dropped: the data port always moves a whole 32-bit register). Device and
/// function are masked to their field widths, so no input reaches another field.
pub fn config_address(at: Location, offset: u8) -> u32 {
    0x8000_0000
        | (u32::from(at.bus) << 16)
        | (u32::from(at.device & 0x1f) << 11)
        | (u32::from(at.function & 0x7) << 8)
        | u32::from(offset & 0xfc)
}

/// The identity of one present function, read at enumeration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    pub location: Location,
    pub vendor_id: u16,
    pub device_id: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    pub revision: u8,
    /// Header layout (0 = a device, 1 = a PCI-to-PCI bridge), without the multi-function bit.
    pub header_type: u8,
}

impl FunctionInfo {
    /// The virtio device kind, when this is a virtio function.
    pub fn virtio_kind(&self) -> Option<VirtioKind> {
        virtio_kind(self.vendor_id, self.device_id)
    }
}

/// Reads the identity registers of `at`; `None` when no function answers there.
pub fn read_function(cs: &impl ConfigSpace, at: Location) -> Option<FunctionInfo> {
    let id = cs.read32(at, 0x00);
    let vendor_id = id as u16;
    if vendor_id == NO_VENDOR || vendor_id == 0 {
        return None;
    }
    let class = cs.read32(at, 0x08);
    let header = cs.read32(at, 0x0c);
    Some(FunctionInfo {
        location: at,
        vendor_id,
        device_id: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        revision: class as u8,
        header_type: ((header >> 16) as u8) & 0x7f,
    })
}

/// Every function present on `bus`, in location order. Functions 1–7 of a device are read
/// only when function 0 says the device is multi-function (header type bit 7), as the
/// specification requires: single-function devices may answer at every function number.
pub fn enumerate_bus(cs: &impl ConfigSpace, bus: u8) -> Vec<FunctionInfo> {
    let mut found = Vec::new();
    for device in 0..DEVICES {
        let first = Location {
            bus,
            device,
            function: 0,
        };
        let Some(info) = read_function(cs, first) else {
            continue;
        };
        found.push(info);
        let multifunction = (cs.read32(first, 0x0c) >> 16) & 0x80 != 0;
        if multifunction {
            for function in 1..FUNCTIONS {
                let at = Location {
                    bus,
                    device,
                    function,
                };
                if let Some(info) = read_function(cs, at) {
                    found.push(info);
                }
            }
        }
    }
    found
}

/// Virtio device types (virtio 1.2 §5) the kernel knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioKind {
    Network,
    Block,
    Console,
    Entropy,
    /// Another virtio device type, by its number.
    Other(u16),
}

impl VirtioKind {
    fn from_type(t: u16) -> Self {
        match t {
            1 => VirtioKind::Network,
            2 => VirtioKind::Block,
            3 => VirtioKind::Console,
            4 => VirtioKind::Entropy,
            other => VirtioKind::Other(other),
        }
    }
}

/// The virtio kind of a vendor/device ID pair: transitional devices use IDs 0x1000–0x103f
/// (0x1000 network, 0x1001 block, 0x1003 console, 0x1005 entropy), modern ones
/// 0x1040 + the device type (virtio 1.2 §4.1.2.1).
pub fn virtio_kind(vendor_id: u16, device_id: u16) -> Option<VirtioKind> {
    if vendor_id != VIRTIO_VENDOR {
        return None;
    }
    match device_id {
        0x1000 => Some(VirtioKind::Network),
        0x1001 => Some(VirtioKind::Block),
        0x1003 => Some(VirtioKind::Console),
        0x1005 => Some(VirtioKind::Entropy),
        0x1002 | 0x1004 | 0x1006..=0x103f => Some(VirtioKind::Other(device_id)),
        0x1040..=0x107f => Some(VirtioKind::from_type(device_id - 0x1040)),
        _ => None,
    }
}

/// A claimed function: proof that the holder is the one driver of the function at
/// `info.location`. Not `Clone`; dropping it does not release the claim (a device whose driver
/// gave up stays claimed, so nothing else reprograms it half-initialised).
#[derive(Debug, PartialEq, Eq)]
pub struct Claim {
    info: FunctionInfo,
}

impl Claim {
    pub fn info(&self) -> &FunctionInfo {
        &self.info
    }

    pub fn location(&self) -> Location {
        self.info.location
    }
}

/// The functions found at boot and which of them a driver has claimed.
#[derive(Debug, Default)]
pub struct DeviceTable {
    functions: Vec<(FunctionInfo, bool)>,
}

impl DeviceTable {
    pub fn new(functions: Vec<FunctionInfo>) -> Self {
        Self {
            functions: functions.into_iter().map(|f| (f, false)).collect(),
        }
    }

    /// Every function, with whether it is claimed.
    pub fn functions(&self) -> impl Iterator<Item = (&FunctionInfo, bool)> {
        self.functions.iter().map(|(f, claimed)| (f, *claimed))
    }

    /// Claims the first unclaimed function `wanted` accepts, in location order.
    pub fn claim(&mut self, mut wanted: impl FnMut(&FunctionInfo) -> bool) -> Option<Claim> {
        let (info, claimed) = self
            .functions
            .iter_mut()
            .find(|(f, claimed)| !*claimed && wanted(f))?;
        *claimed = true;
        Some(Claim { info: *info })
    }

    /// Claims the first unclaimed virtio function of `kind`.
    pub fn claim_virtio(&mut self, kind: VirtioKind) -> Option<Claim> {
        self.claim(|f| f.virtio_kind() == Some(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An in-memory configuration space: registers of present functions, all-ones elsewhere
    /// (what an absent function reads as on a real bus).
    #[derive(Default)]
    struct FakeBus {
        regs: BTreeMap<(Location, u8), u32>,
    }

    impl FakeBus {
        fn add(&mut self, at: Location, vendor: u16, device: u16, class: u32, header: u8) {
            self.regs
                .insert((at, 0), u32::from(vendor) | u32::from(device) << 16);
            self.regs.insert((at, 8), class);
            self.regs.insert((at, 0x0c), u32::from(header) << 16);
        }
    }

    impl ConfigSpace for FakeBus {
        fn read32(&self, at: Location, offset: u8) -> u32 {
            assert_eq!(offset % 4, 0, "unaligned register read");
            self.regs.get(&(at, offset)).copied().unwrap_or(u32::MAX)
        }
    }

    fn loc(device: u8, function: u8) -> Location {
        Location {
            bus: 0,
            device,
            function,
        }
    }

    #[test]
    fn address_fields_do_not_overlap() {
        assert_eq!(config_address(loc(0, 0), 0), 0x8000_0000);
        let a = config_address(
            Location {
                bus: 0xff,
                device: 0x1f,
                function: 7,
            },
            0xff,
        );
        assert_eq!(a, 0x80ff_fffc);
        // Out-of-range device/function numbers are masked, never spill into the bus field.
        let masked = config_address(
            Location {
                bus: 1,
                device: 0xff,
                function: 0xff,
            },
            3,
        );
        assert_eq!(masked, 0x8001_ff00);
        assert_eq!(config_address(loc(3, 2), 0x10), 0x8000_1a10);
    }

    #[test]
    fn enumeration_finds_functions_and_honours_the_multifunction_bit() {
        let mut bus = FakeBus::default();
        bus.add(loc(0, 0), 0x8086, 0x1237, 0x0600_0002, 0x00); // host bridge
        bus.add(loc(1, 0), 0x8086, 0x7000, 0x0601_0000, 0x80); // multi-function ISA bridge
        bus.add(loc(1, 1), 0x8086, 0x7010, 0x0101_8000, 0x00);
        bus.add(loc(1, 3), 0x8086, 0x7113, 0x0680_0003, 0x00);
        bus.add(loc(4, 0), VIRTIO_VENDOR, 0x1001, 0x0100_0000, 0x00); // virtio-blk
        // A single-function device that answers at function 2 too: must not be listed twice.
        bus.add(loc(5, 0), VIRTIO_VENDOR, 0x1000, 0x0200_0000, 0x00);
        bus.add(loc(5, 2), VIRTIO_VENDOR, 0x1000, 0x0200_0000, 0x00);
        let found = enumerate_bus(&bus, 0);
        let at: Vec<Location> = found.iter().map(|f| f.location).collect();
        assert_eq!(
            at,
            [
                loc(0, 0),
                loc(1, 0),
                loc(1, 1),
                loc(1, 3),
                loc(4, 0),
                loc(5, 0)
            ]
        );
        let blk = found[4];
        assert_eq!((blk.class, blk.subclass, blk.prog_if), (1, 0, 0));
        assert_eq!(blk.virtio_kind(), Some(VirtioKind::Block));
        assert_eq!(found[1].header_type, 0, "multi-function bit stripped");
        assert_eq!(found[0].revision, 2);
    }

    #[test]
    fn empty_or_garbage_bus_is_not_a_panic() {
        assert!(enumerate_bus(&FakeBus::default(), 0).is_empty());
        struct Zeroes;
        impl ConfigSpace for Zeroes {
            fn read32(&self, _: Location, _: u8) -> u32 {
                0
            }
        }
        assert!(enumerate_bus(&Zeroes, 0).is_empty());
        struct Noise(core::cell::Cell<u32>);
        impl ConfigSpace for Noise {
            fn read32(&self, _: Location, _: u8) -> u32 {
                let x = self
                    .0
                    .get()
                    .wrapping_mul(1_103_515_245)
                    .wrapping_add(12_345);
                self.0.set(x);
                x
            }
        }
        let found = enumerate_bus(&Noise(core::cell::Cell::new(7)), 0);
        assert!(found.len() <= usize::from(DEVICES) * usize::from(FUNCTIONS));
    }

    #[test]
    fn virtio_ids() {
        assert_eq!(
            virtio_kind(VIRTIO_VENDOR, 0x1000),
            Some(VirtioKind::Network)
        );
        assert_eq!(virtio_kind(VIRTIO_VENDOR, 0x1001), Some(VirtioKind::Block));
        assert_eq!(
            virtio_kind(VIRTIO_VENDOR, 0x1041),
            Some(VirtioKind::Network)
        );
        assert_eq!(virtio_kind(VIRTIO_VENDOR, 0x1042), Some(VirtioKind::Block));
        assert_eq!(
            virtio_kind(VIRTIO_VENDOR, 0x1044),
            Some(VirtioKind::Entropy)
        );
        assert_eq!(
            virtio_kind(VIRTIO_VENDOR, 0x1050),
            Some(VirtioKind::Other(16))
        );
        assert_eq!(virtio_kind(VIRTIO_VENDOR, 0x1100), None);
        assert_eq!(virtio_kind(0x8086, 0x1001), None);
    }

    #[test]
    fn each_function_is_claimed_once() {
        let mut bus = FakeBus::default();
        bus.add(loc(3, 0), VIRTIO_VENDOR, 0x1001, 0x0100_0000, 0);
        bus.add(loc(4, 0), VIRTIO_VENDOR, 0x1042, 0x0100_0000, 0);
        bus.add(loc(5, 0), VIRTIO_VENDOR, 0x1000, 0x0200_0000, 0);
        let mut table = DeviceTable::new(enumerate_bus(&bus, 0));
        let first = table.claim_virtio(VirtioKind::Block).unwrap();
        let second = table.claim_virtio(VirtioKind::Block).unwrap();
        assert_eq!(
            (first.location(), second.location()),
            (loc(3, 0), loc(4, 0))
        );
        assert_eq!(table.claim_virtio(VirtioKind::Block), None);
        assert_eq!(
            table
                .claim_virtio(VirtioKind::Network)
                .map(|c| c.location()),
            Some(loc(5, 0))
        );
        assert!(table.functions().all(|(_, claimed)| claimed));
        {
            let _gone = first; // the token goes out of scope here
        }
        assert_eq!(
            table.claim_virtio(VirtioKind::Block),
            None,
            "a dropped claim is not released"
        );
    }
}
