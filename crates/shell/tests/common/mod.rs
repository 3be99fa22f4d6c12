//! A small VT100 screen model for the tests: rows of a fixed width with the terminal's own
//! autowrap (including its pending-wrap state after the last column), `\r`, `\n`, BEL and the
//! CSI sequences the editor writes (`A B C D` moves, `K` and `J` erases). It panics on anything
//! else, on moves outside the rows written so far, and on moves or erases in the pending-wrap
//! state, where real terminals disagree.

#![allow(dead_code, reason = "each test binary uses a different part of it")]

use unicode_width::UnicodeWidthChar;

#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    pub width: usize,
    /// Row contents; a double-width character is followed by a `'\0'` filler.
    pub rows: Vec<Vec<char>>,
    pub row: usize,
    /// `width` means the pending-wrap state after writing the last column.
    pub column: usize,
}

impl Screen {
    pub fn new(width: usize) -> Self {
        Self {
            width,
            rows: vec![Vec::new()],
            row: 0,
            column: 0,
        }
    }

    fn new_row(&mut self) {
        self.row += 1;
        if self.rows.len() <= self.row {
            self.rows.push(Vec::new());
        }
    }

    fn put(&mut self, c: char) {
        let width = c.width().unwrap_or(1);
        if self.column + width > self.width {
            self.new_row();
            self.column = 0;
        }
        let row = &mut self.rows[self.row];
        for (offset, cell) in [c, '\0'].into_iter().take(width).enumerate() {
            let at = self.column + offset;
            while row.len() < at {
                row.push(' ');
            }
            if at < row.len() {
                row[at] = cell;
            } else {
                row.push(cell);
            }
        }
        self.column += width;
    }

    pub fn apply(&mut self, output: &str) {
        let mut chars = output.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' => {
                    assert_eq!(chars.next(), Some('['), "only CSI sequences are written");
                    let mut count = String::new();
                    while let Some(digit) = chars.next_if(char::is_ascii_digit) {
                        count.push(digit);
                    }
                    let count: usize = count.parse().unwrap_or(1);
                    let command = chars.next();
                    assert!(
                        self.column < self.width,
                        "{command:?} in the pending-wrap state"
                    );
                    match command {
                        Some('A') => {
                            assert!(count <= self.row, "cursor moved above the prompt");
                            self.row -= count;
                        }
                        Some('B') => {
                            self.row += count;
                            assert!(self.row < self.rows.len(), "cursor moved below the text");
                        }
                        Some('D') => {
                            assert!(count <= self.column, "cursor moved left off the row");
                            self.column -= count;
                        }
                        Some('C') => {
                            self.column += count;
                            assert!(self.column < self.width, "cursor moved right off the row");
                        }
                        Some('K') => self.rows[self.row].truncate(self.column),
                        Some('J') => {
                            self.rows[self.row].truncate(self.column);
                            self.rows.truncate(self.row + 1);
                        }
                        other => panic!("unexpected sequence end {other:?}"),
                    }
                }
                '\x07' => {}
                '\r' => self.column = 0,
                '\n' => self.new_row(),
                c => {
                    assert!(
                        !c.is_control(),
                        "control character {c:?} reached the terminal"
                    );
                    self.put(c);
                }
            }
        }
    }

    /// What the rows show, joined without separators (fillers dropped).
    pub fn text(&self) -> String {
        self.rows.iter().flatten().filter(|&&c| c != '\0').collect()
    }

    /// Where the cursor is, as (row, column).
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.column)
    }
}
