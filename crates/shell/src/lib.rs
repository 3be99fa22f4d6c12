//! The Nous serial shell: everything between the bytes arriving on COM1 and a subsystem's command
//! handler, with no hardware in it.
//!
//! - [`editor`]: [`LineEditor`], a VT100 line editor fed one byte at a time (history, cursor keys,
//!   Ctrl-C / Ctrl-U, a 256-byte limit, raw non-UTF-8 bytes).
//! - [`args`]: [`split_args`], whitespace splitting with double quotes and backslash escapes.
//! - [`registry`]: [`CommandRegistry`], where subsystems register commands and subcommand groups;
//!   it dispatches lines, refuses a wrong argument count before a handler runs, answers `help`,
//!   and lists itself for an allowlist.
//! - [`synopsis`]: the grammar of usage synopses (`<FROM> <TO>`, `[TEXT...]`) and the
//!   [`Arity`] the registry reads from each.
//! - [`parse`]: the shell's one number grammar ([`number_form`]) and helpers that turn argument
//!   text into values with clear error messages.
//! - [`session`]: [`Shell`], the editor and registry joined with a prompt; the kernel feeds it the
//!   serial input and gives it the serial output.
//!
//! Design principles:
//! - Input is hostile. Every byte sequence and every line gets an answer, never a panic; errors are
//!   one line starting with `error: `.
//! - Output goes to a `core::fmt::Write`, so tests compare exact terminal bytes in memory.
//! - Simple state machines over clever ones: the editor re-renders from the first changed cell
//!   instead of patching the screen per key, which keeps every edit correct by construction.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod args;
pub mod editor;
pub mod parse;
pub mod registry;
pub mod session;
pub mod synopsis;

pub use args::{ArgError, split_args};
pub use editor::{DEFAULT_COLUMNS, DEFAULT_HISTORY, EditEvent, LineEditor, MAX_LINE_BYTES};
pub use parse::{
    ArgValue, NUMBER_GRAMMAR, Number, NumberForm, expect_arg_count, number_form, optional_arg,
    parse_arg, required_arg,
};
pub use registry::{
    CommandError, CommandInfo, CommandRegistry, DispatchStatus, Handler, Invocation, PlainCommand,
    RegisterError, ResolveError, Subcommand, SubcommandInfo,
};
pub use session::{CrlfWriter, Shell};
pub use synopsis::{Arity, SynopsisError, parse_synopsis};
