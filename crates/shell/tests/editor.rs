//! Line editor behaviour, key by key, with the exact bytes written to the terminal; and property
//! tests that replay the echo on a small VT100 model to check that the screen always shows the
//! line with the cursor in the right place.

mod common;

use common::Screen;
use proptest::prelude::*;
use shell::{EditEvent, LineEditor, MAX_LINE_BYTES};

/// Feeds `input`, returning the events other than `Pending` and everything written.
fn run(editor: &mut LineEditor, input: &[u8]) -> (Vec<EditEvent>, String) {
    let mut out = String::new();
    let mut events = Vec::new();
    for &byte in input {
        match editor.feed(byte, &mut out) {
            EditEvent::Pending => {}
            event => events.push(event),
        }
    }
    (events, out)
}

fn line(text: &str) -> EditEvent {
    EditEvent::Line(text.to_string())
}

const UP: &[u8] = b"\x1b[A";
const DOWN: &[u8] = b"\x1b[B";
const RIGHT: &[u8] = b"\x1b[C";
const LEFT: &[u8] = b"\x1b[D";

fn keys(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn printable_ascii_is_echoed_and_enter_submits() {
    let mut editor = LineEditor::new();
    assert_eq!(
        run(&mut editor, b"ls -a\r"),
        (vec![line("ls -a")], "ls -a\r\n".into())
    );
    assert!(editor.line().is_empty());
}

#[test]
fn cr_lf_and_crlf_each_end_exactly_one_line() {
    let mut editor = LineEditor::new();
    let (events, out) = run(&mut editor, b"a\r\nb\nc\rd\r\n");
    assert_eq!(events, vec![line("a"), line("b"), line("c"), line("d")]);
    assert_eq!(out, "a\r\nb\r\nc\r\nd\r\n");

    // Two CRs are two Enters; LF after a swallowed LF is a new line; LF then CR are two lines.
    let (events, _) = run(&mut editor, b"\r\r");
    assert_eq!(events, vec![line(""), line("")]);
    let (events, _) = run(&mut editor, b"\r\n\n");
    assert_eq!(events, vec![line(""), line("")]);
    let (events, _) = run(&mut editor, b"\n\r");
    assert_eq!(events, vec![line(""), line("")]);
    // Only the byte right after CR is special.
    let (events, _) = run(&mut editor, b"\rx\n");
    assert_eq!(events, vec![line(""), line("x")]);
}

#[test]
fn both_backspace_codes_delete_before_the_cursor() {
    let mut editor = LineEditor::new();
    let (events, out) = run(&mut editor, b"abc\x7f\x08d\r");
    assert_eq!(events, vec![line("ad")]);
    assert_eq!(out, "abc\x1b[1D\x1b[K\x1b[1D\x1b[Kd\r\n");

    // Nothing to delete: no output at all.
    assert_eq!(run(&mut editor, b"\x7f\x08"), (vec![], String::new()));
}

#[test]
fn backspace_in_the_middle_redraws_the_tail() {
    let mut editor = LineEditor::new();
    let (_, out) = run(&mut editor, &keys(&[b"abcd", LEFT, LEFT, b"\x7f"]));
    assert_eq!(out, "abcd\x1b[1D\x1b[1D\x1b[1Dcd\x1b[K\x1b[2D");
    assert_eq!(editor.line(), b"acd");
    assert_eq!(editor.cursor(), 1);
}

#[test]
fn ctrl_c_abandons_the_line() {
    let mut editor = LineEditor::new();
    let (events, out) = run(&mut editor, b"rm x\x03");
    assert_eq!(events, vec![EditEvent::Cancelled]);
    assert_eq!(out, "rm x^C\r\n");
    assert!(editor.line().is_empty());
    assert_eq!(
        editor.history().len(),
        0,
        "a cancelled line is not remembered"
    );
    assert_eq!(run(&mut editor, b"ok\r").0, vec![line("ok")]);
}

#[test]
fn ctrl_u_clears_the_line() {
    let mut editor = LineEditor::new();
    let (events, out) = run(&mut editor, b"abc\x15d\r");
    assert_eq!(events, vec![line("d")]);
    assert_eq!(out, "abc\x1b[3D\x1b[Kd\r\n");
}

#[test]
fn left_and_right_move_the_cursor_and_insert_in_the_middle() {
    let mut editor = LineEditor::new();
    let (_, out) = run(&mut editor, &keys(&[b"ac", LEFT, b"b"]));
    assert_eq!(out, "ac\x1b[1Dbc\x1b[1D");
    assert_eq!(editor.cursor(), 2);
    let (_, out) = run(&mut editor, &keys(&[RIGHT, RIGHT]));
    assert_eq!(out, "\x1b[1C", "moving right past the end does nothing");
    let (_, out) = run(&mut editor, &keys(&[b"\x1bOD", b"\x1bOD", b"\x1bOD", LEFT]));
    assert_eq!(
        out, "\x1b[1D\x1b[1D\x1b[1D",
        "moving left past the start does nothing"
    );
    assert_eq!(editor.cursor(), 0);
    assert_eq!(run(&mut editor, b"\x1bOCX\r").0, vec![line("aXbc")]);
}

#[test]
fn home_end_and_delete_keys() {
    let mut editor = LineEditor::new();
    let input = keys(&[
        b"abc", b"\x1b[H", b"\x1b[3~", b"\x1b[F", b"d", b"\x1b[1~", b"<", b"\x1b[4~", b">\r",
    ]);
    assert_eq!(run(&mut editor, &input).0, vec![line("<bcd>")]);
    // Delete at the end of the line does nothing.
    assert_eq!(run(&mut editor, b"x\x1b[3~").1, "x");
}

#[test]
fn history_walks_back_and_forth_and_restores_the_draft() {
    let mut editor = LineEditor::new();
    run(&mut editor, b"one\rtwo\r");
    let (_, out) = run(&mut editor, UP);
    assert_eq!((editor.line(), out.as_str()), (&b"two"[..], "two"));
    let (_, out) = run(&mut editor, UP);
    assert_eq!((editor.line(), out.as_str()), (&b"one"[..], "\x1b[3Done"));
    let (_, out) = run(&mut editor, b"\x1bOA");
    assert_eq!(
        (editor.line(), out.as_str()),
        (&b"one"[..], ""),
        "stops at the oldest"
    );
    run(&mut editor, DOWN);
    assert_eq!(editor.line(), b"two");
    let (_, out) = run(&mut editor, b"\x1bOB");
    assert_eq!((editor.line(), out.as_str()), (&b""[..], "\x1b[3D\x1b[K"));
    let (_, out) = run(&mut editor, DOWN);
    assert_eq!(
        (editor.line(), out.as_str()),
        (&b""[..], ""),
        "nothing below the draft"
    );

    // The half-typed line survives a trip through the history.
    run(&mut editor, &keys(&[b"dr", UP, UP, DOWN, DOWN]));
    assert_eq!(editor.line(), b"dr");
    // A recalled line can be edited and submitted.
    assert_eq!(
        run(&mut editor, &keys(&[b"\x15", UP, b"!\r"])).0,
        vec![line("two!")]
    );
}

#[test]
fn history_is_bounded_and_skips_blank_and_repeated_lines() {
    let mut editor = LineEditor::with_history(2);
    run(&mut editor, b"a\rb\rb\r   \r\rc\r");
    let remembered: Vec<&[u8]> = editor.history().collect();
    assert_eq!(remembered, vec![&b"b"[..], &b"c"[..]]);

    let mut none = LineEditor::with_history(0);
    run(&mut none, b"a\r");
    assert_eq!(none.history().len(), 0);
    assert_eq!(run(&mut none, UP), (vec![], String::new()));
    assert!(none.line().is_empty());
}

#[test]
fn overlong_line_rings_the_bell_and_is_discarded_at_enter() {
    let mut editor = LineEditor::new();
    let full = vec![b'x'; MAX_LINE_BYTES];
    assert_eq!(run(&mut editor, &full).0, vec![]);
    let (events, out) = run(&mut editor, b"yz");
    assert_eq!(events, vec![]);
    assert_eq!(out, "\x07\x07");
    assert_eq!(editor.line().len(), MAX_LINE_BYTES);

    // Making room afterwards does not rescue the line: bytes were dropped, so it is refused.
    let (events, _) = run(&mut editor, b"\x7fy\r");
    assert_eq!(events, vec![EditEvent::LineTooLong]);
    assert!(editor.line().is_empty());
    assert_eq!(
        editor.history().len(),
        0,
        "a refused line is not remembered"
    );

    // The next line starts clean: exactly MAX_LINE_BYTES bytes are accepted and submitted.
    let (events, _) = run(&mut editor, &[full.as_slice(), b"\r"].concat());
    assert_eq!(events, vec![line(&"x".repeat(MAX_LINE_BYTES))]);

    // Ctrl-U after an overflow starts afresh, so the retyped line runs.
    let mut again = full.clone();
    again.push(b'!');
    again.push(0x15);
    again.extend_from_slice(b"ok\r");
    assert_eq!(run(&mut editor, &again).0, vec![line("ok")]);
}

#[test]
fn non_utf8_line_is_reported_not_submitted_and_kept_for_fixing() {
    let mut editor = LineEditor::new();
    let (events, out) = run(&mut editor, b"ab\xff\xfe\r");
    assert_eq!(events, vec![EditEvent::InvalidUtf8 { valid_up_to: 2 }]);
    assert_eq!(out, "ab??\r\n");
    let (events, _) = run(&mut editor, &keys(&[UP, b"\x7f\x7f\r"]));
    assert_eq!(events, vec![line("ab")]);
    // A truncated sequence is invalid too.
    assert_eq!(
        run(&mut editor, b"\xc3\r").0,
        vec![EditEvent::InvalidUtf8 { valid_up_to: 0 }]
    );
}

#[test]
fn utf8_characters_are_echoed_once_complete_and_edited_as_one_cell() {
    let mut editor = LineEditor::new();
    let (_, out) = run(&mut editor, "é".as_bytes());
    assert_eq!(out, "?\x1b[1Dé");
    // A double-width character: the cursor moves two columns over it.
    let (_, out) = run(&mut editor, "日".as_bytes());
    assert_eq!(out, "??\x1b[2D日");
    let (_, out) = run(&mut editor, LEFT);
    assert_eq!(out, "\x1b[2D");
    let (_, out) = run(&mut editor, b"\x7f");
    assert_eq!(out, "\x1b[1D日\x1b[K\x1b[2D");
    assert_eq!(editor.line(), "日".as_bytes());
    assert_eq!(run(&mut editor, b"\x1b[Fa\r").0, vec![line("日a")]);
}

#[test]
fn long_lines_continue_on_the_next_row() {
    let mut editor = LineEditor::new();
    editor.set_columns(8);
    editor.set_prompt_width(2);
    // 6 columns are left on the first row: the seventh character starts the second row.
    let (_, out) = run(&mut editor, b"abcdefg");
    assert_eq!(out, "abcdef\r\ng");
    // Backspace twice: back across the row boundary, erasing the rows below.
    let (_, out) = run(&mut editor, b"\x7f\x7f");
    assert_eq!(out, "\x1b[1D\x1b[K\x1b[1A\x1b[7C\x1b[J");
    // Home goes up to the first row, End back down.
    assert_eq!(run(&mut editor, b"X\x1b[H").1, "X\r\n\x1b[1A\x1b[2C");
    assert_eq!(run(&mut editor, b"\x1b[F").1, "\x1b[1B\x1b[2D");
    // Ctrl-C from the first row goes to the end first, so `^C` does not overwrite the line.
    run(&mut editor, b"\x1b[H");
    assert_eq!(run(&mut editor, b"\x03").1, "\x1b[1B\x1b[2D^C\r\n");
}

#[test]
fn four_byte_characters_merge_when_their_last_byte_arrives() {
    let mut editor = LineEditor::new();
    let (_, out) = run(&mut editor, "ab😀".as_bytes());
    let mut screen = Screen::new(80);
    screen.apply(&out);
    assert_eq!((screen.text().as_str(), screen.column), ("ab😀", 4));
    assert_eq!(run(&mut editor, b"\r").0, vec![line("ab😀")]);
}

#[test]
fn control_and_zero_width_characters_are_shown_as_placeholders() {
    let mut editor = LineEditor::new();
    // U+0085 (NEL) and U+200B (zero-width space) must not reach the terminal as themselves.
    let (_, out) = run(&mut editor, "a\u{85}\u{200b}b".as_bytes());
    let mut screen = Screen::new(80);
    screen.apply(&out);
    assert_eq!(screen.text(), "a??b");
    assert_eq!(run(&mut editor, b"\r").0, vec![line("a\u{85}\u{200b}b")]);
}

#[test]
fn deleting_between_bytes_can_merge_them_into_one_character() {
    let mut editor = LineEditor::new();
    run(&mut editor, &keys(&[b"\xc3x\xa9", LEFT, b"\x7f"]));
    assert_eq!(editor.line(), "é".as_bytes());
    assert_eq!(
        editor.cursor(),
        2,
        "the cursor stays on a character boundary"
    );
    assert_eq!(run(&mut editor, b"\r").0, vec![line("é")]);
}

#[test]
fn other_control_bytes_are_ignored() {
    let mut editor = LineEditor::new();
    let (events, out) = run(&mut editor, b"\x01\x02a\x00\x04\x09\x0b\x0c\x1f\r");
    assert_eq!(events, vec![line("a")]);
    assert_eq!(out, "a\r\n");
}

#[test]
fn unknown_escape_sequences_are_swallowed() {
    let mut editor = LineEditor::new();
    let mut input = keys(&[
        b"a",
        b"\x1b[5~",
        b"b",
        b"\x1b[1;5X",
        b"c",
        b"\x1bx",
        b"d",
        b"\x1bOZ",
        b"e",
    ]);
    // A control sequence with far too many parameter bytes, ending like an arrow key.
    input.extend_from_slice(b"\x1b[");
    input.extend(std::iter::repeat_n(b'1', 100));
    input.extend_from_slice(b"D\x1b[ Af\r");
    let (events, out) = run(&mut editor, &input);
    assert_eq!(events, vec![line("abcdef")]);
    assert_eq!(out, "abcdef\r\n");
}

#[test]
fn arrow_keys_with_modifiers_still_move() {
    let mut editor = LineEditor::new();
    run(&mut editor, &keys(&[b"ab", b"\x1b[1;5D", b"X"]));
    assert_eq!(editor.line(), b"aXb");
}

#[test]
fn a_control_byte_inside_an_escape_sequence_acts_as_itself() {
    let mut editor = LineEditor::new();
    assert_eq!(run(&mut editor, b"ab\x1b\r").0, vec![line("ab")]);
    assert_eq!(run(&mut editor, b"ab\x1b[\r").0, vec![line("ab")]);
    assert_eq!(
        run(&mut editor, b"ab\x1bO\x03").0,
        vec![EditEvent::Cancelled]
    );
    // ESC ESC [ D: the second ESC starts the sequence.
    run(&mut editor, b"ab\x1b\x1b[Dx");
    assert_eq!(editor.line(), b"axb");
}

#[test]
fn redraw_rewrites_the_line_after_a_fresh_prompt() {
    let mut editor = LineEditor::new();
    run(&mut editor, &keys(&[b"abc", LEFT]));
    let mut out = String::new();
    editor.redraw(&mut out).unwrap();
    assert_eq!(out, "abc\x1b[1D");
}

/// Editing keys only: no Enter or Ctrl-C, so the whole session stays on one row.
fn editing_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0x20u8..0x7f).prop_map(|b| vec![b]),
        1 => prop_oneof![
            Just(b"\x7f".to_vec()),
            Just(b"\x08".to_vec()),
            Just(UP.to_vec()),
            Just(DOWN.to_vec()),
            Just(LEFT.to_vec()),
            Just(RIGHT.to_vec()),
            Just(b"\x1b[H".to_vec()),
            Just(b"\x1b[F".to_vec()),
            Just(b"\x1b[3~".to_vec()),
            Just(b"\x15".to_vec()),
        ],
    ]
}

