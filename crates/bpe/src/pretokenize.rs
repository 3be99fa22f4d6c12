//! Pre-tokenization: split text into words before BPE merges are applied.
//!
//! A word starts at the beginning of the text or at a space byte (0x20) and runs up to,
//! not including, the next space: `"memctl compact"` → `["memctl", " compact"]`. Merges
//! never cross a word boundary, which keeps training fast (it counts unique words) and
//! lets a token mean "space + word". This equals Hugging Face's `Split` pre-tokenizer
//! with pattern `" "` and behaviour `MergedWithNext`, which [`crate::json`] writes into
//! `tokenizer.json` so both implementations cut text the same way.

/// Iterator over the words of `text` (see the module documentation).
pub fn words(text: &[u8]) -> Words<'_> {
    Words { rest: text }
}

/// Iterator returned by [`words`].
#[derive(Clone, Debug)]
pub struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        // Skip the first byte so a leading space stays in this word.
        let end = self
            .rest
            .iter()
            .skip(1)
            .position(|&b| b == b' ')
            .map_or(self.rest.len(), |p| p + 1);
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn spaces_attach_to_the_following_word() {
        let w: Vec<&[u8]> = words(b"a  bc d ").collect();
        assert_eq!(w, [&b"a"[..], b" ", b" bc", b" d", b" "]);
    }

    #[test]
    fn empty_text_has_no_words() {
        assert_eq!(words(b"").count(), 0);
    }

    #[test]
    fn words_concatenate_to_the_text() {
        let text = b" x\ny  z";
        let joined: Vec<u8> = words(text).flatten().copied().collect();
        assert_eq!(joined, text);
    }
}
