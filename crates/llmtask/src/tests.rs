use super::*;
use llm::{LlamaConfig, LlamaModel, QuantModel};
use oslang::corpus::{Split, generate};

/// A small tokenizer trained on `count` training-split examples of the operator task
/// (prompts and answers).
fn tokenizer_for(seed: u64, count: usize, vocab_size: usize) -> Tokenizer {
    let texts: Vec<String> = oslang::task::generate(oslang::task::Split::Train, seed, count)
        .iter()
        .flat_map(|e| {
            [
                oslang::state_json::encode_raw_prompt(&e.state, &e.query),
                e.answer.to_text(),
            ]
        })
        .collect();
    Tokenizer::train(
        texts.iter().map(|s| s.as_bytes()),
        &bpe::TrainConfig {
            vocab_size,
            min_frequency: 2,
            special_tokens: vec![BOS.into(), EOS.into()],
        },
    )
    .unwrap()
}

fn small_config(vocab: usize) -> LlamaConfig {
    LlamaConfig {
        vocab_size: vocab,
        hidden_size: 16,
        intermediate_size: 24,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: Some(1),
        max_position_embeddings: 256,
        ..LlamaConfig::tiny()
    }
}

/// Whatever the weights, constrained greedy decoding yields an answer of the grammar whose
/// commands are all allowlisted, on the f32 and on the quantized model.
#[test]
fn constrained_decoding_of_a_random_model_gives_allowlisted_answers() {
    let tok = tokenizer_for(3, 300, 400);
    let sp = specials(&tok).unwrap();
    for seed in 0..4 {
        let model = LlamaModel::new_random(small_config(tok.vocab_size()), seed).unwrap();
        let quant = QuantModel::from_model(&model).unwrap();
        for e in generate(Split::Test, seed, 5) {
            let out = predict(&model, &tok, sp, &e.prompt(), true).unwrap();
            assert!(oslang::answer::is_complete(out.as_bytes()), "{out:?}");
            assert!(allowlisted_answer(&out).is_ok(), "{out:?}");
            let p = predict_timed(&quant, &tok, sp, &e.prompt(), true, &|| 0).unwrap();
            assert!(p.answer().is_ok(), "{:?}", p.text);
            assert!(p.finished);
        }
    }
}

/// The phases are timed with the caller's clock, in order.
#[test]
fn phases_are_timed_with_the_callers_clock() {
    let tok = tokenizer_for(1, 200, 350);
    let sp = specials(&tok).unwrap();
    let model = LlamaModel::new_random(small_config(tok.vocab_size()), 5).unwrap();
    let ticks = core::cell::Cell::new(0u64);
    let clock = || {
        ticks.set(ticks.get() + 10);
        ticks.get()
    };
    let p = predict_timed(&model, &tok, sp, "m3 f2 | memory >", true, &clock).unwrap();
    assert_eq!(p.times.encode, 10);
    assert_eq!(p.times.prefill, 10);
    assert_eq!(p.times.decode, 10);
    assert_eq!(p.times.total(), 30);
    assert_eq!(
        p.prompt_tokens,
        prompt_tokens(&tok, sp, "m3 f2 | memory >").len()
    );
    assert!(!p.tokens.is_empty());
}

#[test]
fn a_mismatched_tokenizer_is_refused() {
    let tok = tokenizer_for(1, 50, 300);
    assert_eq!(
        check_pair(tok.vocab_size() + 1, &tok),
        Err(TaskError::VocabMismatch {
            model: tok.vocab_size() + 1,
            tokenizer: tok.vocab_size()
        })
    );
    assert!(check_pair(tok.vocab_size(), &tok).is_ok());
}

