//! Command registry: registration rules, dispatch, every error message, `help`, introspection;
//! the synopsis grammar and the argument counts the registry enforces from it; the `Shell`
//! wiring of editor and registry; and a property test that feeds random bytes through the whole
//! shell.

use proptest::prelude::*;
use shell::{
    Arity, CommandError, CommandRegistry, DispatchStatus, Invocation, LineEditor, NUMBER_GRAMMAR,
    RegisterError, ResolveError, Shell, Subcommand, SubcommandInfo, SynopsisError,
    expect_arg_count, optional_arg, parse_arg, parse_synopsis, required_arg,
};
use std::fmt::Write;

/// Stands in for the kernel: state the commands read and change.
#[derive(Debug, Default)]
struct Kernel {
    compacted_pages: u64,
    /// How many times a handler ran.
    calls: u32,
}

fn echo(kernel: &mut Kernel, args: &[&str], out: &mut dyn Write) -> Result<(), CommandError> {
    kernel.calls += 1;
    writeln!(out, "{}", args.join(" "))?;
    Ok(())
}

/// Counts its runs and prints its argument count; registered under many synopses.
fn count(kernel: &mut Kernel, args: &[&str], out: &mut dyn Write) -> Result<(), CommandError> {
    kernel.calls += 1;
    writeln!(out, "{}", args.len())?;
    Ok(())
}

fn add(_: &mut Kernel, args: &[&str], out: &mut dyn Write) -> Result<(), CommandError> {
    let a: u64 = parse_arg("A", required_arg(args, 0, "A")?)?;
    let b: u64 = parse_arg("B", required_arg(args, 1, "B")?)?;
    let sum = a
        .checked_add(b)
        .ok_or_else(|| CommandError::failed("sum overflows u64"))?;
    writeln!(out, "{sum}")?;
    Ok(())
}

fn fail(_: &mut Kernel, _: &[&str], _: &mut dyn Write) -> Result<(), CommandError> {
    Err(CommandError::failed("disk on fire\nsecond line"))
}

fn stats(kernel: &mut Kernel, _: &[&str], out: &mut dyn Write) -> Result<(), CommandError> {
    kernel.calls += 1;
    writeln!(out, "compacted {}", kernel.compacted_pages)?;
    Ok(())
}

fn compact(kernel: &mut Kernel, args: &[&str], _: &mut dyn Write) -> Result<(), CommandError> {
    kernel.calls += 1;
    kernel.compacted_pages += optional_arg::<u64>(args, 0, "PAGES")?.unwrap_or(1);
    Ok(())
}

/// Like the kernel's `memctl stress`: the synopsis allows 1-2 arguments over its alternatives,
/// and the handler checks the finer rule that `stop` takes no seed.
fn stress(kernel: &mut Kernel, args: &[&str], out: &mut dyn Write) -> Result<(), CommandError> {
    kernel.calls += 1;
    match required_arg(args, 0, "SCENARIO")? {
        "stop" | "status" => expect_arg_count(args, 1, 1)?,
        _ => {
            let seed = optional_arg::<u64>(args, 1, "SEED")?.unwrap_or(1);
            writeln!(out, "seed {seed}")?;
        }
    }
    Ok(())
}

const MEMCTL: &[Subcommand<Kernel>] = &[
    Subcommand {
        name: "stats",
        usage: "",
        summary: "allocator statistics",
        handler: stats,
    },
    Subcommand {
        name: "compact",
        usage: "[PAGES]",
        summary: "compact free memory",
        handler: compact,
    },
    Subcommand {
        name: "stress",
        usage: "<leak|bursty> [SEED] | stop | status",
        summary: "run a workload",
        handler: stress,
    },
];

fn registry() -> CommandRegistry<Kernel> {
    let mut registry = CommandRegistry::new();
    registry
        .register("echo", "print the arguments", "[TEXT...]", echo)
        .unwrap();
    registry
        .register("add", "add two numbers", "<A> <B>", add)
        .unwrap();
    registry.register("fail", "always fails", "", fail).unwrap();
    registry
        .register_group("memctl", "memory allocator controls", MEMCTL)
        .unwrap();
    registry
}

fn dispatch(
    registry: &CommandRegistry<Kernel>,
    kernel: &mut Kernel,
    line: &str,
) -> (DispatchStatus, String) {
    let mut out = String::new();
    let status = registry.dispatch(kernel, line, &mut out);
    (status, out)
}

fn run(line: &str) -> (DispatchStatus, String) {
    dispatch(&registry(), &mut Kernel::default(), line)
}

#[test]
fn empty_and_blank_lines_do_nothing() {
    assert_eq!(run(""), (DispatchStatus::Empty, String::new()));
    assert_eq!(run(" \t "), (DispatchStatus::Empty, String::new()));
}

