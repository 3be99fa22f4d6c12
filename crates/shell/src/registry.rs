//! The command registry: subsystems register their commands here, and the shell runs lines
//! through it.
//!
//! A command is a name, a one-line summary, a usage synopsis (the text after the name, such as
//! `[TEXT...]`) and a [`Handler`]. A *group* is a command whose first argument picks one of its
//! [`Subcommand`]s (`memctl stats`, `crashctl history [N]`); the registry resolves the
//! subcommand itself, so missing and unknown subcommands get the same error everywhere and the
//! subcommands show up in `help` and in [`CommandRegistry::commands`].
//!
//! The synopsis is also the command's argument count: the registry reads it at registration
//! ([`crate::synopsis`] has the grammar; an unreadable one is [`RegisterError::BadSynopsis`])
//! and refuses a line with too many or too few arguments before the handler runs, with the same
//! message for every command (`error: ps: takes no arguments, got 1`, then the usage line).
//! Handlers still check what the count cannot say: words, number ranges, finer rules between
//! alternatives.
//!
//! Running a line is two steps that callers may also take apart: [`CommandRegistry::resolve`]
//! splits it and finds the command (an allowlist can inspect the [`Invocation`] before anything
//! runs), and [`CommandRegistry::execute`] runs it. [`CommandRegistry::dispatch`] does both and
//! prints every failure as one line starting with `error: ` (usage errors add a `usage:` line).
//! Output uses `\n` line ends; [`crate::session::CrlfWriter`] adapts them for a terminal.
//!
//! The built-in `help` is an ordinary entry of the table, so it is listed and cannot be
//! registered twice. Neighbours: [`crate::args`] splits lines, [`crate::parse`] helps handlers
//! read their arguments, [`crate::session::Shell`] feeds the registry from the line editor.

use crate::args::{ArgError, split_args};
use crate::parse::{NUMBER_GRAMMAR, quoted};
use crate::synopsis::{Arity, SynopsisError, parse_synopsis};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// A command's code: gets the kernel context, the arguments after the command (and subcommand)
/// name, and the output.
pub type Handler<C> = fn(&mut C, &[&str], &mut dyn Write) -> Result<(), CommandError>;

/// A command without subcommands, as a subsystem's table lists it:
/// `(name, summary, usage synopsis, handler)` (see [`CommandRegistry::register_all`]).
pub type PlainCommand<C> = (&'static str, &'static str, &'static str, Handler<C>);

/// Longest command or subcommand name accepted at registration.
const MAX_NAME_LEN: usize = 32;

/// Why a command did not succeed. The registry prints it as `error: <command>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The arguments do not fit the command; the usage line is printed after the message.
    Usage(String),
    /// The arguments were understood but the work could not be done.
    Failed(String),
    /// Writing to the output failed (what `?` on a `write!` turns into).
    Output,
}

impl CommandError {
    /// A [`CommandError::Usage`] with `message`.
    pub fn usage(message: impl Into<String>) -> Self {
        CommandError::Usage(message.into())
    }

    /// A [`CommandError::Failed`] with `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        CommandError::Failed(message.into())
    }
}

impl From<fmt::Error> for CommandError {
    fn from(_: fmt::Error) -> Self {
        CommandError::Output
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Usage(message) | CommandError::Failed(message) => f.write_str(message),
            CommandError::Output => f.write_str("output failed"),
        }
    }
}

/// One entry of a command group's table.
pub struct Subcommand<C> {
    /// The word after the command name.
    pub name: &'static str,
    /// Synopsis of the arguments after the subcommand name (`"[N]"`, or `""` for none), in the
    /// grammar of [`crate::synopsis`]; it fixes how many arguments the subcommand takes.
    pub usage: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Runs it, with the arguments after the subcommand name.
    pub handler: Handler<C>,
}

