//! PCI configuration space through the legacy port mechanism (#1: ports 0xCF8/0xCFC), the
//! boot-time device table, and the claim tokens drivers are handed.
//!
//! QEMU's `pc` machine has no ECAM window in the PVH boot path, and the port mechanism reaches
//! every function on bus 0, which is all the kernel scans. The firmware (SeaBIOS, which runs
//! before the PVH entry) has already assigned BARs; [`crate::virtio`] reads them back.
//!
//! The bus is enumerated once, at boot ([`enumerate_at_boot`]), into a `pci::DeviceTable`
//! (the logic, host-tested, lives in the `pci` crate). A driver gets its device by
//! [`claim_virtio`], which hands out each function at most once as a [`PciDevice`]: only this
//! module can create one, so no two drivers can program the same device. [`PortCam`], which
//! can write any device's configuration (and so point its DMA anywhere), is crate-private.

use alloc::vec::Vec;

use pci::{ConfigSpace, DeviceTable, FunctionInfo, Location, VirtioKind, config_address};
use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};
use x86_64::instructions::port::Port;

use crate::sync::IrqMutex;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// Serialises the address/data port pair: a read is two port accesses that must not
/// interleave with another one.
static CONFIG_LOCK: IrqMutex<()> = IrqMutex::new(());

/// The functions found at boot (None before [`enumerate_at_boot`]).
static TABLE: IrqMutex<Option<DeviceTable>> = IrqMutex::new(None);

/// Configuration-space access through ports 0xCF8/0xCFC. Stateless: every instance reaches
/// the same hardware, and the lock above orders the accesses.
#[derive(Debug, Default)]
pub(crate) struct PortCam;

fn location(df: DeviceFunction) -> Location {
    Location {
        bus: df.bus,
        device: df.device,
        function: df.function,
    }
}

impl PortCam {
    fn read(&self, at: Location, offset: u8) -> u32 {
        let _guard = CONFIG_LOCK.lock();
        let mut addr = Port::<u32>::new(CONFIG_ADDRESS);
        let mut data = Port::<u32>::new(CONFIG_DATA);
        // SAFETY: 0xCF8/0xCFC are the PC's PCI configuration mechanism #1; writing an address
        // with the enable bit and reading the data port has no effect beyond the configuration
        // register read (no memory is touched), and the lock keeps the pair atomic.
        unsafe {
            addr.write(config_address(at, offset));
            data.read()
        }
    }
}

impl ConfigSpace for PortCam {
    fn read32(&self, at: Location, offset: u8) -> u32 {
        self.read(at, offset)
    }
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        self.read(location(device_function), register_offset)
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, value: u32) {
        let _guard = CONFIG_LOCK.lock();
        let mut addr = Port::<u32>::new(CONFIG_ADDRESS);
        let mut data = Port::<u32>::new(CONFIG_DATA);
        // SAFETY: as in `read`. A configuration write can reprogram a device (its BARs, its
        // bus mastering), which is why PortCam is crate-private: the only writers are
        // virtio-drivers' PciRoot and this crate's probe, on the device a `PciDevice` claim
        // names (command register, BAR sizing, capability fields).
        unsafe {
            addr.write(config_address(location(device_function), register_offset));
            data.write(value);
        }
    }

    // The trait's obligation is the caller's: the clone is used by virtio-drivers only for
    // read-only enumeration; PortCam holds no state, so clones cannot disagree.
    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}

/// Scans bus 0 once and keeps the table (boot only; a second call keeps the first table, so
/// no claim is ever forgotten).
pub(crate) fn enumerate_at_boot() {
    let found = pci::enumerate_bus(&PortCam, 0);
    let mut table = TABLE.lock();
    if table.is_none() {
        *table = Some(DeviceTable::new(found));
    }
}

/// Every function found at boot, with whether a driver has claimed it.
pub fn functions() -> Vec<(FunctionInfo, bool)> {
    TABLE
        .lock()
        .as_ref()
        .map(|t| t.functions().map(|(f, c)| (*f, c)).collect())
        .unwrap_or_default()
}

/// A PCI function claimed by one driver. Only this module creates them, each function at
/// most once, so holding one proves no other driver programs that device.
#[derive(Debug)]
pub struct PciDevice {
    claim: pci::Claim,
}

impl PciDevice {
    pub fn info(&self) -> &FunctionInfo {
        self.claim.info()
    }

    pub fn location(&self) -> Location {
        self.claim.location()
    }

    pub(crate) fn device_function(&self) -> DeviceFunction {
        let at = self.location();
        DeviceFunction {
            bus: at.bus,
            device: at.device,
            function: at.function,
        }
    }
}

/// Claims the first virtio function of `kind` no driver has claimed yet.
pub fn claim_virtio(kind: VirtioKind) -> Option<PciDevice> {
    let claim = TABLE.lock().as_mut()?.claim_virtio(kind)?;
    Some(PciDevice { claim })
}
