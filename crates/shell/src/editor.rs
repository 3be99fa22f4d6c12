//! The line editor: turns the raw byte stream of a VT100 terminal into finished lines and writes
//! the echo that keeps the terminal showing what is in the buffer.
//!
//! [`LineEditor::feed`] takes one byte and returns an [`EditEvent`]. The buffer holds raw bytes (at
//! most [`MAX_LINE_BYTES`]); it is checked for UTF-8 only when the line ends. For display the
//! buffer is cut into *cells*: a printable, valid UTF-8 character of width 1 or 2 is echoed as
//! itself; any other byte or character (invalid UTF-8, control or zero-width characters) is shown
//! as one `?` so that nothing the user types can drive the terminal. The cursor always sits on a
//! cell boundary and moves by cells.
//!
//! After every key the editor compares the cells it last showed with the cells of the new buffer
//! and rewrites the screen from the first difference (then erases what is left of a longer old
//! line).
//! One routine therefore serves insertion, deletion, history recall and the merging of a UTF-8
//! lead byte with a continuation byte typed after it.
//!
//! A line longer than the terminal row continues on the next rows. The editor does not rely on
//! the terminal's own wrapping: it breaks rows itself after [`LineEditor::set_columns`] columns
//! (80 by default; a double-width character that would straddle a row boundary moves to the next
//! row) and moves between rows with `ESC [ n A` / `ESC [ n B`, so the display is right on any
//! terminal at least that wide. The prompt's width ([`LineEditor::set_prompt_width`]) counts
//! towards the first row; a prompt as wide as the terminal or wider is not supported (the line
//! would be laid out one row off). Enter and Ctrl-C first move the cursor to the end of the
//! line, so the output that follows never lands inside it.
//!
//! Neighbours: [`crate::session::Shell`] feeds it and passes finished lines to
//! [`crate::registry::CommandRegistry`].

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};
use unicode_width::UnicodeWidthChar;

/// Longest line the editor accepts, in bytes. Further bytes are refused with a bell.
pub const MAX_LINE_BYTES: usize = 256;

/// History length used by [`LineEditor::new`].
pub const DEFAULT_HISTORY: usize = 32;

const BELL: &str = "\x07";
const ESC: u8 = 0x1b;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const BACKSPACE: u8 = 0x08;
const DEL: u8 = 0x7f;
/// Parameter bytes kept for one control sequence; longer parameter strings make it unknown.
const MAX_CSI_PARAMS: usize = 8;
/// Terminal width assumed until [`LineEditor::set_columns`] says otherwise.
pub const DEFAULT_COLUMNS: usize = 80;
/// Narrowest terminal the layout supports (a double-width character must fit a row).
const MIN_COLUMNS: usize = 4;

/// What one input byte did to the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditEvent {
    /// The byte was consumed (or ignored); the line is still being edited.
    Pending,
    /// Enter ended a line of valid UTF-8 (possibly empty); the terminator is not included.
    Line(String),
    /// Ctrl-C abandoned the line; `^C` and a newline were echoed.
    Cancelled,
    /// Enter ended a line that overflowed: at some point a byte was refused (with a bell)
    /// because the line already held [`MAX_LINE_BYTES`] bytes. The line is discarded, not
    /// submitted: running what is left after bytes were dropped could run a different command
    /// than the one typed (a truncated path, a missing argument). Ctrl-U starts afresh.
    LineTooLong,
    /// Enter ended a line during which input bytes were lost before they reached the editor
    /// (see [`LineEditor::input_lost`]). The line is discarded, not submitted: a lost byte
    /// may have been anything — part of a word, a separator, even the Enter that ended the
    /// previous line — so what is left could be a different command than the one sent.
    InputLost {
        /// Bytes known to be lost (at least this many).
        bytes: u64,
    },
    /// Enter ended a line that is not valid UTF-8. The line is not submitted, but it is kept in
    /// the history so that it can be recalled and fixed. `valid_up_to` is the byte offset of the
    /// first invalid byte.
    InvalidUtf8 {
        /// Length of the longest valid UTF-8 prefix of the line.
        valid_up_to: usize,
    },
}

/// Keys that arrive as escape sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    Delete,
}

/// Progress through an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Esc,
    /// After `ESC [`: parameter bytes so far; `unknown` once the sequence cannot be one we know.
    Csi {
        params: [u8; MAX_CSI_PARAMS],
        len: usize,
        unknown: bool,
    },
    /// After `ESC O` (application cursor keys).
    Ss3,
}