impl<C> Subcommand<C> {
    fn info(&self, arity: Arity) -> SubcommandInfo {
        SubcommandInfo {
            name: self.name,
            usage: self.usage,
            summary: self.summary,
            arity,
        }
    }
}

// Manual impls: derives would demand `C: Clone`, but only a function pointer to `C` is held.
impl<C> Clone for Subcommand<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Subcommand<C> {}

impl<C> fmt::Debug for Subcommand<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subcommand")
            .field("name", &self.name)
            .field("usage", &self.usage)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// The public description of a subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubcommandInfo {
    /// The word after the command name.
    pub name: &'static str,
    /// Synopsis of its arguments.
    pub usage: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// How many arguments it takes, as read from `usage`.
    pub arity: Arity,
}

/// The public description of a command, for `help` and for allowlists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo<'a> {
    /// The command name.
    pub name: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Synopsis of the arguments after the name (for a group: `<subcommand> ...`).
    pub usage: &'a str,
    /// How many arguments it takes, as read from `usage`; `None` for a group, whose
    /// subcommands have their own.
    pub arity: Option<Arity>,
    /// The subcommands in the order they were registered; empty unless the command is a group.
    pub subcommands: &'a [SubcommandInfo],
}

/// Why a command could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// A command with this name exists already (`help` is built in).
    Duplicate(&'static str),
    /// The name is empty, longer than 32 bytes, or not made of ASCII letters, digits, `_`, `-`
    /// (and not starting with `-`).
    InvalidName(&'static str),
    /// A group was registered without subcommands.
    EmptyGroup(&'static str),
    /// A group lists the same subcommand twice.
    DuplicateSubcommand {
        /// The group.
        command: &'static str,
        /// The repeated subcommand name.
        subcommand: &'static str,
    },
    /// A subcommand name breaks the same rules as [`RegisterError::InvalidName`].
    InvalidSubcommandName {
        /// The group.
        command: &'static str,
        /// The rejected subcommand name.
        subcommand: &'static str,
    },
    /// [`CommandRegistry::extend_group`] named no registered group.
    NoSuchGroup(&'static str),
    /// A usage synopsis does not follow the grammar of [`crate::synopsis`], so the registry
    /// cannot tell how many arguments the command takes.
    BadSynopsis {
        /// The command.
        command: &'static str,
        /// The subcommand, for a group.
        subcommand: Option<&'static str>,
        /// The synopsis as registered.
        usage: &'static str,
        /// Where and why reading it failed.
        error: SynopsisError,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Duplicate(name) => write!(f, "command '{name}' is already registered"),
            RegisterError::InvalidName(name) => write!(f, "invalid command name {}", quoted(name)),
            RegisterError::EmptyGroup(name) => {
                write!(f, "command group '{name}' has no subcommands")
            }
            RegisterError::DuplicateSubcommand {
                command,
                subcommand,
            } => write!(
                f,
                "command '{command}' lists subcommand '{subcommand}' twice"
            ),
            RegisterError::InvalidSubcommandName {
                command,
                subcommand,
            } => write!(
                f,
                "command '{command}' has an invalid subcommand name {}",
                quoted(subcommand)
            ),
            RegisterError::NoSuchGroup(name) => {
                write!(f, "there is no command group '{name}' to extend")
            }
            RegisterError::BadSynopsis {
                command,
                subcommand,
                usage,
                error,
            } => {
                write!(f, "command '{command}")?;
                if let Some(sub) = subcommand {
                    write!(f, " {sub}")?;
                }
                write!(f, "' has an unreadable usage {}: {error}", quoted(usage))
            }
        }
    }
}

/// Why a line does not name a runnable command. `Display` gives the message without `error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The line could not be split into arguments.
    Syntax(ArgError),
    /// No command has this name.
    UnknownCommand(String),
    /// A group was given no subcommand.
    MissingSubcommand {
        /// The group.
        command: &'static str,
        /// Its subcommand names, comma separated.
        expected: String,
    },
    /// A group was given a subcommand it does not have.
    UnknownSubcommand {
        /// The group.
        command: &'static str,
        /// What was typed.
        given: String,
        /// Its subcommand names, comma separated.
        expected: String,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::Syntax(error) => write!(f, "{error}"),
            ResolveError::UnknownCommand(name) => write!(
                f,
                "unknown command {} (type 'help' for a list)",
                quoted(name)
            ),
            ResolveError::MissingSubcommand { command, expected } => {
                write!(
                    f,
                    "{command}: missing subcommand (expected one of: {expected})"
                )
            }
            ResolveError::UnknownSubcommand {
                command,
                given,
                expected,
            } => write!(
                f,
                "{command}: unknown subcommand {} (expected one of: {expected})",
                quoted(given)
            ),
        }
    }
}

