//! Spelling normalisation of operator requests: the input pipeline every answer system of the
//! operator task shares (the model's prompt, `oslang::state_json::encode_raw_prompt`, and all
//! baselines of [`crate::task_baselines`]), so the kernel's `llmctl infer`, `nous-llm answer`
//! and the comparisons read the same corrected words.
//!
//! [`normalise_request`] = [`crate::state::normalize_query`] (lower case, punctuation to
//! spaces) followed by [`correct_spelling`]: every word that is not in the known vocabulary is
//! replaced by the nearest known word under the optimal-string-alignment (restricted
//! Damerau–Levenshtein) distance — an adjacent swap, a dropped, doubled or wrong letter each
//! cost one — if one is near enough:
//!
//! - words shorter than [`MIN_CORRECTED_LEN`] letters, and words with a digit, are never
//!   touched ("rm", "5", "r420"); a hyphenated word is corrected part by part;
//! - up to distance 1 for shorter words, 2 from [`TWO_EDITS_FROM_LEN`] letters on (two edits in
//!   a short word reach too many unrelated words);
//! - unknown words with no known word that near ("kubernetes") stay as written;
//! - ties go to the earlier known word: the task's template words first (the words that
//!   decide answers), then man-page words by frequency.
//!
//! The known vocabulary ([`known_words`]) is every word of the generator's templates (both
//! splits: a word list, not a phrasing; the held-out set is never used), the number words,
//! the augmenter's synonyms and fillers, and the 4000 commonest words of the Debian `manpages`
//! package (`data/manpage_words.txt`), so a real English word is never "corrected" into a
//! command word. The vocabulary is walked, not stored: one pass marks the known words of a
//! request, and only if one is unknown does a second pass measure distances, so the common
//! case (no typo) costs a few string comparisons per known word and no allocation beyond the
//! result.

use alloc::string::String;
use alloc::vec::Vec;

use crate::state::{normalize_query, truncate_query};

/// Shortest word that is corrected: in two-letter words one edit reaches almost anything.
pub const MIN_CORRECTED_LEN: usize = 3;
/// Shortest word that may be two edits away from its correction.
pub const TWO_EDITS_FROM_LEN: usize = 8;
/// Longest word considered (longer words are left alone).
const MAX_WORD: usize = 64;

/// Every word the normaliser treats as correctly spelt, in preference order (template words
/// first, then the rest; duplicates possible).
pub fn known_words() -> impl Iterator<Item = &'static str> {
    crate::task::template_word_iter()
        // A normalised request has no apostrophes: "don't" reads as "don t".
        .flat_map(|w| w.split('\''))
        .chain(crate::task::ONES.iter().copied())
        .chain(crate::task::TENS.iter().copied())
        .chain(crate::augment::phrase_word_iter())
        .chain(
            crate::augment::MANPAGE_WORDS
                .lines()
                .filter_map(|l| l.split(' ').next()),
        )
        .filter(|w| !w.is_empty())
}

/// The request as every answer system reads it: normalised ([`normalize_query`]), then
/// spelling-corrected ([`correct_spelling`]), cut to the query limit again.
pub fn normalise_request(query: &str) -> String {
    truncate_query(correct_spelling(&normalize_query(query)))
}

/// One word of a request under correction.
struct Slot<'a> {
    word: &'a str,
    /// Whether the word is left alone (known, short, a number) — no search needed.
    settled: bool,
    /// The best correction so far and its distance.
    best: Option<(&'static str, usize)>,
}

/// `text` (already [`normalize_query`]'d: lowercase words separated by single spaces) with
/// each unknown word replaced by its nearest known word (rules in the module documentation).
pub fn correct_spelling(text: &str) -> String {
    let mut slots: Vec<Slot> = text
        .split(' ')
        .flat_map(|w| w.split('-'))
        .map(|word| Slot {
            word,
            settled: word.len() < MIN_CORRECTED_LEN
                || word.len() > MAX_WORD
                || !word.bytes().all(|b| b.is_ascii_lowercase()),
            best: None,
        })
        .collect();
    if slots.iter().any(|s| !s.settled) {
        for known in known_words() {
            for s in slots.iter_mut().filter(|s| !s.settled) {
                if s.word == known {
                    s.settled = true;
                }
            }
            if slots.iter().all(|s| s.settled) {
                break;
            }
        }
    }
    if slots.iter().any(|s| !s.settled) {
        for known in known_words() {
            for s in slots.iter_mut().filter(|s| !s.settled) {
                let limit = if s.word.len() >= TWO_EDITS_FROM_LEN {
                    2
                } else {
                    1
                };
                // Only a strictly nearer word can replace the best so far; a best at
                // distance 0 cannot be beaten (and `0 - 1` must not wrap).
                let limit = match s.best {
                    None => limit,
                    Some((_, 0)) => continue,
                    Some((_, d)) => d - 1,
                };
                if let Some(d) = osa_distance_within(s.word.as_bytes(), known.as_bytes(), limit) {
                    s.best = Some((known, d));
                }
            }
        }
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut slot = slots.iter();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        for (j, _) in word.split('-').enumerate() {
            if j > 0 {
                out.push('-');
            }
            if let Some(s) = slot.next() {
                out.push_str(match (s.settled, s.best) {
                    (false, Some((known, _))) => known,
                    _ => s.word,
                });
            }
        }
    }
    out
}