/// How one cell of the buffer is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Glyph {
    /// A printable character echoed as itself, with its column width (1 or 2).
    Char(char, usize),
    /// Shown as `?`, one column.
    Placeholder,
}

impl Glyph {
    fn width(self) -> usize {
        match self {
            Glyph::Char(_, width) => width,
            Glyph::Placeholder => 1,
        }
    }

    fn write(self, out: &mut dyn Write) -> fmt::Result {
        match self {
            Glyph::Char(c, _) => out.write_char(c),
            Glyph::Placeholder => out.write_char('?'),
        }
    }
}

/// A run of buffer bytes shown as one glyph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    len: usize,
    glyph: Glyph,
}

/// A cell as laid out on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placed {
    cell: Cell,
    /// Byte offset of the cell in the line.
    offset: usize,
    /// Where the cell starts on the screen.
    at: Pos,
}

/// Decodes the cell that starts `bytes` (which must not be empty for a meaningful result).
fn decode_cell(bytes: &[u8]) -> Cell {
    let placeholder = Cell {
        len: 1,
        glyph: Glyph::Placeholder,
    };
    let want = match bytes.first() {
        // Printable ASCII is nearly all input: skip the decoding and the width table.
        Some(&byte @ 0x20..=0x7e) => {
            return Cell {
                len: 1,
                glyph: Glyph::Char(char::from(byte), 1),
            };
        }
        Some(0x00..=0x7f) => 1,
        Some(0xc2..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf4) => 4,
        _ => return placeholder,
    };
    let Some(c) = bytes
        .get(..want)
        .and_then(|seq| core::str::from_utf8(seq).ok())
        .and_then(|s| s.chars().next())
    else {
        return placeholder;
    };
    let glyph = match c.width() {
        Some(width @ (1 | 2)) if !c.is_control() => Glyph::Char(c, width),
        _ => Glyph::Placeholder,
    };
    Cell { len: want, glyph }
}

/// Cuts a buffer into display cells, left to right.
fn cells(line: &[u8]) -> Vec<Cell> {
    let mut result = Vec::new();
    let mut at = 0;
    while let Some(rest) = line.get(at..).filter(|rest| !rest.is_empty()) {
        let cell = decode_cell(rest);
        at += cell.len;
        result.push(cell);
    }
    result
}

/// A terminal position: `row` counts from the prompt's row, `column` from the left edge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    row: usize,
    column: usize,
}

/// Moves the terminal cursor from `from` to `to` (both inside the row, not in the terminal's
/// pending-wrap state after the last column).
fn move_cursor(out: &mut dyn Write, from: Pos, to: Pos) -> fmt::Result {
    if to.row < from.row {
        write!(out, "\x1b[{}A", from.row - to.row)?;
    } else if to.row > from.row {
        write!(out, "\x1b[{}B", to.row - from.row)?;
    }
    if to.column < from.column {
        write!(out, "\x1b[{}D", from.column - to.column)
    } else if to.column > from.column {
        write!(out, "\x1b[{}C", to.column - from.column)
    } else {
        Ok(())
    }
}

/// A VT100 line editor with a bounded history. See the module documentation.
#[derive(Debug, Clone)]
pub struct LineEditor {
    line: Vec<u8>,
    /// Byte index into `line`; always a cell boundary after [`LineEditor::refresh`].
    cursor: usize,
    /// The cells the terminal currently shows after the prompt, with their offsets and
    /// positions. Outside [`LineEditor::refresh`] these are exactly the cells of `line`.
    shown: Vec<Placed>,
    /// Where the terminal cursor is.
    shown_cursor: Pos,
    /// Where the shown line ends.
    shown_end: Pos,
    /// Terminal width used for the layout.
    columns: usize,
    /// Width of the prompt in front of the line.
    prompt_width: usize,
    /// Submitted lines, oldest first.
    history: VecDeque<Vec<u8>>,
    history_capacity: usize,
    /// While walking the history: how many entries back from the newest (0 = newest).
    browsing: Option<usize>,
    /// The line that was being edited when the walk through the history began.
    draft: Vec<u8>,
    escape: Escape,
    /// The previous byte was CR, so an LF now is the second half of CRLF.
    after_cr: bool,
    too_long_reported: bool,
    /// Input bytes lost while this line was being typed.
    lost_bytes: u64,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    /// An empty editor remembering the last [`DEFAULT_HISTORY`] lines.
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// An empty editor remembering the last `capacity` lines (0 disables the history).
    pub fn with_history(capacity: usize) -> Self {
        Self {
            line: Vec::new(),
            cursor: 0,
            shown: Vec::new(),
            shown_cursor: Pos::default(),
            shown_end: Pos::default(),
            columns: DEFAULT_COLUMNS,
            prompt_width: 0,
            history: VecDeque::new(),
            history_capacity: capacity,
            browsing: None,
            draft: Vec::new(),
            escape: Escape::None,
            after_cr: false,
            too_long_reported: false,
            lost_bytes: 0,
        }
    }