/// A line resolved to a registered command, not yet run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The command name.
    pub command: &'static str,
    /// The subcommand name, for a group.
    pub subcommand: Option<&'static str>,
    /// The arguments after the command (and subcommand) name.
    pub args: Vec<String>,
}

impl Invocation {
    /// `command` or `command subcommand`, as used in messages.
    pub fn path(&self) -> String {
        match self.subcommand {
            Some(sub) => format!("{} {sub}", self.command),
            None => String::from(self.command),
        }
    }
}

/// How [`CommandRegistry::dispatch`] ended. Every outcome but `Empty` and `Success` has printed
/// an error line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchStatus {
    /// The line held no words; nothing ran.
    Empty,
    /// The command ran and succeeded.
    Success,
    /// The command or subcommand does not exist, or the subcommand was missing.
    NotFound,
    /// The line could not be split, had the wrong number of arguments, or the command
    /// rejected them.
    BadArguments,
    /// The command ran and failed.
    Failed,
    /// The output failed; the error may not have been printed.
    OutputFailed,
}

enum Action<C> {
    Run(Handler<C>, Arity),
    Group {
        /// Each with its arity.
        infos: Vec<SubcommandInfo>,
        /// Parallel to `infos`.
        handlers: Vec<Handler<C>>,
    },
    Help,
}

struct Command<C> {
    name: &'static str,
    summary: &'static str,
    /// Owned because a group's synopsis is built at registration.
    usage: String,
    action: Action<C>,
}

impl<C> Command<C> {
    fn info(&self) -> CommandInfo<'_> {
        CommandInfo {
            name: self.name,
            summary: self.summary,
            usage: &self.usage,
            arity: match &self.action {
                Action::Run(_, arity) => Some(*arity),
                Action::Help => Some(HELP_ARITY),
                Action::Group { .. } => None,
            },
            subcommands: match &self.action {
                Action::Group { infos, .. } => infos,
                Action::Run(..) | Action::Help => &[],
            },
        }
    }
}

const HELP_SUMMARY: &str = "list the commands, or show how to use one";
const HELP_USAGE: &str = "[COMMAND [SUBCOMMAND]]";
/// What [`HELP_USAGE`] reads as (a unit test checks it).
const HELP_ARITY: Arity = Arity {
    min: 0,
    max: Some(2),
};

/// The table of shell commands, generic over the context `C` that handlers receive.
pub struct CommandRegistry<C> {
    /// Sorted by name.
    commands: Vec<Command<C>>,
    /// Every registration refused so far, in order.
    refused: Vec<RegisterError>,
}

impl<C> Default for CommandRegistry<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> fmt::Debug for CommandRegistry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.commands.iter().map(Command::info))
            .finish()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `usage: path synopsis`, without a trailing space when the synopsis is empty.
fn write_usage(out: &mut dyn Write, path: &str, synopsis: &str) -> fmt::Result {
    if synopsis.is_empty() {
        writeln!(out, "usage: {path}")
    } else {
        writeln!(out, "usage: {path} {synopsis}")
    }
}

