//! Property tests: encode/decode round-trips any byte string, and a saved tokenizer
//! encodes exactly like the original.

use bpe::{EOS, Tokenizer, TrainConfig};
use proptest::prelude::*;

fn tokenizer() -> Tokenizer {
    let corpus = [
        "m:5 f:2 r:l q:3 | how much memory is free",
        "memctl compact",
        "memctl reclaim",
        "crashctl history 10",
        "schedctl transformer on",
        "ps",
    ];
    Tokenizer::train(
        corpus.iter().cycle().take(60).map(|s| s.as_bytes()),
        &TrainConfig {
            vocab_size: 400,
            min_frequency: 2,
            special_tokens: vec![EOS.into()],
        },
    )
    .unwrap()
}

proptest! {
    #[test]
    fn any_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let t = tokenizer();
        let ids = t.encode(&data);
        prop_assert!(ids.iter().all(|&id| t.token_bytes(id).is_some()));
        prop_assert_eq!(t.decode(&ids).unwrap(), data);
    }

    #[test]
    fn ascii_text_round_trips_and_saved_copy_agrees(s in "[a-z0-9 :|]{0,80}") {
        let t = tokenizer();
        let back = Tokenizer::from_json(t.to_json().as_bytes()).unwrap();
        let ids = t.encode(s.as_bytes());
        prop_assert_eq!(back.encode(s.as_bytes()), ids.clone());
        prop_assert_eq!(t.decode(&ids).unwrap(), s.as_bytes());
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Tokenizer::from_json(&data);
    }
}

#[test]
fn merges_shorten_known_text() {
    let t = tokenizer();
    let text = b"memctl compact";
    assert!(t.encode(text).len() < text.len());
}