    /// Records that `bytes` input bytes were lost at this point of the input (the console's
    /// buffer overran). The line being typed will be refused at Enter ([`EditEvent::InputLost`]);
    /// only Enter or Ctrl-C end that, not Ctrl-U (the lost bytes may have held an Enter).
    pub fn input_lost(&mut self, bytes: u64) {
        self.lost_bytes = self.lost_bytes.saturating_add(bytes.max(1));
    }

    /// The bytes of the line being edited.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// The cursor position as a byte offset into [`LineEditor::line`].
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The remembered lines, oldest first.
    pub fn history(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.history.iter().map(Vec::as_slice)
    }

    /// Sets the terminal width the line is laid out for (at least 4; 80 by default). Call it
    /// between lines, or follow it with [`LineEditor::erase`] and [`LineEditor::redraw`].
    pub fn set_columns(&mut self, columns: usize) {
        self.columns = columns.max(MIN_COLUMNS);
        self.relayout_if_blank();
    }

    /// Sets the display width of the prompt written before each line (0 by default;
    /// [`crate::session::Shell`] sets it from its prompt). Same timing rule as `set_columns`.
    pub fn set_prompt_width(&mut self, width: usize) {
        self.prompt_width = width;
        self.relayout_if_blank();
    }

    /// With nothing shown, the cursor is where the line will start.
    fn relayout_if_blank(&mut self) {
        if self.shown.is_empty() {
            self.shown_cursor = self.line_start();
            self.shown_end = self.shown_cursor;
        }
    }

    /// Where the line starts: after the prompt, on the row the prompt ends on.
    fn line_start(&self) -> Pos {
        Pos {
            row: 0,
            column: self.prompt_width % self.columns,
        }
    }

    /// Rewrites the whole line and puts the cursor back, assuming the terminal cursor stands
    /// just after a freshly written prompt. For callers that printed something (an error, a log
    /// line) and then the prompt again.
    pub fn redraw(&mut self, out: &mut dyn Write) -> fmt::Result {
        self.shown.clear();
        self.shown_cursor = self.line_start();
        self.shown_end = self.shown_cursor;
        self.refresh(0, out)
    }

    /// Removes the prompt and the line from the screen, leaving the terminal cursor at the
    /// start of the prompt's row, so that other output can be printed there. The line itself
    /// is kept: write the prompt and call [`LineEditor::redraw`] afterwards.
    pub fn erase(&mut self, out: &mut dyn Write) -> fmt::Result {
        let from = self.shown_cursor;
        self.shown.clear();
        self.shown_cursor = Pos::default();
        self.shown_end = Pos::default();
        if from.row > 0 {
            write!(out, "\x1b[{}A", from.row)?;
        }
        out.write_str("\r\x1b[J")
    }