/// Writes `text` with control characters escaped, so a message cannot break the one-line rule.
fn write_one_line(out: &mut dyn Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(out, "{}", c.escape_debug())?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// The arity `usage` gives `command` (`subcommand`), or the registration error.
fn read_usage(
    command: &'static str,
    subcommand: Option<&'static str>,
    usage: &'static str,
) -> Result<Arity, RegisterError> {
    parse_synopsis(usage).map_err(|error| RegisterError::BadSynopsis {
        command,
        subcommand,
        usage,
        error,
    })
}

/// Checks that `added` subcommands have valid names, distinct from each other and from the
/// group's `existing` ones, and readable synopses; returns their descriptions.
fn check_subcommands<C>(
    command: &'static str,
    existing: &[SubcommandInfo],
    added: &[Subcommand<C>],
) -> Result<Vec<SubcommandInfo>, RegisterError> {
    // Subcommands keep their author's order (most used first, say) in help and in errors.
    if let Some(bad) = added.iter().find(|sub| !valid_name(sub.name)) {
        return Err(RegisterError::InvalidSubcommandName {
            command,
            subcommand: bad.name,
        });
    }
    for (index, sub) in added.iter().enumerate() {
        let earlier = added.get(..index).unwrap_or_default();
        if earlier.iter().any(|other| other.name == sub.name)
            || existing.iter().any(|other| other.name == sub.name)
        {
            return Err(RegisterError::DuplicateSubcommand {
                command,
                subcommand: sub.name,
            });
        }
    }
    added
        .iter()
        .map(|sub| Ok(sub.info(read_usage(command, Some(sub.name), sub.usage)?)))
        .collect()
}

/// A group's synopsis: its subcommand names, and ` ...` when any takes arguments.
fn group_usage(infos: &[SubcommandInfo]) -> String {
    let takes_args = infos.iter().any(|info| !info.usage.is_empty());
    format!(
        "{}{}",
        infos
            .iter()
            .map(|info| info.name)
            .collect::<Vec<_>>()
            .join("|"),
        if takes_args { " ..." } else { "" }
    )
}

fn join_names(infos: &[SubcommandInfo]) -> String {
    infos
        .iter()
        .map(|info| info.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl<C> CommandRegistry<C> {
    /// A registry holding only the built-in `help`.
    pub fn new() -> Self {
        Self {
            commands: alloc::vec![Command {
                name: "help",
                summary: HELP_SUMMARY,
                usage: String::from(HELP_USAGE),
                action: Action::Help,
            }],
            refused: Vec::new(),
        }
    }

    /// Every registration refused so far, in order. Subsystems register at boot where an
    /// error has nowhere to go, so the registry keeps them for a test (or a boot line) to show.
    pub fn registration_errors(&self) -> &[RegisterError] {
        &self.refused
    }

    /// Passes `result` on, keeping an error in [`CommandRegistry::registration_errors`].
    fn noted(&mut self, result: Result<(), RegisterError>) -> Result<(), RegisterError> {
        if let Err(error) = &result {
            self.refused.push(error.clone());
        }
        result
    }

    fn insert(&mut self, command: Command<C>) -> Result<(), RegisterError> {
        match self
            .commands
            .binary_search_by(|probe| probe.name.cmp(command.name))
        {
            Ok(_) => Err(RegisterError::Duplicate(command.name)),
            Err(index) => {
                self.commands.insert(index, command);
                Ok(())
            }
        }
    }

    /// Registers a command. `usage` is the synopsis after the name (`"[TEXT...]"`, `""`), in
    /// the grammar of [`crate::synopsis`]: it fixes how many arguments the command takes.
    pub fn register(
        &mut self,
        name: &'static str,
        summary: &'static str,
        usage: &'static str,
        handler: Handler<C>,
    ) -> Result<(), RegisterError> {
        let result = if valid_name(name) {
            read_usage(name, None, usage).and_then(|arity| {
                self.insert(Command {
                    name,
                    summary,
                    usage: String::from(usage),
                    action: Action::Run(handler, arity),
                })
            })
        } else {
            Err(RegisterError::InvalidName(name))
        };
        self.noted(result)
    }

    /// Registers each `(name, summary, usage, handler)` of a subsystem's table with
    /// [`CommandRegistry::register`]; a refused entry does not stop the others (it is kept in
    /// [`CommandRegistry::registration_errors`]). Returns the first refusal, if any.
    pub fn register_all(&mut self, table: &[PlainCommand<C>]) -> Result<(), RegisterError> {
        let mut first = Ok(());
        for &(name, summary, usage, handler) in table {
            let result = self.register(name, summary, usage, handler);
            if first.is_ok() {
                first = result;
            }
        }
        first
    }

    /// Registers a command group: the first argument selects one of `subcommands`.
    pub fn register_group(
        &mut self,
        name: &'static str,
        summary: &'static str,
        subcommands: &[Subcommand<C>],
    ) -> Result<(), RegisterError> {
        let result = if !valid_name(name) {
            Err(RegisterError::InvalidName(name))
        } else if subcommands.is_empty() {
            Err(RegisterError::EmptyGroup(name))
        } else {
            check_subcommands(name, &[], subcommands).and_then(|infos| {
                self.insert(Command {
                    name,
                    summary,
                    usage: group_usage(&infos),
                    action: Action::Group {
                        infos,
                        handlers: subcommands.iter().map(|sub| sub.handler).collect(),
                    },
                })
            })
        };
        self.noted(result)
    }

    /// Appends `subcommands` to the group `name` registered earlier — how one subsystem adds
    /// to another's group (the memory manager's `memctl compact` beside the foundation's
    /// `memctl stats`). Nothing changes on an error.
    pub fn extend_group(
        &mut self,
        name: &'static str,
        subcommands: &[Subcommand<C>],
    ) -> Result<(), RegisterError> {
        let result = self.try_extend_group(name, subcommands);
        self.noted(result)
    }

    fn try_extend_group(
        &mut self,
        name: &'static str,
        subcommands: &[Subcommand<C>],
    ) -> Result<(), RegisterError> {
        let Some(command) = self.commands.iter_mut().find(|c| c.name == name) else {
            return Err(RegisterError::NoSuchGroup(name));
        };
        let Action::Group { infos, handlers } = &mut command.action else {
            return Err(RegisterError::NoSuchGroup(name));
        };
        let added = check_subcommands(name, infos, subcommands)?;
        infos.extend(added);
        handlers.extend(subcommands.iter().map(|sub| sub.handler));
        command.usage = group_usage(infos);
        Ok(())
    }

    /// Every command, `help` included, sorted by name.
    pub fn commands(&self) -> impl ExactSizeIterator<Item = CommandInfo<'_>> + '_ {
        self.commands.iter().map(Command::info)
    }

    /// The command called `name`.
    pub fn command(&self, name: &str) -> Option<CommandInfo<'_>> {
        self.find(name).map(Command::info)
    }

    fn find(&self, name: &str) -> Option<&Command<C>> {
        self.commands
            .binary_search_by(|probe| probe.name.cmp(name))
            .ok()
            .and_then(|index| self.commands.get(index))
    }

    /// Splits `line` and finds its command (and subcommand) without running anything.
    /// `Ok(None)` for a line without words.
    pub fn resolve(&self, line: &str) -> Result<Option<Invocation>, ResolveError> {
        let mut words = split_args(line).map_err(ResolveError::Syntax)?.into_iter();
        let Some(name) = words.next() else {
            return Ok(None);
        };
        let command = self.find(&name).ok_or(ResolveError::UnknownCommand(name))?;
        let subcommand = match &command.action {
            Action::Run(..) | Action::Help => None,
            Action::Group { infos, .. } => {
                let expected = || join_names(infos);
                let given = words
                    .next()
                    .ok_or_else(|| ResolveError::MissingSubcommand {
                        command: command.name,
                        expected: expected(),
                    })?;
                let info = infos
                    .iter()
                    .find(|info| info.name == given)
                    .ok_or_else(|| ResolveError::UnknownSubcommand {
                        command: command.name,
                        given,
                        expected: expected(),
                    })?;
                Some(info.name)
            }
        };
        Ok(Some(Invocation {
            command: command.name,
            subcommand,
            args: words.collect(),
        }))
    }

    /// Runs a resolved invocation, printing its errors as [`CommandRegistry::dispatch`] does.
    /// A wrong number of arguments is refused here, before any handler (or `help`) runs.
    pub fn execute(
        &self,
        ctx: &mut C,
        invocation: &Invocation,
        out: &mut dyn Write,
    ) -> DispatchStatus {
        let args: Vec<&str> = invocation.args.iter().map(String::as_str).collect();
        let Some(command) = self.find(invocation.command) else {
            return self.report(
                out,
                &ResolveError::UnknownCommand(String::from(invocation.command)),
            );
        };
        let (handler, synopsis, arity) = match (&command.action, invocation.subcommand) {
            (Action::Help, _) => (None, HELP_USAGE, HELP_ARITY),
            (Action::Run(handler, arity), None) => (Some(*handler), command.usage.as_str(), *arity),
            (Action::Group { infos, handlers }, Some(sub)) => {
                match infos
                    .iter()
                    .zip(handlers)
                    .find(|(info, _)| info.name == sub)
                {
                    Some((info, handler)) => (Some(*handler), info.usage, info.arity),
                    None => {
                        return self.report(
                            out,
                            &ResolveError::UnknownSubcommand {
                                command: command.name,
                                given: String::from(sub),
                                expected: join_names(infos),
                            },
                        );
                    }
                }
            }
            (Action::Group { infos, .. }, None) => {
                return self.report(
                    out,
                    &ResolveError::MissingSubcommand {
                        command: command.name,
                        expected: join_names(infos),
                    },
                );
            }
            // Only a hand-built invocation can give a plain command a subcommand. Refuse it
            // rather than guess whether it was meant as the first argument.
            (Action::Run(..), Some(sub)) => {
                return self.report(
                    out,
                    &ResolveError::UnknownSubcommand {
                        command: command.name,
                        given: String::from(sub),
                        expected: String::from("none"),
                    },
                );
            }
        };
        let path = invocation.path();
        let result = match arity.check(args.len()) {
            Err(error) => Err(error),
            Ok(()) => match handler {
                Some(handler) => handler(ctx, &args, out),
                None => return self.help(&args, out),
            },
        };
        let printed = match result {
            Ok(()) => return DispatchStatus::Success,
            Err(CommandError::Output) => return DispatchStatus::OutputFailed,
            Err(CommandError::Usage(message)) => self
                .error_line(out, &path, &message)
                .and_then(|()| write_usage(out, &path, synopsis))
                .map(|()| DispatchStatus::BadArguments),
            Err(CommandError::Failed(message)) => self
                .error_line(out, &path, &message)
                .map(|()| DispatchStatus::Failed),
        };
        printed.unwrap_or(DispatchStatus::OutputFailed)
    }

    /// Runs one line: nothing for an empty line, otherwise resolve and execute, with every
    /// failure printed as `error: ...`.
    pub fn dispatch(&self, ctx: &mut C, line: &str, out: &mut dyn Write) -> DispatchStatus {
        match self.resolve(line) {
            Ok(None) => DispatchStatus::Empty,
            Ok(Some(invocation)) => self.execute(ctx, &invocation, out),
            Err(error) => self.report(out, &error),
        }
    }

    fn error_line(&self, out: &mut dyn Write, path: &str, message: &str) -> fmt::Result {
        write!(out, "error: {path}: ")?;
        write_one_line(out, message)?;
        out.write_char('\n')
    }

    fn report(&self, out: &mut dyn Write, error: &ResolveError) -> DispatchStatus {
        let status = match error {
            ResolveError::Syntax(_) => DispatchStatus::BadArguments,
            ResolveError::UnknownCommand(_)
            | ResolveError::MissingSubcommand { .. }
            | ResolveError::UnknownSubcommand { .. } => DispatchStatus::NotFound,
        };
        match writeln!(out, "error: {error}") {
            Ok(()) => status,
            Err(fmt::Error) => DispatchStatus::OutputFailed,
        }
    }

    /// The built-in `help [COMMAND [SUBCOMMAND]]` (the registry has checked the count).
    fn help(&self, args: &[&str], out: &mut dyn Write) -> DispatchStatus {
        let result = match args {
            [] => self.help_list(out),
            [name] => self.help_command(name, out),
            [name, sub, ..] => self.help_subcommand(name, sub, out),
        };
        let printed = match result {
            Ok(()) => return DispatchStatus::Success,
            Err(CommandError::Output) => return DispatchStatus::OutputFailed,
            Err(CommandError::Usage(message)) => self
                .error_line(out, "help", &message)
                .and_then(|()| write_usage(out, "help", HELP_USAGE))
                .map(|()| DispatchStatus::BadArguments),
            Err(CommandError::Failed(message)) => self
                .error_line(out, "help", &message)
                .map(|()| DispatchStatus::NotFound),
        };
        printed.unwrap_or(DispatchStatus::OutputFailed)
    }

    fn help_list(&self, out: &mut dyn Write) -> Result<(), CommandError> {
        let width = self
            .commands
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        for command in &self.commands {
            writeln!(out, "  {:width$}  {}", command.name, command.summary)?;
        }
        writeln!(out)?;
        writeln!(out, "{NUMBER_GRAMMAR}")?;
        Ok(())
    }

    fn help_command(&self, name: &str, out: &mut dyn Write) -> Result<(), CommandError> {
        let command = self
            .find(name)
            .ok_or_else(|| CommandError::failed(format!("unknown command {}", quoted(name))))?;
        writeln!(out, "{} - {}", command.name, command.summary)?;
        write_usage(out, command.name, &command.usage)?;
        if let Action::Group { infos, .. } = &command.action {
            let synopses: Vec<String> = infos
                .iter()
                .map(|info| {
                    if info.usage.is_empty() {
                        String::from(info.name)
                    } else {
                        format!("{} {}", info.name, info.usage)
                    }
                })
                .collect();
            let width = synopses.iter().map(String::len).max().unwrap_or(0);
            writeln!(out, "subcommands:")?;
            for (synopsis, info) in synopses.iter().zip(infos) {
                writeln!(out, "  {synopsis:width$}  {}", info.summary)?;
            }
        }
        Ok(())
    }

    fn help_subcommand(
        &self,
        name: &str,
        sub: &str,
        out: &mut dyn Write,
    ) -> Result<(), CommandError> {
        let command = self
            .find(name)
            .ok_or_else(|| CommandError::failed(format!("unknown command {}", quoted(name))))?;
        let Action::Group { infos, .. } = &command.action else {
            return Err(CommandError::failed(format!(
                "'{}' has no subcommands",
                command.name
            )));
        };
        let info = infos.iter().find(|info| info.name == sub).ok_or_else(|| {
            CommandError::failed(format!(
                "{}: unknown subcommand {} (expected one of: {})",
                command.name,
                quoted(sub),
                join_names(infos)
            ))
        })?;
        let path = format!("{} {}", command.name, info.name);
        writeln!(out, "{path} - {}", info.summary)?;
        write_usage(out, &path, info.usage)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_arity_is_what_its_usage_says() {
        assert_eq!(parse_synopsis(HELP_USAGE), Ok(HELP_ARITY));
    }
}
