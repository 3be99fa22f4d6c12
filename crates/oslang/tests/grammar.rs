//! Property tests tying the byte-level prefix checks to the parser, and the prompt
//! encoding to its documented shape.

use oslang::catalogue::examples;
use oslang::corpus::{Split, generate};
use oslang::{encode_prompt, is_complete, is_valid_prefix, parse_command};
use proptest::prelude::*;

proptest! {
    #[test]
    fn every_prefix_of_a_command_is_valid(i in 0usize..64, n in 1u32..100) {
        let all = examples(&[n]);
        let text = &all[i % all.len()];
        for cut in 0..=text.len() {
            prop_assert!(is_valid_prefix(&text.as_bytes()[..cut]), "{text:?} cut {cut}");
        }
        prop_assert!(is_complete(text.as_bytes()));
    }

    #[test]
    fn complete_bytes_parse_to_themselves(data in "[a-z0-9 -]{0,30}") {
        if is_complete(data.as_bytes()) {
            let c = parse_command(&data).unwrap();
            prop_assert_eq!(c.to_text(), data.clone());
        }
        // A valid prefix never needs a byte the canonical form forbids.
        if is_valid_prefix(data.as_bytes()) {
            prop_assert!(!data.starts_with(' ') && !data.contains("  "));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
        let _ = is_valid_prefix(&data);
        let _ = is_complete(&data);
        let _ = parse_command(&String::from_utf8_lossy(&data));
    }

    #[test]
    fn prompts_are_one_short_line(seed in any::<u64>(), q in ".{0,200}") {
        let e = &generate(Split::Train, seed, 1)[0];
        let p = encode_prompt(&e.state, &q);
        prop_assert!(p.is_ascii() && !p.contains('\n'));
        prop_assert!(p.ends_with(" >"));
        prop_assert!(p.len() <= 160, "{}", p.len());
    }
}