/// The optimal-string-alignment distance between `a` and `b` if it is at most `limit`
/// (insertions, deletions, substitutions and swaps of adjacent letters cost one each).
fn osa_distance_within(a: &[u8], b: &[u8], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit || b.len() > MAX_WORD + 2 {
        return None;
    }
    // Three rows of the dynamic programme: two back (for swaps), previous, current.
    let width = b.len() + 1;
    let mut rows = [[0usize; MAX_WORD + 3]; 3];
    // Row 0 (the empty prefix of `a`) lives in `rows[0 % 3]`: row `i` reads row `i - 1` from
    // `rows[(i + 2) % 3]`.
    for (j, cell) in rows[0].iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        let (cur, prev, back) = (i % 3, (i + 2) % 3, (i + 1) % 3);
        rows[cur][0] = i;
        let mut row_min = i;
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[prev][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[prev][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[back][j - 2] + 1);
            }
            rows[cur][j] = d;
            row_min = row_min.min(d);
        }
        if row_min > limit {
            return None;
        }
    }
    let d = rows[a.len() % 3][b.len()];
    (d <= limit).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The banded dynamic programme equals a plain full-table OSA distance on random short
    /// words (every pair within the limit, and `None` beyond it).
    #[test]
    fn osa_distance_matches_the_full_table() {
        fn full(a: &[u8], b: &[u8]) -> usize {
            let mut d = alloc::vec![alloc::vec![0usize; b.len() + 1]; a.len() + 1];
            for (i, row) in d.iter_mut().enumerate() {
                row[0] = i;
            }
            for (j, cell) in d[0].iter_mut().enumerate() {
                *cell = j;
            }
            for i in 1..=a.len() {
                for j in 1..=b.len() {
                    let cost = usize::from(a[i - 1] != b[j - 1]);
                    let mut v = (d[i - 1][j] + 1)
                        .min(d[i][j - 1] + 1)
                        .min(d[i - 1][j - 1] + cost);
                    if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                        v = v.min(d[i - 2][j - 2] + 1);
                    }
                    d[i][j] = v;
                }
            }
            d[a.len()][b.len()]
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            let word = |next: &mut dyn FnMut(u64) -> u64| -> Vec<u8> {
                let len = next(7) as usize;
                (0..len).map(|_| b"abcd"[next(4) as usize]).collect()
            };
            let (a, b) = (word(&mut next), word(&mut next));
            let want = full(&a, &b);
            for limit in 0..4 {
                assert_eq!(
                    osa_distance_within(&a, &b, limit),
                    (want <= limit).then_some(want),
                    "{a:?} {b:?} limit {limit}"
                );
            }
        }
        // A suffix of a known word is not at distance 0 from it.
        assert_eq!(osa_distance_within(b"ith", b"with", 2), Some(1));
        assert_eq!(osa_distance_within(b"th", b"with", 1), None);
    }

    #[test]
    fn typos_of_task_words_are_corrected() {
        assert_eq!(correct_spelling("show memroy stats"), "show memory stats");
        assert_eq!(correct_spelling("compcat the heap"), "compact the heap");
        assert_eq!(correct_spelling("list threadss"), "list threads");
        assert_eq!(
            correct_spelling("show the crsh history"),
            "show the crash history"
        );
        assert_eq!(normalise_request("Show MEMROY Stats!"), "show memory stats");
    }

    #[test]
    fn known_words_numbers_and_short_words_are_untouched() {
        for text in [
            "show memory stats",
            "set crash threshold to 150",
            "reclaim 256 pages",
            "rm -rf",
            "r420 w12 5",
            "the kernel documentation describes the interface",
        ] {
            assert_eq!(correct_spelling(text), text);
        }
    }

    #[test]
    fn far_unknown_words_stay_as_written() {
        assert_eq!(
            correct_spelling("deploy kubernetes cluster"),
            "deploy kubernetes cluster"
        );
    }

    #[test]
    fn hyphenated_words_are_corrected_part_by_part() {
        assert_eq!(correct_spelling("round-robn"), "round-robin");
    }

    #[test]
    fn distance_counts_swaps_as_one_edit() {
        assert_eq!(osa_distance_within(b"memroy", b"memory", 2), Some(1));
        assert_eq!(osa_distance_within(b"memry", b"memory", 2), Some(1));
        assert_eq!(osa_distance_within(b"memmory", b"memory", 2), Some(1));
        assert_eq!(osa_distance_within(b"mxmxry", b"memory", 1), None);
        assert_eq!(osa_distance_within(b"abc", b"abc", 0), Some(0));
    }

    #[test]
    fn every_generated_typo_query_is_read_without_panic() {
        for e in crate::task::generate(crate::task::Split::Validation, 3, 300) {
            let n = normalise_request(&e.query);
            assert!(n.len() <= crate::state::MAX_QUERY_BYTES, "{n}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_input_gives_a_bounded_ascii_request(s in "\\PC{0,200}") {
            let n = normalise_request(&s);
            proptest::prop_assert!(n.len() <= crate::state::MAX_QUERY_BYTES);
            proptest::prop_assert!(n.bytes().all(|b| b.is_ascii_lowercase()
                || b.is_ascii_digit() || b == b' ' || b == b'-'));
        }
    }
}
