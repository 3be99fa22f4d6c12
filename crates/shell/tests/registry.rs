//! Command registry: registration rules, dispatch, every error message, `help`, introspection;
//! the `Shell` wiring of editor and registry; and a property test that feeds random bytes
//! through the whole shell.

use proptest::prelude::*;
use shell::{
    CommandError, CommandRegistry, DispatchStatus, Invocation, LineEditor, RegisterError,
    ResolveError, Shell, Subcommand, SubcommandInfo, expect_arg_count, optional_arg, parse_arg,
    required_arg,
};
use std::fmt::Write;

/// Stands in for the kernel: state the commands read and change.
#[derive(Debug, Default)]
struct Kernel {
    compacted_pages: u64,
}

fn echo(_: &mut Kernel, args: &[&str], out: &mut dyn Write) -> Result<(), CommandError> {
    writeln!(out, "{}", args.join(" "))?;
    Ok(())
}

fn add(_: &mut Kernel, args: &[&str], out: &mut dyn Write) -> Result<(), CommandError> {
    expect_arg_count(args, 0, 2)?;
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

fn stats(kernel: &mut Kernel, args: &[&str], out: &mut dyn Write) -> Result<(), CommandError> {
    expect_arg_count(args, 0, 0)?;
    writeln!(out, "compacted {}", kernel.compacted_pages)?;
    Ok(())
}

fn compact(kernel: &mut Kernel, args: &[&str], _: &mut dyn Write) -> Result<(), CommandError> {
    expect_arg_count(args, 0, 1)?;
    kernel.compacted_pages += optional_arg::<u64>(args, 0, "PAGES")?.unwrap_or(1);
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
];

fn registry() -> CommandRegistry<Kernel> {
    let mut registry = CommandRegistry::new();
    registry
        .register("echo", "print the arguments", "[TEXT...]", echo)
        .unwrap();
    registry
        .register("add", "add two numbers", "A B", add)
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
    assert_eq!(run("add 2 0x10"), (DispatchStatus::Success, "18\n".into()));
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
            "error: add: missing argument B\nusage: add A B\n".into()
        )
    );
    assert_eq!(
        run("add 1 x"),
        (
            DispatchStatus::BadArguments,
            "error: add: B: expected an unsigned integer, got 'x'\nusage: add A B\n".into()
        )
    );
    assert_eq!(
        run("add 1 2 3"),
        (
            DispatchStatus::BadArguments,
            "error: add: expected at most 2 arguments, got 3\nusage: add A B\n".into()
        )
    );
}

#[test]
fn failures_print_one_error_line() {
    assert_eq!(
        run("add 0xffffffffffffffff 1"),
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
            "error: memctl: missing subcommand (expected one of: stats, compact)\n".into()
        )
    );
    assert_eq!(
        run("memctl x"),
        (
            DispatchStatus::NotFound,
            "error: memctl: unknown subcommand 'x' (expected one of: stats, compact)\n".into()
        )
    );
    assert_eq!(
        run("memctl compact lots"),
        (
            DispatchStatus::BadArguments,
            "error: memctl compact: PAGES: expected an unsigned integer, got 'lots'\n\
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
             \x20 memctl  memory allocator controls\n"
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
             usage: memctl stats|compact ...\n\
             subcommands:\n\
             \x20 stats            allocator statistics\n\
             \x20 compact [PAGES]  compact free memory\n"
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
            "error: help: memctl: unknown subcommand 'x' (expected one of: stats, compact)\n"
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
                summary: "allocator statistics"
            },
            SubcommandInfo {
                name: "compact",
                usage: "[PAGES]",
                summary: "compact free memory"
            },
        ]
    );
    assert!(registry.command("echo").unwrap().subcommands.is_empty());
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
    registry.extend_group("memctl", &MEMCTL[1..]).unwrap();
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
