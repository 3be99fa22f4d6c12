//! x86_64 specifics: PVH entry ([`boot`]), CPU features ([`cpu`]), GDT/TSS with IST stacks
//! ([`gdt`]), the IDT and interrupt entry ([`interrupts`]), the 8259 PIC and 8254 PIT ([`pic`]),
//! COM1 ([`serial`]), the CMOS clock (`cmos`), the context switch ([`context`]) and QEMU's
//! exit device ([`exit`]).

pub mod boot;
pub(crate) mod cmos;
pub mod context;
pub mod cpu;
pub mod exit;
pub mod gdt;
pub mod interrupts;
pub mod pic;
pub mod serial;