    /// Processes one input byte, writing the echo to `out`.
    ///
    /// Errors from `out` are ignored: the editor state stays right and the next redraw repairs
    /// the screen.
    pub fn feed(&mut self, byte: u8, out: &mut dyn Write) -> EditEvent {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::None => {}
            Escape::Esc => match byte {
                b'[' => {
                    self.escape = Escape::Csi {
                        params: [0; MAX_CSI_PARAMS],
                        len: 0,
                        unknown: false,
                    };
                    return EditEvent::Pending;
                }
                b'O' => {
                    self.escape = Escape::Ss3;
                    return EditEvent::Pending;
                }
                // A control byte ends the sequence and acts as itself (ESC then Enter submits).
                0x00..=0x1f | DEL => self.escape = Escape::None,
                // ESC followed by anything else (Alt+key) is swallowed.
                _ => {
                    self.escape = Escape::None;
                    return EditEvent::Pending;
                }
            },
            Escape::Csi {
                mut params,
                mut len,
                mut unknown,
            } => match byte {
                0x30..=0x3f => {
                    match params.get_mut(len) {
                        Some(slot) => {
                            *slot = byte;
                            len += 1;
                        }
                        None => unknown = true,
                    }
                    self.escape = Escape::Csi {
                        params,
                        len,
                        unknown,
                    };
                    return EditEvent::Pending;
                }
                0x20..=0x2f => {
                    self.escape = Escape::Csi {
                        params,
                        len,
                        unknown: true,
                    };
                    return EditEvent::Pending;
                }
                0x40..=0x7e => {
                    self.escape = Escape::None;
                    if !unknown {
                        let params = params.get(..len).unwrap_or_default();
                        if let Some(key) = csi_key(params, byte) {
                            self.key(key, out);
                        }
                    }
                    return EditEvent::Pending;
                }
                // Anything else breaks the sequence and is processed on its own.
                _ => self.escape = Escape::None,
            },
            Escape::Ss3 => {
                self.escape = Escape::None;
                if let 0x40..=0x7e = byte {
                    if let Some(key) = ss3_key(byte) {
                        self.key(key, out);
                    }
                    return EditEvent::Pending;
                }
            }
        }