/// The allowlist is the catalogue: in-range commands pass, anything else is refused.
#[test]
fn allowlist_is_the_catalogue() {
    for ok in [
        "meminfo",
        "crashctl tune 20",
        "crashctl history 1",
        "memctl reclaim",
    ] {
        assert!(allowlisted(ok).is_ok(), "{ok}");
    }
    for bad in [
        "shutdown",
        "rm /models/model.safetensors",
        "crashctl tune 0",
        "crashctl history 0",
        "memctl stress leak",
        "",
    ] {
        assert!(allowlisted(bad).is_err(), "{bad}");
        assert!(allowlisted_answer(bad).is_err(), "{bad}");
        assert!(allowlisted_answer(&format!("ps; {bad}")).is_err(), "{bad}");
    }
    let plan = allowlisted_answer("memctl compact 3; memctl stats").unwrap();
    assert_eq!(plan.commands().len(), 2);
    let refusal = allowlisted_answer("refuse: destructive").unwrap();
    assert!(refusal.commands().is_empty());
}

#[test]
fn training_sequences_score_only_the_command_and_eos() {
    let tok = tokenizer_for(1, 50, 300);
    let sp = specials(&tok).unwrap();
    let t = train_example(&tok, sp, "m1 | ps >", "memctl stats");
    let answer = tok.encode(b"memctl stats").len() + 1;
    assert_eq!(t.tokens.first(), Some(&sp.bos));
    assert_eq!(t.tokens.last(), Some(&sp.eos));
    assert_eq!(t.scored(), answer);
    assert!(t.loss_mask.iter().rev().take(answer).all(|&m| m));
}

mod finetune_data {
    use super::*;
    use crate::finetune::{DataError, FinetuneRun, Settings, example_line, parse_data};

