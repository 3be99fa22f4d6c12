//! Allowed-token masks for constrained decoding over a [`bpe::Tokenizer`].
//!
//! While the model writes its answer, the kernel passes the engine a logits mask: token `t`
//! is allowed after output bytes `p` when `p + bytes(t)` is still a prefix of some answer
//! of the grammar ([`crate::answer::is_valid_prefix`]: one catalogue command, a plan of up
//! to three, or a refusal with a fixed reason); `<eos>` is allowed only when `p` is a
//! complete answer ([`crate::answer::is_complete`]); other special tokens never. Because
//! the empty output is a valid prefix and every valid prefix extends to a complete answer
//! one byte at a time (single-byte tokens always exist), the mask is never all-false, so
//! greedy decoding under the mask always ends in an answer of the grammar.

use alloc::vec::Vec;

use bpe::{EOS, Tokenizer};

use crate::answer::{is_complete, is_valid_prefix};

/// Writes into `mask` (resized to the vocabulary) which tokens may follow `generated`.
///
/// The grammar's prefixes are closed under shortening (a prefix of a valid prefix is one),
/// so a token can only be allowed when `generated` + its first byte is a valid prefix: 256
/// one-byte checks rule out most of the vocabulary before the whole-token check, which is
/// what made the mask the decoder's largest cost in the kernel (every token checked in full
/// at every step). The result is the same as checking every token in full (tested).
pub fn fill_allowed(tok: &Tokenizer, generated: &[u8], mask: &mut Vec<bool>) {
    let eos = tok.special_id(EOS);
    let complete = is_complete(generated);
    mask.clear();
    mask.resize(tok.vocab_size(), false);
    let mut candidate = Vec::with_capacity(generated.len() + 16);
    candidate.extend_from_slice(generated);
    let mut first_byte_ok = [false; 256];
    for (b, ok) in (0u8..=255).zip(first_byte_ok.iter_mut()) {
        candidate.truncate(generated.len());
        candidate.push(b);
        *ok = is_valid_prefix(&candidate);
    }
    for (id, allowed) in (0u32..).zip(mask.iter_mut()) {
        *allowed = match tok.token_bytes(id) {
            Some(bytes) => match bytes.first() {
                Some(&b) if !first_byte_ok[usize::from(b)] => false,
                _ => {
                    candidate.truncate(generated.len());
                    candidate.extend_from_slice(bytes);
                    is_valid_prefix(&candidate)
                }
            },
            None => complete && Some(id) == eos,
        };
    }
}

