//! The interactive shell: a [`LineEditor`] and a [`CommandRegistry`] joined by a prompt.
//!
//! The kernel calls [`Shell::start`] once and then [`Shell::feed`] with every byte read from the
//! serial port, passing a writer for the same port. Finished lines are dispatched; overlong and
//! non-UTF-8 lines get their one-line `error: ` answers here, because they never reach the
//! registry. Command output goes through [`CrlfWriter`] so handlers can write plain `\n`.
//!
//! Neighbours: the kernel owns the `Shell` and the serial driver; subsystems fill the registry.

use crate::editor::{EditEvent, LineEditor, MAX_LINE_BYTES};
use crate::registry::{CommandRegistry, DispatchStatus};
use core::fmt::{self, Write};
use unicode_width::UnicodeWidthStr;

/// Passes text through to a terminal, turning every `\n` into `\r\n`.
pub struct CrlfWriter<'a> {
    inner: &'a mut dyn Write,
}

impl<'a> CrlfWriter<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a mut dyn Write) -> Self {
        Self { inner }
    }
}

impl Write for CrlfWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut parts = text.split('\n');
        if let Some(first) = parts.next() {
            self.inner.write_str(first)?;
        }
        for part in parts {
            self.inner.write_str("\r\n")?;
            self.inner.write_str(part)?;
        }
        Ok(())
    }
}

/// A line editor, a command registry and a prompt.
pub struct Shell<C> {
    editor: LineEditor,
    registry: CommandRegistry<C>,
    prompt: &'static str,
}

impl<C> fmt::Debug for Shell<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shell")
            .field("editor", &self.editor)
            .field("registry", &self.registry)
            .field("prompt", &self.prompt)
            .finish()
    }
}

impl<C> Shell<C> {
    /// A shell running `registry` with a default editor, showing `prompt` before each line.
    pub fn new(registry: CommandRegistry<C>, prompt: &'static str) -> Self {
        Self::with_editor(LineEditor::new(), registry, prompt)
    }

    /// A shell with a configured editor (for example a different history length).
    pub fn with_editor(
        mut editor: LineEditor,
        registry: CommandRegistry<C>,
        prompt: &'static str,
    ) -> Self {
        // Only what follows the prompt's last line break shares a row with the input.
        let last_row = prompt.rsplit('\n').next().unwrap_or_default();
        editor.set_prompt_width(last_row.width());
        Self {
            editor,
            registry,
            prompt,
        }
    }

    /// Sets the terminal width the line editor lays lines out for (80 by default).
    pub fn set_columns(&mut self, columns: usize) {
        self.editor.set_columns(columns);
    }

    /// The command registry.
    pub fn registry(&self) -> &CommandRegistry<C> {
        &self.registry
    }

    /// The command registry, for registering more commands.
    pub fn registry_mut(&mut self) -> &mut CommandRegistry<C> {
        &mut self.registry
    }

    /// The line editor.
    pub fn editor(&self) -> &LineEditor {
        &self.editor
    }

    /// Writes the first prompt.
    pub fn start(&mut self, out: &mut dyn Write) -> fmt::Result {
        self.write_prompt(out)
    }

    fn write_prompt(&self, out: &mut dyn Write) -> fmt::Result {
        CrlfWriter::new(out).write_str(self.prompt)
    }

    /// Processes one input byte. Returns the status when a line was run (or refused as invalid
    /// UTF-8, reported as [`DispatchStatus::BadArguments`]), `None` while a line is being edited.
    pub fn feed(&mut self, ctx: &mut C, byte: u8, out: &mut dyn Write) -> Option<DispatchStatus> {
        // Output errors are not the input's fault and cannot be reported anywhere but `out`;
        // the shell carries on and the next prompt or redraw repairs the screen.
        match self.editor.feed(byte, out) {
            EditEvent::Pending => None,
            EditEvent::Cancelled => {
                let _ = self.write_prompt(out);
                None
            }
            EditEvent::LineTooLong => {
                let _ = write!(
                    out,
                    "error: line too long (at most {MAX_LINE_BYTES} bytes); nothing was run\r\n"
                );
                let _ = self.write_prompt(out);
                Some(DispatchStatus::BadArguments)
            }
            EditEvent::InputLost { bytes } => {
                let _ = write!(
                    out,
                    "error: input was lost while this line was typed ({bytes} bytes dropped); nothing was run\r\n"
                );
                let _ = self.write_prompt(out);
                Some(DispatchStatus::BadArguments)
            }
            EditEvent::InvalidUtf8 { valid_up_to } => {
                let _ = write!(
                    out,
                    "error: line is not valid UTF-8 (bad byte at offset {valid_up_to})\r\n"
                );
                let _ = self.write_prompt(out);
                Some(DispatchStatus::BadArguments)
            }
            EditEvent::Line(line) => {
                let status = self
                    .registry
                    .dispatch(ctx, &line, &mut CrlfWriter::new(out));
                let _ = self.write_prompt(out);
                Some(status)
            }
        }
    }

    /// Records lost input at this point of the stream: the line being typed will be refused.
    pub fn input_lost(&mut self, bytes: u64) {
        self.editor.input_lost(bytes);
    }

    /// Prints `text` (a log line, say) above the line being edited, then redraws the prompt and
    /// the line, so asynchronous output does not tangle with typing.
    pub fn print_above(&mut self, text: &str, out: &mut dyn Write) -> fmt::Result {
        self.editor.erase(out)?;
        CrlfWriter::new(out).write_str(text)?;
        if !text.ends_with('\n') {
            out.write_str("\r\n")?;
        }
        self.write_prompt(out)?;
        self.editor.redraw(out)
    }
}