    const DOC: &str = r#"{
  "format": "nous-finetune-v1",
  "examples": [
    {
      "state": STATE,
      "query": "free some memory",
      "command": "memctl compact"
    },
    {
      "state": STATE,
      "query": "QUERY",
      "command": "COMMAND"
    }
  ]
}"#;

    const STATE: &str = r#"{"mem_total_kib": 131072, "mem_free_kib": 30720, "frag_index": 64, "crash_risk": "high", "crash_confidence": 81, "sched": {"policy": "round_robin", "runnable": 5, "context_switches": 123456}, "io": {"reads": 420, "writes": 12, "pending": 1}, "top_cpu": [], "top_growth": []}"#;

    fn doc(query: &str, command: &str) -> String {
        DOC.replace("STATE", STATE)
            .replace("QUERY", query)
            .replace("COMMAND", command)
    }

    fn setup() -> (Tokenizer, Specials) {
        let tok = tokenizer_for(1, 200, 350);
        let sp = specials(&tok).unwrap();
        (tok, sp)
    }

    #[test]
    fn example_lines_are_found() {
        let text = doc("hello", "meminfo");
        assert_eq!(example_line(text.as_bytes(), 0), Some(4));
        assert_eq!(example_line(text.as_bytes(), 1), Some(9));
        assert_eq!(example_line(text.as_bytes(), 2), None);
        // Brackets inside strings do not count.
        let tricky = r#"{"description": "[{", "examples": [1, {"a": "]"}, 3]}"#;
        assert_eq!(example_line(tricky.as_bytes(), 2), Some(1));
    }

    #[test]
    fn good_data_parses_into_sequences() {
        let (tok, sp) = setup();
        let (records, examples) =
            parse_data(doc("hello", "meminfo").as_bytes(), &tok, sp, 256).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(examples.len(), 2);
    }

    #[test]
    fn bad_data_names_the_line() {
        let (tok, sp) = setup();
        let unknown = parse_data(doc("hello", "rm -rf /").as_bytes(), &tok, sp, 256).unwrap_err();
        assert_eq!(unknown.line, 9, "{unknown}");
        assert!(unknown.message.contains("example 1: command"), "{unknown}");
        let broken = parse_data(
            b"{\n\"format\": \"nous-finetune-v1\",\n\"examples\": [,]}",
            &tok,
            sp,
            256,
        )
        .unwrap_err();
        assert_eq!(broken.line, 3, "{broken}");
        assert!(broken.message.contains("not valid JSON"), "{broken}");
        let long_query = "word ".repeat(12);
        // A context one position longer than the short example: the long one overflows it.
        let (_, short) = parse_data(doc("hello", "meminfo").as_bytes(), &tok, sp, 256).unwrap();
        let limit = short[0].tokens.len() + 1;
        let long = parse_data(doc(&long_query, "meminfo").as_bytes(), &tok, sp, limit).unwrap_err();
        assert_eq!(long.line, 9, "{long}");
        assert!(long.message.contains("too long"), "{long}");
        let field = parse_data(
            doc("hello", "meminfo")
                .replace("\"query\": \"hello\"", "\"qery\": \"hello\"")
                .as_bytes(),
            &tok,
            sp,
            256,
        )
        .unwrap_err();
        assert_eq!(field.line, 9, "{field}");
        let empty = parse_data(
            br#"{"format": "nous-finetune-v1", "examples": []}"#,
            &tok,
            sp,
            256,
        )
        .unwrap_err();
        assert_eq!(
            empty,
            DataError {
                line: 0,
                message: "fine-tune data has no examples".into()
            }
        );
    }

    /// A run takes epochs × ⌈n / batch⌉ steps, lowers the loss on its data, and the adapters
    /// round-trip through PEFT files.
    #[test]
    fn a_run_trains_and_its_adapter_round_trips() {
        let (tok, sp) = setup();
        let cfg = small_config(tok.vocab_size());
        let model = LlamaModel::new_random(cfg.clone(), 3).unwrap();
        let text = doc("hello", "meminfo");
        let (_, examples) = parse_data(text.as_bytes(), &tok, sp, 256).unwrap();
        let settings = Settings {
            epochs: 20,
            batch: 1,
            lr: 1e-2,
            ..Settings::default()
        };
        let mut run = FinetuneRun::new(&model, examples, &settings).unwrap();
        assert_eq!(run.total_steps, 40);
        let first = run.step().unwrap();
        while !run.finished() {
            run.step().unwrap();
        }
        assert!(run.loss < first, "{first} -> {}", run.loss);
        let adapters = run.into_adapters();
        let peft = adapters.to_peft().unwrap();
        let back = llm::LoraAdapters::from_peft(
            &cfg,
            peft.adapter_config_json.as_bytes(),
            &peft.adapter_model_safetensors,
        )
        .unwrap();
        assert_eq!(back.to_peft().unwrap(), peft);
    }

    #[test]
    fn adapter_names_cannot_be_paths() {
        use crate::finetune::valid_adapter_name;
        assert!(valid_adapter_name("ft-1"));
        for bad in ["", "../x", "a/b", "-x", "Big", ".tmp", &"x".repeat(33)] {
            assert!(!valid_adapter_name(bad), "{bad}");
        }
    }
}

/// The confidence is a probability; with thresholds of 0 nothing is withheld, with a
/// threshold above 1 every non-refusal becomes `refuse: unclear`, and the model's own
/// answer is kept.
#[test]
fn abstention_withholds_unsure_answers_and_keeps_refusals() {
    let tok = tokenizer_for(2, 300, 400);
    let sp = specials(&tok).unwrap();
    let model = LlamaModel::new_random(small_config(tok.vocab_size()), 11).unwrap();
    let always = Abstention {
        min_confidence: 1.5,
        min_confidence_state_changing: 1.5,
    };
    for e in generate(Split::Test, 4, 6) {
        let p = predict_answer(&model, &tok, sp, &e.prompt(), Abstention::OFF).unwrap();
        assert!((0.0..=1.0).contains(&p.confidence), "{}", p.confidence);
        assert!(p.abstained_from.is_none());
        let q = predict_answer(&model, &tok, sp, &e.prompt(), always).unwrap();
        if p.text.starts_with("refuse") {
            assert_eq!(q.text, p.text);
        } else {
            assert_eq!(q.text, ABSTAIN_TEXT);
            assert_eq!(q.abstained_from.as_deref(), Some(p.text.as_str()));
        }
    }
}