/// The allowed-token mask for `generated` as a new vector.
pub fn allowed_tokens(tok: &Tokenizer, generated: &[u8]) -> Vec<bool> {
    let mut mask = Vec::new();
    fill_allowed(tok, generated, &mut mask);
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::examples;
    use bpe::TrainConfig;

    fn tok() -> Tokenizer {
        let cmds = examples(&[1, 5, 10, 20]);
        Tokenizer::train(
            cmds.iter().cycle().take(200).map(|s| s.as_bytes()),
            &TrainConfig {
                vocab_size: 400,
                min_frequency: 2,
                special_tokens: alloc::vec![bpe::BOS.into(), EOS.into()],
            },
        )
        .unwrap()
    }

    /// The first-byte filter changes nothing: on every prefix a few random walks visit,
    /// the mask equals the whole-token check of every token.
    #[test]
    fn first_byte_filter_equals_checking_every_token() {
        let t = tok();
        let eos = t.special_id(EOS);
        let mut rng = crate::rng::SplitMix64::new(11);
        let mut checked = 0;
        for _ in 0..40 {
            let mut out: Vec<u8> = Vec::new();
            for _ in 0..=crate::answer::max_answer_len() {
                let mask = allowed_tokens(&t, &out);
                let complete = is_complete(&out);
                for (id, &got) in (0u32..).zip(&mask) {
                    let want = match t.token_bytes(id) {
                        Some(bytes) => is_valid_prefix(&[out.as_slice(), bytes].concat()),
                        None => complete && Some(id) == eos,
                    };
                    assert_eq!(got, want, "token {id} after {out:?}");
                    checked += 1;
                }
                let allowed: Vec<u32> = (0u32..)
                    .zip(&mask)
                    .filter(|(_, a)| **a)
                    .map(|(i, _)| i)
                    .collect();
                let pick = allowed[(rng.next_u64() % allowed.len() as u64) as usize];
                if Some(pick) == eos {
                    break;
                }
                out.extend_from_slice(t.token_bytes(pick).unwrap());
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn eos_only_after_a_complete_command() {
        let t = tok();
        let eos = t.special_id(EOS).unwrap() as usize;
        let bos = t.special_id(bpe::BOS).unwrap() as usize;
        assert!(!allowed_tokens(&t, b"memctl")[eos]);
        assert!(allowed_tokens(&t, b"memctl stats")[eos]);
        assert!(!allowed_tokens(&t, b"memctl stats")[bos]);
    }

    #[test]
    fn multi_byte_tokens_are_checked_whole() {
        let t = tok();
        let memctl = t.encode(b"memctl");
        assert_eq!(memctl.len(), 1);
        let id = memctl[0] as usize;
        assert!(allowed_tokens(&t, b"")[id]);
        assert!(!allowed_tokens(&t, b"ps")[id]);
        let space = u32::from(b' ') as usize;
        assert!(allowed_tokens(&t, b"memctl")[space]);
        assert!(!allowed_tokens(&t, b"")[space]);
    }

    #[test]
    fn following_any_allowed_path_reaches_a_command() {
        // Always take the highest allowed id (longest merges tend to be late ids); the
        // mask must never be empty and the walk must end at a complete command.
        let t = tok();
        let eos = t.special_id(EOS).unwrap() as usize;
        for skip in 0..5 {
            let mut out = Vec::new();
            for _ in 0..=crate::answer::max_answer_len() {
                let mask = allowed_tokens(&t, &out);
                let allowed: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
                assert!(!allowed.is_empty(), "empty mask after {out:?}");
                let pick = allowed[allowed
                    .len()
                    .saturating_sub(1 + skip)
                    .min(allowed.len() - 1)];
                if pick == eos {
                    break;
                }
                out.extend_from_slice(t.token_bytes(pick as u32).unwrap());
            }
            assert!(is_complete(&out), "{}", String::from_utf8_lossy(&out));
        }
    }

    /// Random walks through the mask (any allowed token, `<eos>` taken at random when allowed)
    /// always end in a complete answer: no prefix the mask allows is a dead end, plans
    /// included (no command twice).
    #[test]
    fn random_walks_never_dead_end() {
        let t = tok();
        let eos = t.special_id(EOS).unwrap() as usize;
        let mut rng = crate::rng::SplitMix64::new(7);
        for _ in 0..300 {
            let mut out = Vec::new();
            let mut done = false;
            for _ in 0..=crate::answer::max_answer_len() {
                let mask = allowed_tokens(&t, &out);
                let allowed: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
                assert!(
                    !allowed.is_empty(),
                    "dead end after {:?}",
                    String::from_utf8_lossy(&out)
                );
                if mask[eos] && rng.below(4) == 0 {
                    done = true;
                    break;
                }
                let pick = allowed[rng.below(allowed.len() as u64) as usize];
                if pick == eos {
                    done = true;
                    break;
                }
                out.extend_from_slice(t.token_bytes(pick as u32).unwrap());
            }
            let text = String::from_utf8_lossy(&out);
            assert!(done && is_complete(&out), "{text}");
            assert!(crate::answer::parse_answer(&text).is_ok(), "{text}");
        }
    }

    /// Writing a never-proposed command byte by byte (alone or as a plan's second step), the
    /// mask blocks some byte before the command is complete, and `<eos>` is never allowed.
    #[test]
    fn never_proposed_commands_are_unreachable() {
        let t = tok();
        let eos = t.special_id(EOS).unwrap() as usize;
        for forbidden in crate::catalogue::NEVER_PROPOSED {
            for text in [
                alloc::format!("{forbidden} x"),
                alloc::format!("ps; {forbidden} x"),
            ] {
                let mut out = Vec::new();
                let mut blocked = false;
                for &b in text.as_bytes() {
                    let mask = allowed_tokens(&t, &out);
                    if out.ends_with(forbidden.as_bytes()) {
                        assert!(!mask[eos], "<eos> allowed after {text:?}");
                    }
                    if !mask[usize::from(b)] {
                        blocked = true;
                        break;
                    }
                    out.push(b);
                }
                assert!(blocked, "{text:?} was writable under the mask");
            }
        }
    }

    #[test]
    fn refusals_and_plans_are_writable() {
        let t = tok();
        let eos = t.special_id(EOS).unwrap() as usize;
        for text in ["refuse: destructive", "memctl compact 3; memctl stats; ps"] {
            let mut out = Vec::new();
            for &b in text.as_bytes() {
                assert!(
                    allowed_tokens(&t, &out)[usize::from(b)],
                    "{text:?} at {out:?}"
                );
                out.push(b);
            }
            assert!(allowed_tokens(&t, &out)[eos], "{text}");
        }
    }
}