        match byte {
            b'\r' => {
                self.after_cr = true;
                self.submit(out)
            }
            b'\n' if after_cr => EditEvent::Pending,
            b'\n' => self.submit(out),
            CTRL_C => {
                // Output errors are ignored throughout: see the method documentation.
                let _ = move_cursor(out, self.shown_cursor, self.shown_end);
                let _ = out.write_str("^C\r\n");
                self.reset_line();
                self.lost_bytes = 0;
                EditEvent::Cancelled
            }
            CTRL_U => {
                self.line.clear();
                self.cursor = 0;
                self.too_long_reported = false;
                let _ = self.refresh(0, out);
                EditEvent::Pending
            }
            BACKSPACE | DEL => {
                if let Some(start) = self.cell_start_before(self.cursor) {
                    self.line.drain(start..self.cursor);
                    self.cursor = start;
                    let _ = self.refresh(start, out);
                }
                EditEvent::Pending
            }
            ESC => {
                self.escape = Escape::Esc;
                EditEvent::Pending
            }
            0x20..=0x7e | 0x80..=0xff => self.insert(byte, out),
            _ => EditEvent::Pending,
        }
    }

    fn insert(&mut self, byte: u8, out: &mut dyn Write) -> EditEvent {
        if self.line.len() >= MAX_LINE_BYTES {
            let _ = out.write_str(BELL);
            self.too_long_reported = true;
            return EditEvent::Pending;
        }
        let at = self.cursor;
        self.line.insert(at, byte);
        self.cursor += 1;
        let _ = self.refresh(at, out);
        EditEvent::Pending
    }

    fn key(&mut self, key: Key, out: &mut dyn Write) {
        // The first byte offset whose content may have changed.
        let mut dirty_from = self.line.len();
        match key {
            Key::Left => {
                if let Some(start) = self.cell_start_before(self.cursor) {
                    self.cursor = start;
                }
            }
            Key::Right => {
                if let Some(end) = self.cell_end_after(self.cursor) {
                    self.cursor = end;
                }
            }
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.line.len(),
            Key::Delete => {
                if let Some(end) = self.cell_end_after(self.cursor) {
                    self.line.drain(self.cursor..end);
                    dirty_from = self.cursor;
                }
            }
            Key::Up => {
                self.history_older();
                dirty_from = 0;
            }
            Key::Down => {
                self.history_newer();
                dirty_from = 0;
            }
        }
        let _ = self.refresh(dirty_from, out);
    }

    fn history_older(&mut self) {
        let steps_back = match self.browsing {
            None => 0,
            Some(steps) => steps + 1,
        };
        let Some(entry) = self
            .history
            .len()
            .checked_sub(steps_back + 1)
            .and_then(|index| self.history.get(index))
        else {
            return;
        };
        if self.browsing.is_none() {
            self.draft = core::mem::take(&mut self.line);
        }
        self.line = entry.clone();
        self.cursor = self.line.len();
        self.browsing = Some(steps_back);
    }

    fn history_newer(&mut self) {
        match self.browsing {
            None => {}
            Some(0) => {
                self.line = core::mem::take(&mut self.draft);
                self.browsing = None;
            }
            Some(steps) => {
                let newer = steps - 1;
                if let Some(entry) = self
                    .history
                    .len()
                    .checked_sub(newer + 1)
                    .and_then(|index| self.history.get(index))
                {
                    self.line = entry.clone();
                }
                self.browsing = Some(newer);
            }
        }
        self.cursor = self.line.len();
    }

    fn submit(&mut self, out: &mut dyn Write) -> EditEvent {
        let end = self.shown_end;
        let _ = move_cursor(out, self.shown_cursor, end);
        // A line that exactly fills its last row already left the cursor on a fresh row.
        if end.row == 0 || end.column > 0 {
            let _ = out.write_str("\r\n");
        }
        let overflowed = self.too_long_reported;
        let lost = core::mem::take(&mut self.lost_bytes);
        let line = core::mem::take(&mut self.line);
        self.reset_line();
        if lost > 0 {
            return EditEvent::InputLost { bytes: lost };
        }
        if overflowed {
            return EditEvent::LineTooLong;
        }
        self.remember(&line);
        match String::from_utf8(line) {
            Ok(text) => EditEvent::Line(text),
            Err(error) => EditEvent::InvalidUtf8 {
                valid_up_to: error.utf8_error().valid_up_to(),
            },
        }
    }

    fn remember(&mut self, line: &[u8]) {
        if self.history_capacity == 0
            || line.iter().all(u8::is_ascii_whitespace)
            || self.history.back().is_some_and(|newest| newest == line)
        {
            return;
        }
        while self.history.len() >= self.history_capacity {
            self.history.pop_front();
        }
        self.history.push_back(line.to_vec());
    }

    /// Forgets the line in progress; the terminal cursor is assumed to be on a fresh line.
    fn reset_line(&mut self) {
        self.line.clear();
        self.cursor = 0;
        self.shown.clear();
        self.shown_cursor = self.line_start();
        self.shown_end = self.shown_cursor;
        self.browsing = None;
        self.draft.clear();
        self.too_long_reported = false;
    }

    /// Index of the first shown cell that starts at or after byte offset `at`.
    fn first_cell_from(&self, at: usize) -> usize {
        self.shown.partition_point(|placed| placed.offset < at)
    }

    /// Start of the cell that ends at byte offset `at`, if there is one.
    fn cell_start_before(&self, at: usize) -> Option<usize> {
        let index = self.first_cell_from(at).checked_sub(1)?;
        let placed = self.shown.get(index)?;
        (placed.offset + placed.cell.len == at).then_some(placed.offset)
    }

    /// End of the cell that starts at byte offset `at`, if there is one.
    fn cell_end_after(&self, at: usize) -> Option<usize> {
        let placed = self.shown.get(self.first_cell_from(at))?;
        (placed.offset == at).then_some(placed.offset + placed.cell.len)
    }

    /// The position right after the first `count` shown cells.
    fn position_after(&self, count: usize) -> Pos {
        match count.checked_sub(1).and_then(|last| self.shown.get(last)) {
            None => self.line_start(),
            Some(placed) => self.advance(placed.at, placed.cell.glyph.width()),
        }
    }

    /// Brings the terminal in line with the buffer after bytes from offset `dirty_from` on may
    /// have changed: rewrites from the first cell that differs from what is shown, clears what
    /// is left of a longer old line, and places the cursor.
    ///
    /// Decoding a cell reads at most 4 bytes from its start, so shown cells that end 3 or more
    /// bytes before `dirty_from` decode the same in the new buffer, and, since a cell's place
    /// depends only on the cells before it, they stay where they are. They are kept; only the
    /// rest is decoded and laid out again, so typing at the end of a long line costs a few cells
    /// per key (plus two binary searches).
    fn refresh(&mut self, dirty_from: usize, out: &mut dyn Write) -> fmt::Result {
        let unaffected = dirty_from.saturating_sub(3);
        let keep = self
            .shown
            .partition_point(|placed| placed.offset + placed.cell.len <= unaffected);
        let restart = keep
            .checked_sub(1)
            .and_then(|last| self.shown.get(last))
            .map_or(0, |placed| placed.offset + placed.cell.len);
        let mut at = self.position_after(keep);
        let old_tail = self.shown.split_off(keep);

        let mut offset = restart;
        for cell in cells(self.line.get(restart..).unwrap_or_default()) {
            let width = cell.glyph.width();
            if at.column + width > self.columns {
                at = Pos {
                    row: at.row + 1,
                    column: 0,
                };
            }
            self.shown.push(Placed { cell, offset, at });
            offset += cell.len;
            at = self.advance(at, width);
        }
        let new_end = at;
        let new_tail = self.shown.get(keep..).unwrap_or_default();
        let same = keep
            + old_tail
                .iter()
                .zip(new_tail)
                .take_while(|(old, new)| old.cell == new.cell)
                .count();
        let changed = same != self.shown.len() || same != keep + old_tail.len();

        // An edit can merge bytes into one cell around the cursor; keep it on a boundary.
        let cursor_cell = self.first_cell_from(self.cursor);
        let (cursor, cursor_pos) = match self.shown.get(cursor_cell) {
            Some(placed) => (placed.offset, placed.at),
            None => (self.line.len(), new_end),
        };
        self.cursor = cursor;

        // The new state is recorded before writing so that a failing writer leaves a state
        // that the next refresh or redraw can repair.
        let from = core::mem::replace(&mut self.shown_cursor, cursor_pos);
        let old_end = core::mem::replace(&mut self.shown_end, new_end);
        if !changed {
            return move_cursor(out, from, cursor_pos);
        }

        // Rewrite from right after the unchanged cells (not from where cell `same` starts
        // now: a double-width cell may have moved to the next row), breaking rows where the
        // layout does.
        let mut at = self.position_after(same);
        move_cursor(out, from, at)?;
        let tail = self.shown.get(same..).unwrap_or_default().iter();
        let end = Placed {
            cell: END,
            offset: self.line.len(),
            at: new_end,
        };
        for placed in tail.chain(core::iter::once(&end)) {
            while at.row < placed.at.row {
                // Blank the rest of a row left short by a double-width character. A full row
                // has the terminal in its pending-wrap state, where `ESC [ K` would erase the
                // last character instead.
                if at.column < self.columns {
                    out.write_str("\x1b[K")?;
                }
                out.write_str("\r\n")?;
                at = Pos {
                    row: at.row + 1,
                    column: 0,
                };
            }
            if placed.cell.len > 0 {
                placed.cell.glyph.write(out)?;
                at.column += placed.cell.glyph.width();
            }
        }
        if old_end > new_end {
            // The old line reached further: clear the rest of this row, and the rows below
            // if it had more.
            out.write_str(if old_end.row > new_end.row {
                "\x1b[J"
            } else {
                "\x1b[K"
            })?;
        }
        move_cursor(out, new_end, cursor_pos)
    }

    /// The position after a cell of `width` columns that starts at `start`: a full row
    /// continues at the start of the next.
    fn advance(&self, start: Pos, width: usize) -> Pos {
        let column = start.column + width;
        if column >= self.columns {
            Pos {
                row: start.row + 1,
                column: 0,
            }
        } else {
            Pos {
                row: start.row,
                column,
            }
        }
    }
}

