//! The shared context every subsystem builds on: what a shell command handler receives
//! ([`KernelCtx`]), the shape of one entry in the kernel's subsystem table ([`Subsystem`]), and
//! the small helpers handlers share.
//!
//! This module is the bottom of the kernel's import graph: it imports nothing from the kernel,
//! subsystems import it, and `main` (which owns the table) imports the subsystems. That is the
//! direction every `use crate::…` must take (the `xtask` host test `kernel_module_graph_is_acyclic`
//! checks it); a subsystem that needs another's service goes through a shared module at this
//! level (as the memory manager's shrinkers do through [`crate::reclaim`]).

use alloc::string::String;
use core::fmt::Write;

use metrics::MetricsRegistry;
use shell::{CommandError, CommandRegistry};

/// What command handlers can reach.
pub struct KernelCtx {
    pub boot: &'static hal::BootInfo,
    /// The kernel's subsystems, in start order (`shutdown` stops them in reverse).
    pub subsystems: &'static [&'static Subsystem],
}

impl KernelCtx {
    /// Whether Ctrl-C was typed since the running command started: long-running commands
    /// poll it and stop early (the shell keeps the byte, so the editor also sees it).
    pub fn interrupted(&self) -> bool {
        hal::console::interrupt_requested()
    }
}

/// One subsystem of the running kernel: a logic crate's glue in `kernel/src/<name>/`, described
/// to the boot sequence, the shell and the metrics registry by this one entry.
pub struct Subsystem {
    /// Short name, for boot lines and errors.
    pub name: &'static str,
    /// Brings the subsystem up, once, at boot, before the shell starts (in table order; the
    /// `ktest` image does not start subsystems). Returns a line for the boot log, if any.
    /// Failures are reported in that line: the kernel boots without the subsystem.
    pub start: fn(&'static hal::BootInfo) -> Option<String>,
    /// Adds the subsystem's shell commands.
    pub commands: fn(&mut CommandRegistry<KernelCtx>),
    /// Registers the subsystem's metrics.
    pub metrics: fn(&mut MetricsRegistry),
    /// Called by `shutdown` before power-off; returns a line when something failed.
    pub stop: fn() -> Option<String>,
}

impl Subsystem {
    /// `start` of a subsystem that has nothing to start.
    pub fn no_start(_: &'static hal::BootInfo) -> Option<String> {
        None
    }

    /// `stop` of a subsystem that has nothing to stop.
    pub fn no_stop() -> Option<String> {
        None
    }
}

/// The shell's command registry: every subsystem's commands, in table order (a subsystem may
/// extend a group an earlier one registered).
pub fn command_registry(subsystems: &[&Subsystem]) -> CommandRegistry<KernelCtx> {
    let mut registry = CommandRegistry::new();
    for subsystem in subsystems {
        (subsystem.commands)(&mut registry);
    }
    registry
}

/// The writer handlers print to.
pub type Out<'a> = &'a mut dyn Write;
/// What a handler returns.
pub type CmdResult = Result<(), CommandError>;

/// Maps a formatting failure (the console went away) to the shell's output error.
pub fn w(r: core::fmt::Result) -> CmdResult {
    r.map_err(|_| CommandError::Output)
}