/// State-changing answers face the stricter threshold; refusals are never withheld; an
/// answer outside the grammar always is.
#[test]
fn the_state_changing_threshold_is_separate() {
    let policy = Abstention {
        min_confidence: 0.5,
        min_confidence_state_changing: 0.9,
    };
    assert!(!policy.abstains("memctl stats", 0.6));
    assert!(policy.abstains("memctl stats", 0.4));
    assert!(policy.abstains("memctl compact", 0.8));
    assert!(policy.abstains("memctl stats; crashctl tune 20", 0.8));
    assert!(!policy.abstains("memctl compact", 0.95));
    assert!(!policy.abstains("refuse: destructive", 0.0));
    assert!(policy.abstains("rm /", 1.0));
    assert!(!Abstention::OFF.abstains("crashctl auto off", 0.0));
}

/// `log_prob` is normalised over the unmasked logits (masked ones have probability 0).
#[test]
fn log_prob_is_a_normalised_log_probability() {
    let logits = [0.0f32, 1.0, f32::NEG_INFINITY, 2.0];
    let total: f32 = (0..4).map(|t| libm::expf(log_prob(&logits, t))).sum();
    assert!((total - 1.0).abs() < 1e-5, "{total}");
    assert_eq!(log_prob(&logits, 2), f32::NEG_INFINITY);
    assert!(log_prob(&[0.0, 50.0], 1) > -1e-6);
}

/// With an adapter the looser thresholds apply; both are probabilities and the
/// state-changing threshold is never the looser one.
#[test]
fn the_kernel_picks_the_thresholds_by_adapter() {
    assert_eq!(abstention_for(false), ABSTENTION);
    assert_eq!(abstention_for(true), ADAPTER_ABSTENTION);
    for p in [ABSTENTION, ADAPTER_ABSTENTION] {
        assert!((0.0..=1.0).contains(&p.min_confidence));
        assert!(p.min_confidence_state_changing >= p.min_confidence);
        assert!(p.min_confidence_state_changing <= 1.0);
    }
}

/// `answer_timed` is the prompt, the constrained decode and the shipped abstention for the
/// adapter setting, nothing else: the same text as doing the three steps by hand.
#[test]
fn answer_timed_is_prompt_decode_and_abstention() {
    let tok = tokenizer_for(2, 300, 400);
    let sp = specials(&tok).unwrap();
    let model = LlamaModel::new_random(small_config(tok.vocab_size()), 13).unwrap();
    for e in eval_examples(TaskSplit::Validation, 3, 6) {
        let (state, query, _) = &e;
        for adapter in [false, true] {
            let got = answer_timed(&model, &tok, sp, state, query, adapter, &|| 0).unwrap();
            let want_prompt = prompt(state, "", query);
            let mut want = predict_timed(&model, &tok, sp, &want_prompt, true, &|| 0).unwrap();
            want.abstain(abstention_for(adapter));
            assert_eq!(got.prompt, want_prompt);
            assert_eq!(got.prediction, want);
        }
    }
}

/// The fingerprint depends on every answer and on their order, and splitting one answer in
/// two changes it (the separator is hashed).
#[test]
fn answer_fingerprint_sees_content_order_and_boundaries() {
    let of = |answers: &[&str]| {
        let mut f = AnswerFingerprint::default();
        for a in answers {
            f.push(a);
        }
        f
    };
    let base = of(&["memctl stats", "refuse: unclear"]);
    assert_eq!(base, of(&["memctl stats", "refuse: unclear"]));
    assert_ne!(base, of(&["refuse: unclear", "memctl stats"]));
    assert_ne!(base, of(&["memctl stats", "refuse: unclear."]));
    assert_ne!(of(&["ab"]), of(&["a", "b"]));
    assert_ne!(of(&[]), of(&[""]));
    // FNV-1a 64 of "a\n", computed outside Rust with the published parameters (the same
    // script gives the published 0xaf63dc4c8601ec8c for "a").
    assert_eq!(of(&["a"]).value(), 0x089b_dc07_b544_e7b2);
    assert_eq!(format!("{}", of(&[])), "cbf29ce484222325");
}
