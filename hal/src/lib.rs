//! # hal — the Nous hardware layer
//!
//! Every `unsafe` block of the kernel lives in this crate (as Asterinas keeps its unsafe code in
//! OSTD): the PVH boot path, CPU tables, interrupt entry, port I/O, page tables, the heap and
//! the context switch. Everything above it — the kernel binary and the logic crates under
//! `crates/` — is safe Rust.
//!
//! Design rules:
//! - Keep each unsafe operation small and argue it: every `unsafe fn` lists its obligations
//!   under `# Safety`, every `unsafe` block says which invariant makes it sound.
//! - Policy lives elsewhere: the buddy algorithm (`buddy`), scheduling decisions (`sched`) and
//!   everything user-visible are logic crates; this crate gives them memory, time and a CPU.
//! - One CPU, interrupts off in critical sections ([`sync::IrqMutex`]); simple over clever.
//! - The public API is sound, as Asterinas's OSTD is: no sequence of calls to safe `pub` items
//!   can cause undefined behaviour. What could (freeing a frame, editing page tables, the
//!   context switch, the CPU-table and device set-up of the boot sequence, configuration-space
//!   writes) is crate-private or an `unsafe fn` with numbered obligations; memory reaches the
//!   rest of the kernel as types that carry the invariant ([`mem::frames::OwnedFrame`],
//!   [`pci::PciDevice`]). Self-tests of private paths are behind the `ktest` feature, the
//!   deliberate fault behind `fault-test`.
//!
//! Map: [`arch`] (x86_64 specifics), [`boot`], [`mem`], [`task`], [`time`], [`console`],
//! [`fault`], [`sync`], [`pci`] (configuration space, the boot-time device table),
//! [`dma`] (coherent memory and the bounce pool), [`virtio`] (transport glue, the block and
//! the network drivers).
#![no_std]

extern crate alloc;

pub mod arch;
pub mod boot;
pub mod console;
pub mod dma;
pub mod fault;
pub mod mem;
pub mod pci;
mod rt;
pub mod sync;
pub mod task;
pub mod time;
pub mod virtio;

pub use boot::BootInfo;