/// A sentinel after the last cell, so the row-break logic also runs for the line's end.
const END: Cell = Cell {
    len: 0,
    glyph: Glyph::Placeholder,
};

/// The key for a `CSI params final` sequence, if it is one the editor knows.
fn csi_key(params: &[u8], final_byte: u8) -> Option<Key> {
    // Modifier parameters (`ESC [ 1 ; 5 C` for Ctrl-Right) do not change the meaning here.
    let first_param = params.split(|&b| b == b';').next().unwrap_or_default();
    match final_byte {
        b'A' => Some(Key::Up),
        b'B' => Some(Key::Down),
        b'C' => Some(Key::Right),
        b'D' => Some(Key::Left),
        b'H' => Some(Key::Home),
        b'F' => Some(Key::End),
        b'~' => match first_param {
            b"1" | b"7" => Some(Key::Home),
            b"4" | b"8" => Some(Key::End),
            b"3" => Some(Key::Delete),
            _ => None,
        },
        _ => None,
    }
}

/// The key for an `ESC O final` sequence, if it is one the editor knows.
fn ss3_key(final_byte: u8) -> Option<Key> {
    match final_byte {
        b'A' => Some(Key::Up),
        b'B' => Some(Key::Down),
        b'C' => Some(Key::Right),
        b'D' => Some(Key::Left),
        b'H' => Some(Key::Home),
        b'F' => Some(Key::End),
        _ => None,
    }
}
