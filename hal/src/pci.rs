//! PCI configuration space through the legacy port mechanism (#1: ports 0xCF8/0xCFC), as the
//! `virtio-drivers` crate's [`ConfigurationAccess`]. QEMU's `pc` machine has no ECAM window
//! in the PVH boot path, and the port mechanism reaches every function on bus 0, which is all
//! the kernel scans. The firmware (SeaBIOS, which runs before the PVH entry) has already
//! assigned BARs; [`crate::virtio`] reads them back.

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};
use x86_64::instructions::port::Port;

use crate::sync::IrqMutex;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// Serialises the address/data port pair: a read is two port accesses that must not
/// interleave with another one.
static CONFIG_LOCK: IrqMutex<()> = IrqMutex::new(());

/// Configuration-space access through ports 0xCF8/0xCFC. Stateless: every instance reaches
/// the same hardware, and the lock above orders the accesses.
#[derive(Debug, Default)]
pub struct PortCam;

fn address(df: DeviceFunction, offset: u8) -> u32 {
    0x8000_0000
        | (u32::from(df.bus) << 16)
        | (u32::from(df.device & 0x1f) << 11)
        | (u32::from(df.function & 0x7) << 8)
        | u32::from(offset & 0xfc)
}

impl ConfigurationAccess for PortCam {
    fn read_word(&self, device_function: DeviceFunction, register_offset: u8) -> u32 {
        let _guard = CONFIG_LOCK.lock();
        let mut addr = Port::<u32>::new(CONFIG_ADDRESS);
        let mut data = Port::<u32>::new(CONFIG_DATA);
        // SAFETY: 0xCF8/0xCFC are the PC's PCI configuration mechanism #1; writing an address
        // with the enable bit and reading the data port has no effect beyond the configuration
        // register read, and the lock keeps the pair atomic.
        unsafe {
            addr.write(address(device_function, register_offset));
            data.read()
        }
    }

    fn write_word(&mut self, device_function: DeviceFunction, register_offset: u8, value: u32) {
        let _guard = CONFIG_LOCK.lock();
        let mut addr = Port::<u32>::new(CONFIG_ADDRESS);
        let mut data = Port::<u32>::new(CONFIG_DATA);
        // SAFETY: as in `read_word`; the callers (virtio-drivers' PciRoot) only write registers
        // of the device they drive (command, BAR sizing, capability fields).
        unsafe {
            addr.write(address(device_function, register_offset));
            data.write(value);
        }
    }

    // The trait's obligation is the caller's: the clone is used by virtio-drivers only for read-only
    // enumeration; PortCam holds no state, so clones cannot disagree.
    unsafe fn unsafe_clone(&self) -> Self {
        PortCam
    }
}
