//! Properties of the language front end: no input can panic the lexer or parser, and every
//! command prints to text that parses back to the same command (what `history` relies on).
//!
//! `make test` runs a bounded number of cases; `FUZZ_CASES=1000000 cargo test --release
//! --test language_fuzz` runs the million-input campaign recorded in BENCHMARKS.md.

use proptest::prelude::*;
use tms::lang::commands::COMMANDS;
use tms::lang::parse;
use tms::settings::SETTINGS;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

/// Pieces that real scripts are made of, so random sequences often form valid commands.
fn piece() -> impl Strategy<Value = String> {
    let command = proptest::sample::select(COMMANDS.iter().map(|c| c.name).collect::<Vec<_>>())
        .prop_map(String::from);
    let setting = proptest::sample::select(SETTINGS.iter().map(|s| s.name).collect::<Vec<_>>())
        .prop_map(String::from);
    let word = proptest::sample::select(vec![
        "new",
        "notes",
        "last",
        "limit",
        "where",
        "title",
        "notes",
        "~",
        "loop",
        "overwrite",
        "on",
        "off",
        "in",
        "out",
        "cc",
        "temperature",
        "top_k",
        "bars",
        "grid",
        "end",
        "tonic",
        "scale",
        "program",
        "tempo",
        "soundfont",
        "rate",
        "pitch",
        "step",
        "duration",
        "sgd",
        "adam",
        "embed",
        "scalar",
        "best",
        "cpu",
        "auto",
        "cuda:0",
        ";",
        "\n",
        "#c\n",
    ])
    .prop_map(String::from);
    let number = prop_oneof![
        (0u64..200).prop_map(|n| n.to_string()),
        (-5.0f64..5.0).prop_map(|x| format!("{x}")),
        Just("1e-3".to_string()),
        Just("-3".to_string()),
    ];
    let string = prop_oneof![
        "[a-zA-Z0-9 ./*#_-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        Just("\"D yu\"".to_string()),
        Just("\"C4 D4/2 E4*2 r G4\"".to_string()),
        Just("\"flute\"".to_string()),
        Just("\"1/8t\"".to_string()),
        Just("\"a \\\"q\\\" \\\\ b\"".to_string()),
    ];
    prop_oneof![3 => command, 2 => setting, 2 => word, 2 => number, 2 => string]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,80}") {
        let _ = parse(&src);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn printed_commands_parse_back_the_same(pieces in proptest::collection::vec(piece(), 1..8)) {
        let src = pieces.join(" ");
        let parsed = parse(&src);
        for stmt in &parsed.stmts {
            let printed = stmt.cmd.to_string();
            let again = parse(&printed);
            prop_assert!(again.errors.is_empty(), "`{}` printed as `{}` does not parse: {:?}", src, printed, again.errors);
            prop_assert_eq!(again.stmts.len(), 1);
            prop_assert_eq!(&again.stmts[0].cmd, &stmt.cmd);
        }
        // Errors always point inside the text (or just past its end).
        for e in &parsed.errors {
            let span = e.span.expect("syntax errors have spans");
            prop_assert!(span.offset <= src.len());
            let _ = tms::error::render(e, "f.tms", &src, false);
        }
    }
}

#[test]
fn every_command_has_help_and_a_parsing_example() {
    for c in COMMANDS {
        let parsed = parse(c.example);
        assert!(
            parsed.errors.is_empty(),
            "example of `{}` fails: {:?}",
            c.name,
            parsed.errors
        );
        assert_eq!(parsed.stmts.len(), 1, "example of `{}`", c.name);
        assert!(!c.summary.is_empty() && c.usage.starts_with(c.name));
        let printed = parsed.stmts[0].cmd.to_string();
        assert_eq!(
            parse(&printed).stmts[0].cmd,
            parsed.stmts[0].cmd,
            "{printed}"
        );
    }
}