#[test]
fn commands_get_their_split_arguments() {
    assert_eq!(
        run(r#"echo "a  b"   c "say \"hi\"""#),
        (DispatchStatus::Success, "a  b c say \"hi\"\n".into())
    );
    assert_eq!(run("add 2 16"), (DispatchStatus::Success, "18\n".into()));
}

/// The issue's item 10: `0x10` and `+5` used to be integers for some commands. One grammar now
/// refuses them everywhere (this test failed before the change: `add 2 0x10` printed 18).
#[test]
fn numbers_are_plain_decimal_everywhere() {
    for (line, text) in [
        ("add 2 0x10", "0x10"),
        ("add 2 +5", "+5"),
        ("add 2 1e1", "1e1"),
        ("add 2 2.0", "2.0"),
    ] {
        assert_eq!(
            run(line),
            (
                DispatchStatus::BadArguments,
                format!(
                    "error: add: B: expected an integer (decimal digits only), got '{text}'\n\
                     usage: add <A> <B>\n"
                )
            ),
            "{line}"
        );
    }
    assert_eq!(
        run("memctl compact 0x10"),
        (
            DispatchStatus::BadArguments,
            "error: memctl compact: PAGES: expected an integer (decimal digits only), got '0x10'\n\
             usage: memctl compact [PAGES]\n"
                .into()
        )
    );
    assert_eq!(run("add 007 010"), (DispatchStatus::Success, "17\n".into()));
}

#[test]
fn unknown_command_points_to_help() {
    assert_eq!(
        run("xyz 1 2"),
        (
            DispatchStatus::NotFound,
            "error: unknown command 'xyz' (type 'help' for a list)\n".into()
        )
    );
    // Whatever was typed, the error stays one line.
    assert_eq!(
        run("\"a\nb\""),
        (
            DispatchStatus::NotFound,
            "error: unknown command 'a\\nb' (type 'help' for a list)\n".into()
        )
    );
}

#[test]
fn unterminated_quote_is_a_syntax_error() {
    assert_eq!(
        run(r#"echo "abc"#),
        (
            DispatchStatus::BadArguments,
            "error: unterminated quote (opened at column 6)\n".into()
        )
    );
}

#[test]
fn usage_errors_print_the_message_and_the_usage_line() {
    assert_eq!(
        run("add 1"),
        (
            DispatchStatus::BadArguments,
            "error: add: expected at least 2 arguments, got 1\nusage: add <A> <B>\n".into()
        )
    );
    assert_eq!(
        run("add 1 x"),
        (
            DispatchStatus::BadArguments,
            "error: add: B: expected an integer (decimal digits only), got 'x'\n\
             usage: add <A> <B>\n"
                .into()
        )
    );
    assert_eq!(
        run("add 1 2 3"),
        (
            DispatchStatus::BadArguments,
            "error: add: expected at most 2 arguments, got 3\nusage: add <A> <B>\n".into()
        )
    );
}

#[test]
fn failures_print_one_error_line() {
    assert_eq!(
        run("add 18446744073709551615 1"),
        (
            DispatchStatus::Failed,
            "error: add: sum overflows u64\n".into()
        )
    );
    assert_eq!(
        run("fail"),
        (
            DispatchStatus::Failed,
            "error: fail: disk on fire\\nsecond line\n".into()
        )
    );
}

#[test]
fn groups_dispatch_to_subcommands() {
    let registry = registry();
    let mut kernel = Kernel::default();
    assert_eq!(
        dispatch(&registry, &mut kernel, "memctl compact 5"),
        (DispatchStatus::Success, String::new())
    );
    assert_eq!(
        dispatch(&registry, &mut kernel, "memctl compact"),
        (DispatchStatus::Success, String::new())
    );
    assert_eq!(
        dispatch(&registry, &mut kernel, "memctl stats"),
        (DispatchStatus::Success, "compacted 6\n".into())
    );
}

#[test]
fn group_errors_name_the_expected_subcommands() {
    assert_eq!(
        run("memctl"),
        (
            DispatchStatus::NotFound,
            "error: memctl: missing subcommand (expected one of: stats, compact, stress)\n".into()
        )
    );
    assert_eq!(
        run("memctl x"),
        (
            DispatchStatus::NotFound,
            "error: memctl: unknown subcommand 'x' (expected one of: stats, compact, stress)\n"
                .into()
        )
    );
    assert_eq!(
        run("memctl compact lots"),
        (
            DispatchStatus::BadArguments,
            "error: memctl compact: PAGES: expected an integer (decimal digits only), got 'lots'\n\
             usage: memctl compact [PAGES]\n"
                .into()
        )
    );
    assert_eq!(
        run("memctl stats now"),
        (
            DispatchStatus::BadArguments,
            "error: memctl stats: takes no arguments, got 1\nusage: memctl stats\n".into()
        )
    );
}

#[test]
fn help_lists_every_command_sorted() {
    assert_eq!(
        run("help"),
        (
            DispatchStatus::Success,
            "  add     add two numbers\n\
             \x20 echo    print the arguments\n\
             \x20 fail    always fails\n\
             \x20 help    list the commands, or show how to use one\n\
             \x20 memctl  memory allocator controls\n\
             \n\
             numbers: an integer is decimal digits only (4096); a fraction is digits, a point, \
             digits (0.55); no sign, 0x, _, exponent, inf or nan\n"
                .into()
        )
    );
}

#[test]
fn help_for_one_command_shows_its_usage() {
    assert_eq!(
        run("help echo"),
        (
            DispatchStatus::Success,
            "echo - print the arguments\nusage: echo [TEXT...]\n".into()
        )
    );
    assert_eq!(
        run("help fail"),
        (
            DispatchStatus::Success,
            "fail - always fails\nusage: fail\n".into()
        )
    );
    assert_eq!(
        run("help memctl"),
        (
            DispatchStatus::Success,
            "memctl - memory allocator controls\n\
             usage: memctl stats|compact|stress ...\n\
             subcommands:\n\
             \x20 stats                                        allocator statistics\n\
             \x20 compact [PAGES]                              compact free memory\n\
             \x20 stress <leak|bursty> [SEED] | stop | status  run a workload\n"
                .into()
        )
    );
    assert_eq!(
        run("help memctl compact"),
        (
            DispatchStatus::Success,
            "memctl compact - compact free memory\nusage: memctl compact [PAGES]\n".into()
        )
    );
    assert_eq!(
        run("help help"),
        (
            DispatchStatus::Success,
            "help - list the commands, or show how to use one\n\
             usage: help [COMMAND [SUBCOMMAND]]\n"
                .into()
        )
    );
}

#[test]
fn help_errors() {
    assert_eq!(
        run("help xyz"),
        (
            DispatchStatus::NotFound,
            "error: help: unknown command 'xyz'\n".into()
        )
    );
    assert_eq!(
        run("help memctl x"),
        (
            DispatchStatus::NotFound,
            "error: help: memctl: unknown subcommand 'x' (expected one of: stats, compact, stress)\n"
                .into()
        )
    );
    assert_eq!(
        run("help echo x"),
        (
            DispatchStatus::NotFound,
            "error: help: 'echo' has no subcommands\n".into()
        )
    );
    assert_eq!(
        run("help a b c"),
        (
            DispatchStatus::BadArguments,
            "error: help: expected at most 2 arguments, got 3\n\
             usage: help [COMMAND [SUBCOMMAND]]\n"
                .into()
        )
    );
}

#[test]
fn duplicate_and_invalid_registrations_are_refused_and_change_nothing() {
    let mut registry = registry();
    assert_eq!(
        registry.register("echo", "impostor", "", fail),
        Err(RegisterError::Duplicate("echo"))
    );
    assert_eq!(
        registry.register("help", "impostor", "", fail),
        Err(RegisterError::Duplicate("help"))
    );
    assert_eq!(
        registry.register_group("memctl", "impostor", MEMCTL),
        Err(RegisterError::Duplicate("memctl"))
    );
    for name in [
        "",
        "two words",
        "-flag",
        "quo\"te",
        "ünï",
        "x23456789012345678901234567890123",
    ] {
        assert_eq!(
            registry.register(name, "", "", echo),
            Err(RegisterError::InvalidName(name))
        );
    }
    assert_eq!(
        registry.register_group("empty", "", &[]),
        Err(RegisterError::EmptyGroup("empty"))
    );
    let twice = [MEMCTL[0], MEMCTL[1], MEMCTL[0]];
    assert_eq!(
        registry.register_group("twice", "", &twice),
        Err(RegisterError::DuplicateSubcommand {
            command: "twice",
            subcommand: "stats"
        })
    );
    let bad = [Subcommand {
        name: "has space",
        ..MEMCTL[0]
    }];
    assert_eq!(
        registry.register_group("bad", "", &bad),
        Err(RegisterError::InvalidSubcommandName {
            command: "bad",
            subcommand: "has space"
        })
    );
    assert_eq!(
        RegisterError::Duplicate("echo").to_string(),
        "command 'echo' is already registered"
    );

    // The originals still answer.
    assert_eq!(
        dispatch(&registry, &mut Kernel::default(), "echo still here"),
        (DispatchStatus::Success, "still here\n".into())
    );
    let names: Vec<&str> = registry.commands().map(|c| c.name).collect();
    assert_eq!(names, ["add", "echo", "fail", "help", "memctl"]);
}

#[test]
fn the_command_list_is_introspectable() {
    let registry = registry();
    let listed: Vec<(&str, &str)> = registry.commands().map(|c| (c.name, c.summary)).collect();
    assert_eq!(
        listed,
        [
            ("add", "add two numbers"),
            ("echo", "print the arguments"),
            ("fail", "always fails"),
            ("help", "list the commands, or show how to use one"),
            ("memctl", "memory allocator controls"),
        ]
    );
    let memctl = registry.command("memctl").unwrap();
    assert_eq!(
        memctl.subcommands,
        [
            SubcommandInfo {
                name: "stats",
                usage: "",
                summary: "allocator statistics",
                arity: Arity::NONE,
            },
            SubcommandInfo {
                name: "compact",
                usage: "[PAGES]",
                summary: "compact free memory",
                arity: Arity {
                    min: 0,
                    max: Some(1)
                },
            },
            SubcommandInfo {
                name: "stress",
                usage: "<leak|bursty> [SEED] | stop | status",
                summary: "run a workload",
                arity: Arity {
                    min: 1,
                    max: Some(2)
                },
            },
        ]
    );
    assert_eq!(memctl.arity, None, "a group's subcommands have the arities");
    assert!(registry.command("echo").unwrap().subcommands.is_empty());
    assert_eq!(
        registry.command("echo").unwrap().arity,
        Some(Arity { min: 0, max: None })
    );
    assert_eq!(
        registry.command("add").unwrap().arity,
        Some(Arity {
            min: 2,
            max: Some(2)
        })
    );
    assert_eq!(
        registry.command("help").unwrap().arity,
        Some(Arity {
            min: 0,
            max: Some(2)
        })
    );
    assert!(registry.command("nope").is_none());
}

#[test]
fn resolve_inspects_a_line_without_running_it() {
    let registry = registry();
    let invocation = registry.resolve("memctl compact 5").unwrap().unwrap();
    assert_eq!(
        invocation,
        Invocation {
            command: "memctl",
            subcommand: Some("compact"),
            args: vec!["5".into()],
        }
    );
    assert_eq!(invocation.path(), "memctl compact");
    assert_eq!(registry.resolve("  "), Ok(None));
    assert_eq!(
        registry.resolve("nope"),
        Err(ResolveError::UnknownCommand("nope".into()))
    );

    // An allowlist passes it on; execute runs exactly what was resolved.
    let mut kernel = Kernel::default();
    let mut out = String::new();
    assert_eq!(
        registry.execute(&mut kernel, &invocation, &mut out),
        DispatchStatus::Success
    );
    assert_eq!(kernel.compacted_pages, 5);

    // A hand-made invocation that does not fit the table is refused, not guessed at.
    let odd = Invocation {
        command: "echo",
        subcommand: Some("x"),
        args: vec![],
    };
    assert_eq!(
        registry.execute(&mut kernel, &odd, &mut out),
        DispatchStatus::NotFound
    );
    let missing = Invocation {
        command: "memctl",
        subcommand: None,
        args: vec![],
    };
    assert_eq!(
        registry.execute(&mut kernel, &missing, &mut out),
        DispatchStatus::NotFound
    );
}

/// A writer that always fails, like a broken serial line.
struct Broken;

impl Write for Broken {
    fn write_str(&mut self, _: &str) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

#[test]
fn output_failures_are_reported_as_such() {
    let registry = registry();
    let mut kernel = Kernel::default();
    assert_eq!(
        registry.dispatch(&mut kernel, "echo hi", &mut Broken),
        DispatchStatus::OutputFailed
    );
    assert_eq!(
        registry.dispatch(&mut kernel, "xyz", &mut Broken),
        DispatchStatus::OutputFailed
    );
    assert_eq!(
        registry.dispatch(&mut kernel, "help", &mut Broken),
        DispatchStatus::OutputFailed
    );
    let mut shell = Shell::new(registry, "> ");
    assert_eq!(shell.feed(&mut kernel, b'x', &mut Broken), None);
    assert_eq!(
        shell.feed(&mut kernel, b'\r', &mut Broken),
        Some(DispatchStatus::OutputFailed)
    );
}

fn feed_all(
    shell: &mut Shell<Kernel>,
    kernel: &mut Kernel,
    input: &[u8],
) -> (Vec<DispatchStatus>, String) {
    let mut out = String::new();
    let statuses = input
        .iter()
        .filter_map(|&byte| shell.feed(kernel, byte, &mut out))
        .collect();
    (statuses, out)
}

#[test]
fn shell_runs_typed_lines_with_terminal_line_ends() {
    let mut shell = Shell::new(registry(), "nous> ");
    let mut kernel = Kernel::default();
    let mut out = String::new();
    shell.start(&mut out).unwrap();
    assert_eq!(out, "nous> ");
    assert_eq!(
        feed_all(&mut shell, &mut kernel, b"echo hi\r\nxyz\r\n\r\n"),
        (
            vec![DispatchStatus::Success, DispatchStatus::NotFound, DispatchStatus::Empty],
            "echo hi\r\nhi\r\nnous> xyz\r\nerror: unknown command 'xyz' (type 'help' for a list)\r\n\
             nous> \r\nnous> "
                .into()
        )
    );
    assert_eq!(
        feed_all(&mut shell, &mut kernel, b"ec\x03"),
        (vec![], "ec^C\r\nnous> ".into())
    );
}

#[test]
fn shell_answers_overlong_and_non_utf8_lines() {
    let mut shell = Shell::new(registry(), "> ");
    let mut kernel = Kernel::default();
    let (statuses, out) = feed_all(&mut shell, &mut kernel, b"echo \xff\r");
    assert_eq!(statuses, vec![DispatchStatus::BadArguments]);
    assert_eq!(
        out,
        "echo ?\r\nerror: line is not valid UTF-8 (bad byte at offset 5)\r\n> "
    );

    let mut input = b"echo ".to_vec();
    input.resize(300, b'x');
    let (statuses, out) = feed_all(&mut shell, &mut kernel, &input);
    assert!(statuses.is_empty());
    // 256 bytes after the 2-column prompt fill rows of 78, 80, 80 and 18 columns; the 44
    // bytes beyond the limit ring the bell.
    let text = format!("echo {}", "x".repeat(251));
    let wrapped = [&text[..78], &text[78..158], &text[158..238], &text[238..]].join("\r\n");
    assert_eq!(out, format!("{wrapped}{}", "\x07".repeat(44)));
    // Enter refuses the whole line with one error; nothing runs.
    let (statuses, out) = feed_all(&mut shell, &mut kernel, b"\r");
    assert_eq!(statuses, vec![DispatchStatus::BadArguments]);
    assert_eq!(
        out,
        "\r\nerror: line too long (at most 256 bytes); nothing was run\r\n> "
    );
}

#[test]
fn print_above_keeps_the_line_being_typed() {
    let mut shell = Shell::with_editor(LineEditor::with_history(4), registry(), "> ");
    let mut kernel = Kernel::default();
    feed_all(&mut shell, &mut kernel, b"ech\x1b[D");
    let mut out = String::new();
    shell.print_above("thread 7 exited\n", &mut out).unwrap();
    assert_eq!(out, "\r\x1b[Jthread 7 exited\r\n> ech\x1b[1D");
    assert_eq!(shell.editor().line(), b"ech");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random bytes, biased towards the interesting ones, never panic the shell, and every
    /// failed line answers with an `error: ` line.
    #[test]
    fn random_input_never_panics(
        input in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(b"echo help add memctl stats compact 1x\" \\".to_vec()),
                2 => any::<u8>(),
                1 => prop::sample::select(vec![b'\r', b'\n', 0x1b, b'[', b'O', b'A', b'D', 0x7f, 0x03, 0x15]),
            ],
            0..400,
        ),
    ) {
        let mut shell = Shell::new(registry(), "> ");
        let mut kernel = Kernel::default();
        let mut out = String::new();
        for &byte in &input {
            let before = out.len();
            let status = shell.feed(&mut kernel, byte, &mut out);
            prop_assert!(shell.editor().line().len() <= shell::MAX_LINE_BYTES);
            if let Some(
                DispatchStatus::NotFound | DispatchStatus::BadArguments | DispatchStatus::Failed,
            ) = status
            {
                let answer = &out[before..];
                prop_assert!(
                    answer.split("\r\n").any(|row| row.starts_with("error: ")),
                    "{:?}",
                    answer
                );
            }
        }
    }

    /// Any text dispatched directly (as a language model's proposal would be) gets at most an
    /// error line and a usage line, and never panics.
    #[test]
    fn random_lines_get_well_formed_answers(line in any::<String>()) {
        let registry = registry();
        let mut kernel = Kernel::default();
        let mut out = String::new();
        match registry.dispatch(&mut kernel, &line, &mut out) {
            DispatchStatus::NotFound | DispatchStatus::BadArguments | DispatchStatus::Failed => {
                let lines: Vec<&str> = out.lines().collect();
                prop_assert!(!lines.is_empty() && lines.len() <= 2, "{:?}", out);
                prop_assert!(lines[0].starts_with("error: "), "{:?}", out);
                if let Some(second) = lines.get(1) {
                    prop_assert!(second.starts_with("usage: "), "{:?}", out);
                }
            }
            DispatchStatus::Empty => prop_assert!(out.is_empty()),
            DispatchStatus::Success | DispatchStatus::OutputFailed => {}
        }
    }
}

#[test]
fn a_prompt_with_a_line_break_gets_terminal_line_ends_and_the_right_width() {
    let mut shell = Shell::new(registry(), "nous\n> ");
    shell.set_columns(8);
    let mut kernel = Kernel::default();
    let mut out = String::new();
    shell.start(&mut out).unwrap();
    assert_eq!(out, "nous\r\n> ");
    // Only "> " shares the row with the input: the seventh character starts a new row.
    let (_, out) = feed_all(&mut shell, &mut kernel, b"echo xy");
    assert_eq!(out, "echo x\r\ny");
}

#[test]
fn a_group_can_be_extended_by_another_subsystem() {
    let mut registry = CommandRegistry::new();
    registry
        .register_group("memctl", "memory allocator controls", &MEMCTL[..1])
        .unwrap();
    registry.register("echo", "", "", echo).unwrap();
    registry.extend_group("memctl", &MEMCTL[1..2]).unwrap();
    let mut kernel = Kernel::default();
    let (status, _) = dispatch(&registry, &mut kernel, "memctl compact 5");
    assert_eq!(status, DispatchStatus::Success);
    assert_eq!(kernel.compacted_pages, 5);
    let info = registry.command("memctl").unwrap();
    let names: Vec<&str> = info.subcommands.iter().map(|s| s.name).collect();
    assert_eq!(names, ["stats", "compact"]);
    assert_eq!(
        info.usage, "stats|compact ...",
        "the synopsis follows the new table"
    );

    // Errors change nothing.
    assert_eq!(
        registry.extend_group("memctl", &MEMCTL[..1]),
        Err(RegisterError::DuplicateSubcommand {
            command: "memctl",
            subcommand: "stats"
        })
    );
    assert_eq!(
        registry.extend_group("nosuch", MEMCTL),
        Err(RegisterError::NoSuchGroup("nosuch"))
    );
    assert_eq!(
        registry.extend_group("echo", MEMCTL),
        Err(RegisterError::NoSuchGroup("echo")),
        "a plain command is not a group"
    );
    let bad = [Subcommand {
        name: "-x",
        ..MEMCTL[0]
    }];
    assert_eq!(
        registry.extend_group("memctl", &bad),
        Err(RegisterError::InvalidSubcommandName {
            command: "memctl",
            subcommand: "-x"
        })
    );
    assert_eq!(registry.command("memctl").unwrap().subcommands.len(), 2);
}

#[test]
fn shell_refuses_a_line_that_lost_input() {
    let mut shell = Shell::new(registry(), "> ");
    let mut kernel = Kernel::default();
    feed_all(&mut shell, &mut kernel, b"memctl comp");
    shell.input_lost(12);
    let (statuses, out) = feed_all(&mut shell, &mut kernel, b"act 5\r");
    assert_eq!(statuses, vec![DispatchStatus::BadArguments]);
    assert!(
        out.ends_with(
            "error: input was lost while this line was typed (12 bytes dropped); nothing was run\r\n> "
        ),
        "{out:?}"
    );
    assert_eq!(kernel.compacted_pages, 0, "the damaged command did not run");
}

// ---- Arity: read from the synopsis, enforced before the handler ----

/// A registry with one command per synopsis shape, all running `count`.
fn shapes() -> CommandRegistry<Kernel> {
    let mut registry = CommandRegistry::new();
    for (name, usage) in [
        ("none", ""),
        ("one", "<PATH>"),
        ("two", "<FROM> <TO>"),
        ("maybe", "[N]"),
        ("words", "[prometheus|json]"),
        ("text", "[TEXT...]"),
        ("write", "<PATH> <TEXT...>"),
        ("nested", "[COMMAND [SUBCOMMAND]]"),
        ("literal", "on|off"),
    ] {
        registry
            .register(name, "a shape", usage, count)
            .unwrap_or_else(|e| panic!("{usage:?}: {e}"));
    }
    registry
        .register_group(
            "grp",
            "a group",
            &[
                Subcommand {
                    name: "stress",
                    usage: "<leak|bursty|fragment|benign> [SEED] | stop | status",
                    summary: "alternatives",
                    handler: count,
                },
                Subcommand {
                    name: "stats",
                    usage: "",
                    summary: "none",
                    handler: count,
                },
            ],
        )
        .unwrap();
    registry
}

/// Runs `line` on `registry` and says whether the handler ran.
fn ran(registry: &CommandRegistry<Kernel>, line: &str) -> (bool, String) {
    let mut kernel = Kernel::default();
    let (status, out) = dispatch(registry, &mut kernel, line);
    assert_eq!(
        status == DispatchStatus::Success,
        kernel.calls == 1,
        "{line}: {status:?} {out:?}"
    );
    (kernel.calls == 1, out)
}

#[test]
fn every_shape_accepts_exactly_its_counts() {
    let registry = shapes();
    // (command, counts 0..=5 accepted?)
    for (command, accepted) in [
        ("none", [true, false, false, false, false, false]),
        ("one", [false, true, false, false, false, false]),
        ("two", [false, false, true, false, false, false]),
        ("maybe", [true, true, false, false, false, false]),
        ("words", [true, true, false, false, false, false]),
        ("text", [true, true, true, true, true, true]),
        ("write", [false, false, true, true, true, true]),
        ("nested", [true, true, true, false, false, false]),
        ("literal", [false, true, false, false, false, false]),
        ("grp stress", [false, true, true, false, false, false]),
        ("grp stats", [true, false, false, false, false, false]),
    ] {
        for (n, want) in accepted.iter().enumerate() {
            let line = format!("{command} {}", vec!["x"; n].join(" "));
            let (did_run, out) = ran(&registry, &line);
            assert_eq!(did_run, *want, "{line:?} printed {out:?}");
            if did_run {
                assert_eq!(out, format!("{n}\n"));
            }
        }
    }
}

#[test]
fn a_wrong_count_is_one_message_and_the_usage_line() {
    let registry = shapes();
    for (line, message) in [
        ("none x", "takes no arguments, got 1"),
        ("none a b c", "takes no arguments, got 3"),
        ("one", "expected at least 1 argument, got 0"),
        ("one a b", "expected at most 1 argument, got 2"),
        ("two a", "expected at least 2 arguments, got 1"),
        ("two a b c", "expected at most 2 arguments, got 3"),
        ("maybe 1 2", "expected at most 1 argument, got 2"),
        ("write /x", "expected at least 2 arguments, got 1"),
        ("nested a b c", "expected at most 2 arguments, got 3"),
        ("grp stress", "expected at least 1 argument, got 0"),
        ("grp stress leak 1 2", "expected at most 2 arguments, got 3"),
        ("grp stats now", "takes no arguments, got 1"),
    ] {
        let invocation = registry.resolve(line).unwrap().unwrap();
        let path = invocation.path();
        let usage = match invocation.subcommand {
            Some(sub) => {
                registry
                    .command(invocation.command)
                    .unwrap()
                    .subcommands
                    .iter()
                    .find(|s| s.name == sub)
                    .unwrap()
                    .usage
            }
            None => registry.command(invocation.command).unwrap().usage,
        };
        let usage_line = if usage.is_empty() {
            format!("usage: {path}")
        } else {
            format!("usage: {path} {usage}")
        };
        let mut kernel = Kernel::default();
        assert_eq!(
            dispatch(&registry, &mut kernel, line),
            (
                DispatchStatus::BadArguments,
                format!("error: {path}: {message}\n{usage_line}\n")
            ),
            "{line}"
        );
        assert_eq!(kernel.calls, 0, "{line}: the handler ran");
    }
}

/// The issue's item 8: extra arguments used to reach handlers that ignored them (`mkdir 1 2 …`
/// made `/1`). With the count in the registry no handler sees them (this failed before).
#[test]
fn extra_arguments_never_reach_a_handler() {
    let registry = registry();
    for line in [
        "fail now",
        "memctl stats x",
        "memctl compact 1 2",
        "add 1 2 3",
        "memctl stress stop now",
    ] {
        let mut kernel = Kernel::default();
        let (status, out) = dispatch(&registry, &mut kernel, line);
        assert_eq!(status, DispatchStatus::BadArguments, "{line}: {out:?}");
        assert!(out.starts_with("error: "), "{line}: {out:?}");
        if line != "memctl stress stop now" {
            assert_eq!(kernel.calls, 0, "{line}: the handler ran");
            assert_eq!(kernel.compacted_pages, 0);
        }
    }
    // `memctl stress stop now` fits the synopsis's 1-2 arguments; the handler refuses it with
    // the same wording (a finer rule the count cannot express).
    assert_eq!(
        run("memctl stress stop now"),
        (
            DispatchStatus::BadArguments,
            "error: memctl stress: expected at most 1 argument, got 2\n\
             usage: memctl stress <leak|bursty> [SEED] | stop | status\n"
                .into()
        )
    );
    assert_eq!(
        run("memctl stress leak 7"),
        (DispatchStatus::Success, "seed 7\n".into())
    );
}

#[test]
fn unbounded_commands_take_any_number() {
    let words: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let line = format!("echo {}", words.join(" "));
    assert_eq!(
        run(&line),
        (DispatchStatus::Success, format!("{}\n", words.join(" ")))
    );
    assert_eq!(run("echo"), (DispatchStatus::Success, "\n".into()));
    let registry = shapes();
    assert_eq!(
        ran(&registry, "write /f a b c d e f g"),
        (true, "8\n".into())
    );
}

#[test]
fn help_keeps_its_own_count() {
    assert_eq!(
        run("help memctl stats extra"),
        (
            DispatchStatus::BadArguments,
            "error: help: expected at most 2 arguments, got 3\n\
             usage: help [COMMAND [SUBCOMMAND]]\n"
                .into()
        )
    );
    let (status, out) = run("help");
    assert_eq!(status, DispatchStatus::Success);
    assert!(
        out.ends_with(&format!("\n\n{NUMBER_GRAMMAR}\n")),
        "help ends with the number grammar: {out:?}"
    );
}

// ---- The synopsis grammar, rule by rule ----

fn arity(min: usize, max: Option<usize>) -> Result<Arity, SynopsisError> {
    Ok(Arity { min, max })
}

#[test]
fn synopsis_rules() {
    for (synopsis, expected, rule) in [
        ("", arity(0, Some(0)), "empty: no arguments"),
        ("<X>", arity(1, Some(1)), "<X> is required"),
        ("[X]", arity(0, Some(1)), "[X] is optional"),
        ("stop", arity(1, Some(1)), "a literal word is one argument"),
        ("<A> <B> <C>", arity(3, Some(3)), "items add up"),
        (
            "<A> [B] [C]",
            arity(1, Some(3)),
            "optional items add to the maximum",
        ),
        (
            "<X...>",
            arity(1, None),
            "... after a required name: one or more",
        ),
        (
            "[X...]",
            arity(0, None),
            "... after an optional name: any number",
        ),
        ("<A> <B...>", arity(2, None), "... at the end"),
        ("<A...> <B>", arity(2, None), "... on an earlier item"),
        ("FILE...", arity(1, None), "... on a literal"),
        (
            "<on|off>",
            arity(1, Some(1)),
            "a|b inside an item is one argument",
        ),
        ("[a|b|c]", arity(0, Some(1)), "an optional choice"),
        ("<a|b...>", arity(1, None), "a repeated choice"),
        ("[A [B]]", arity(0, Some(2)), "nested optional"),
        ("[A [B [C]]]", arity(0, Some(3)), "deeper nesting"),
        ("[A B]", arity(0, Some(2)), "an optional pair counts 0-2"),
        (
            "<A> | <B> <C>",
            arity(1, Some(2)),
            "alternatives: min and max",
        ),
        (
            "stop | status",
            arity(1, Some(1)),
            "alternatives of literals",
        ),
        (
            "<a> [b] | stop | status",
            arity(1, Some(2)),
            "memctl stress's shape",
        ),
        (
            "[A...] | <B> <C> <D>",
            arity(0, None),
            "unbounded over alternatives",
        ),
        (
            "<a-b_c.d:e=f/g,h>",
            arity(1, Some(1)),
            "ASCII punctuation in names",
        ),
    ] {
        assert_eq!(parse_synopsis(synopsis), expected, "{synopsis:?}: {rule}");
    }
}

#[test]
fn unreadable_synopses_say_where_and_why() {
    let error = |at, problem| Err(SynopsisError { at, problem });
    for (synopsis, expected) in [
        ("<PATH", error(5, "expected '>' to close the '<'")),
        ("[PATH", error(5, "expected ']' to close the '['")),
        ("PATH>", error(4, "expected ' | ' or the end")),
        ("PATH]", error(4, "']' without a '['")),
        ("<>", error(1, "expected a name")),
        ("[]", error(1, "expected an argument")),
        ("<a b>", error(2, "expected '>' to close the '<'")),
        (
            "<A>  <B>",
            error(4, "expected an argument, found a second space"),
        ),
        (
            " <A>",
            error(0, "expected an argument, found a second space"),
        ),
        ("<A> ", error(4, "expected an argument, found the end")),
        ("<A> |", error(4, "expected an argument")),
        ("<A> | ", error(6, "expected an argument, found the end")),
        ("| <A>", error(0, "expected an argument")),
        ("<A> | | <B>", error(6, "expected an argument")),
        ("<A>|<B>", error(3, "expected ' | ' or the end")),
        ("<a|>", error(3, "expected a name")),
        ("<|a>", error(1, "expected a name")),
        ("<a||b>", error(3, "expected a name")),
        ("<...>", error(1, "expected a name")),
        ("<A...B>", error(2, "'...' may only end a name")),
        ("[A]...", error(3, "expected ' | ' or the end")),
        ("<A> ...", error(4, "expected a name")),
        (
            "[A | B]",
            error(
                3,
                "' | ' separates alternatives only at the top level; inside brackets write a|b",
            ),
        ),
        (
            "<A>\t<B>",
            error(
                3,
                "only ASCII letters, digits, punctuation and single spaces may appear",
            ),
        ),
        (
            "<TEXT…>",
            error(
                5,
                "only ASCII letters, digits, punctuation and single spaces may appear",
            ),
        ),
        ("<A<B>>", error(2, "expected '>' to close the '<'")),
        ("a<b>", error(1, "expected ' | ' or the end")),
    ] {
        assert_eq!(parse_synopsis(synopsis), expected, "{synopsis:?}");
    }
    assert_eq!(
        SynopsisError {
            at: 5,
            problem: "expected '>' to close the '<'"
        }
        .to_string(),
        "expected '>' to close the '<' (at column 6)"
    );
}

#[test]
fn an_unreadable_synopsis_is_a_registration_error_that_changes_nothing() {
    let mut registry = registry();
    let refused = RegisterError::BadSynopsis {
        command: "cat",
        subcommand: None,
        usage: "<PATH",
        error: SynopsisError {
            at: 5,
            problem: "expected '>' to close the '<'",
        },
    };
    assert_eq!(
        registry.register("cat", "print a file", "<PATH", echo),
        Err(refused.clone())
    );
    assert_eq!(
        refused.to_string(),
        "command 'cat' has an unreadable usage '<PATH': expected '>' to close the '<' (at column 6)"
    );
    assert!(registry.command("cat").is_none());

    let bad = [Subcommand {
        name: "eval",
        usage: "<RUNS>  <SEED>",
        summary: "",
        handler: count,
    }];
    let refused_sub = RegisterError::BadSynopsis {
        command: "crashctl",
        subcommand: Some("eval"),
        usage: "<RUNS>  <SEED>",
        error: SynopsisError {
            at: 7,
            problem: "expected an argument, found a second space",
        },
    };
    assert_eq!(
        registry.register_group("crashctl", "", &bad),
        Err(refused_sub.clone())
    );
    assert!(registry.command("crashctl").is_none());
    assert_eq!(
        refused_sub.to_string(),
        "command 'crashctl eval' has an unreadable usage '<RUNS>  <SEED>': \
         expected an argument, found a second space (at column 8)"
    );
    let refused_ext = RegisterError::BadSynopsis {
        command: "memctl",
        subcommand: Some("eval"),
        usage: "<RUNS>  <SEED>",
        error: SynopsisError {
            at: 7,
            problem: "expected an argument, found a second space",
        },
    };
    assert_eq!(
        registry.extend_group("memctl", &bad),
        Err(refused_ext.clone())
    );
    assert_eq!(registry.command("memctl").unwrap().subcommands.len(), 3);

    // The registry remembers every refusal, for subsystems that register at boot.
    assert_eq!(
        registry.registration_errors(),
        [refused, refused_sub, refused_ext]
    );
    assert!(shapes().registration_errors().is_empty());
}

#[test]
fn a_table_of_commands_registers_each_entry_and_keeps_refusals() {
    let mut registry: CommandRegistry<Kernel> = CommandRegistry::new();
    let table: [shell::PlainCommand<Kernel>; 3] = [
        ("echo", "print", "[TEXT...]", echo),
        ("bad name", "refused", "", echo),
        ("add", "sum", "<A> <B>", add),
    ];
    assert_eq!(
        registry.register_all(&table),
        Err(RegisterError::InvalidName("bad name"))
    );
    assert!(registry.command("echo").is_some() && registry.command("add").is_some());
    assert_eq!(registry.registration_errors().len(), 1);
}