fn any_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => editing_key(),
        1 => prop::sample::select(vec!["é", "日", "€", "😀", "\u{85}", "\u{200b}"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => (0x80u8..=0xff).prop_map(|b| vec![b]),
    ]
}

/// A model of the line and cursor for printable ASCII editing.
fn model(history: &[&str], keys: &[Vec<u8>]) -> (String, usize) {
    let mut line: Vec<char> = Vec::new();
    let mut cursor = 0;
    let mut back: Option<usize> = None;
    let mut draft: Vec<char> = Vec::new();
    for key in keys {
        match key.as_slice() {
            [b] if (0x20..0x7f).contains(b) && line.len() < MAX_LINE_BYTES => {
                line.insert(cursor, char::from(*b));
                cursor += 1;
            }
            b"\x7f" | b"\x08" if cursor > 0 => {
                cursor -= 1;
                line.remove(cursor);
            }
            b"\x1b[D" => cursor = cursor.saturating_sub(1),
            b"\x1b[C" => cursor = (cursor + 1).min(line.len()),
            b"\x1b[H" => cursor = 0,
            b"\x1b[F" => cursor = line.len(),
            b"\x1b[3~" if cursor < line.len() => {
                line.remove(cursor);
            }
            b"\x15" => {
                line.clear();
                cursor = 0;
            }
            b"\x1b[A" => {
                let steps = back.map_or(0, |s| s + 1);
                if steps < history.len() {
                    if back.is_none() {
                        draft = line.clone();
                    }
                    line = history[history.len() - 1 - steps].chars().collect();
                    cursor = line.len();
                    back = Some(steps);
                }
            }
            b"\x1b[B" => {
                match back {
                    None => {}
                    Some(0) => {
                        line = std::mem::take(&mut draft);
                        back = None;
                    }
                    Some(steps) => {
                        line = history[history.len() - steps].chars().collect();
                        back = Some(steps - 1);
                    }
                }
                cursor = line.len();
            }
            _ => {}
        }
    }
    (line.into_iter().collect(), cursor)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// ASCII editing matches a simple model, and the screen (of any width, after a prompt of
    /// any width that fits) shows exactly the prompt and the line, with the cursor in the right
    /// place, also once Enter has been pressed.
    #[test]
    fn ascii_editing_matches_the_model_and_the_screen(
        columns in 4usize..24,
        prompt_width in 0usize..4,
        history in prop::collection::vec("[a-z]{1,5}", 0..4),
        keys in prop::collection::vec(editing_key(), 0..80),
    ) {
        let mut editor = LineEditor::new();
        editor.set_columns(columns);
        editor.set_prompt_width(prompt_width);
        for entry in &history {
            run(&mut editor, format!("{entry}\r").as_bytes());
        }
        // The model's history: what the editor remembers (consecutive repeats dropped).
        let mut remembered: Vec<&str> = Vec::new();
        for entry in &history {
            if remembered.last() != Some(&entry.as_str()) {
                remembered.push(entry);
            }
        }
        let prompt = "#".repeat(prompt_width);
        let mut screen = Screen::new(columns);
        screen.apply(&prompt);
        for key in &keys {
            let (_, out) = run(&mut editor, key);
            screen.apply(&out);
        }
        let (expected_line, expected_cursor) = model(&remembered, &keys);
        prop_assert_eq!(editor.line(), expected_line.as_bytes());
        prop_assert_eq!(editor.cursor(), expected_cursor);
        prop_assert_eq!(screen.text(), format!("{prompt}{expected_line}"));
        let at = prompt_width + expected_cursor;
        prop_assert_eq!(screen.cursor(), (at / columns, at % columns));

        let (events, out) = run(&mut editor, b"\r");
        screen.apply(&out);
        prop_assert_eq!(events, vec![line(&expected_line)]);
        prop_assert_eq!(screen.text(), format!("{prompt}{expected_line}"));
        let end = prompt_width + expected_line.len();
        let fresh_row = if end % columns == 0 && end > 0 { end / columns } else { end / columns + 1 };
        prop_assert_eq!(screen.cursor(), (fresh_row, 0));
    }

    /// With arbitrary bytes (wide characters included) on narrow screens, the screen built
    /// from incremental echoes equals a fresh redraw of the same state, the cursor is on a
    /// character boundary, and nothing panics.
    #[test]
    fn incremental_echo_equals_a_fresh_redraw(
        columns in 4usize..16,
        prompt_width in 0usize..4,
        keys in prop::collection::vec(any_key(), 0..80),
    ) {
        let prompt = "#".repeat(prompt_width);
        let mut editor = LineEditor::new();
        editor.set_columns(columns);
        editor.set_prompt_width(prompt_width);
        let mut screen = Screen::new(columns);
        screen.apply(&prompt);
        for key in &keys {
            let (_, out) = run(&mut editor, key);
            screen.apply(&out);
            prop_assert!(editor.line().len() <= MAX_LINE_BYTES);
        }
        let mut fresh = Screen::new(columns);
        fresh.apply(&prompt);
        let mut out = String::new();
        editor.clone().redraw(&mut out).unwrap();
        fresh.apply(&out);
        prop_assert_eq!(&screen, &fresh);
        if let Ok(text) = std::str::from_utf8(editor.line()) {
            prop_assert!(text.is_char_boundary(editor.cursor()));
        }

        // Erasing leaves nothing but the rows above the prompt; a redraw brings it all back.
        let mut out = String::new();
        editor.erase(&mut out).unwrap();
        screen.apply(&out);
        prop_assert_eq!(screen.text(), "");
        prop_assert_eq!(screen.cursor(), (0, 0));
        let mut out = prompt.clone();
        editor.redraw(&mut out).unwrap();
        screen.apply(&out);
        prop_assert_eq!(&screen, &fresh);
    }
}

#[test]
fn a_line_that_lost_input_is_refused_and_the_next_one_runs() {
    let mut editor = LineEditor::new();
    // "echo paste1\r" and "echo paste2\r" with bytes lost in between: what arrives would run
    // `echo pastpaste2` if it were submitted.
    run(&mut editor, b"echo past");
    editor.input_lost(7);
    let (events, _) = run(&mut editor, b"e2\recho ok\r");
    assert_eq!(
        events,
        vec![EditEvent::InputLost { bytes: 7 }, line("echo ok")]
    );
    assert_eq!(
        editor.history().collect::<Vec<_>>(),
        vec![b"echo ok".as_slice()],
        "a damaged line is not remembered"
    );
    // Ctrl-U does not clear the mark (the lost bytes might have held an Enter); Ctrl-C does.
    editor.input_lost(0);
    let (events, _) = run(&mut editor, b"x\x15y\r");
    assert_eq!(events, vec![EditEvent::InputLost { bytes: 1 }]);
    editor.input_lost(3);
    let (events, _) = run(&mut editor, b"x\x03y\r");
    assert_eq!(events, vec![EditEvent::Cancelled, line("y")]);
}
