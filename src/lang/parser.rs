//! Stage two: tokens to typed commands. Each command is parsed on its own (commands end at
//! `;` or a line break), so one bad command never hides the errors of the next.

use super::ast::Stmt;
use super::commands::{self, Args};
use super::lexer::{Lexed, Lexer, Syntax, Token, TokenKind};
use crate::error::{Error, ErrorKind};
use crate::ground::text::suggest;

/// Every command that parsed, and every error, in source order.
#[derive(Debug, Default)]
pub struct Parsed {
    pub stmts: Vec<Stmt>,
    pub errors: Vec<Error>,
}

pub fn parse(src: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for item in Statements::new(src) {
        match item {
            Ok(stmt) => parsed.stmts.push(stmt),
            Err(e) => parsed.errors.push(e),
        }
    }
    parsed
}

/// The commands of a text one at a time, with its errors in source order among them. Only
/// one command's tokens are held at once, so checking or running a long script costs memory
/// for its text and not for its tokens or commands.
pub struct Statements<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    group: Vec<Token>,
    /// The line of the last lexing error: the command it broke is reported once, by the
    /// lexer, and not again as a usage error of what is left of it.
    bad_line: Option<usize>,
}

impl<'a> Statements<'a> {
    pub fn new(src: &'a str) -> Statements<'a> {
        Statements {
            src,
            lexer: Lexer::new(src),
            group: Vec::new(),
            bad_line: None,
        }
    }

    fn finish_group(&mut self) -> Option<Result<Stmt, Error>> {
        let first = self.group.first()?;
        let result = (Some(first.span.line) != self.bad_line).then(|| parse_command(&self.group));
        self.group.clear();
        result
    }
}

impl Iterator for Statements<'_> {
    type Item = Result<Stmt, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.lexer.next_item() {
                None => return self.finish_group(),
                Some(Lexed::Error(e)) => {
                    self.bad_line = e.span.map(|s| s.line);
                    let e = commands::unquoted_value(&self.group, e, self.src);
                    return Some(Err(e));
                }
                Some(Lexed::Token(t)) if t.kind == TokenKind::End => {
                    if let Some(result) = self.finish_group() {
                        return Some(result);
                    }
                }
                Some(Lexed::Token(t)) => self.group.push(t),
            }
        }
    }
}

fn parse_command(group: &[Token]) -> Result<Stmt, Error> {
    let first = &group[0];
    let TokenKind::Word(name) = &first.kind else {
        return Err(Error::new(
            first.span,
            ErrorKind::Syntax(Syntax::NotACommand(first.describe())),
        ));
    };
    let lower = name.to_lowercase();
    let spec = commands::lookup(&lower).ok_or_else(|| {
        Error::new(
            first.span,
            ErrorKind::UnknownCommand {
                name: name.clone(),
                suggestion: suggest(name, commands::names()),
            },
        )
    })?;
    let mut args = Args::new(spec, first.span, &group[1..]);
    let cmd = (spec.parse)(&mut args)?;
    let last = group.last().map_or(first.span, |t| t.span);
    Ok(Stmt {
        cmd,
        span: first.span.to(last),
        recorded: spec.history.records(group.len() > 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::render;

    fn first_error(src: &str) -> String {
        let p = parse(src);
        render(&p.errors[0], "t.tms", src, false)
    }

    #[test]
    fn commands_round_trip_through_display() {
        let src = r#"seed 7; set lr 0.01; set optimizer SGD; loss pitch 0.1 step 20
load "a b/*.abc" limit 3 where notes ~ "Zang"
generate 32 scale "D yu" temperature 0.5
write "x.mid" program "flute" tempo 90; connect in "Port"; map cc 1 temperature 0.2 1.5
generate 4 bar end tonic grid off top_k 3; generate 8 grid "1/8T""#;
        let p = parse(src);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let printed: Vec<String> = p.stmts.iter().map(|s| s.cmd.to_string()).collect();
        assert_eq!(printed[2], "set optimizer sgd");
        assert_eq!(printed[6], "write \"x.mid\" program \"Flute\" tempo 90");
        assert_eq!(printed[9], "generate 4 bars top_k 3 grid off end tonic");
        assert_eq!(printed[10], "generate 8 grid \"1/8t\"");
        let again = parse(&printed.join("\n"));
        assert!(again.errors.is_empty(), "{:?}", again.errors);
        let cmds = |p: &Parsed| p.stmts.iter().map(|s| s.cmd.clone()).collect::<Vec<_>>();
        assert_eq!(cmds(&p), cmds(&again));
    }

    /// `history` writes what an interrupted `train` or `generate` did; it must read back.
    #[test]
    fn stopped_runs_round_trip_and_train_stop_stays_itself() {
        let src = "train 50 stop after 494 batches; train stop after 1 batch; train stop; \
                   generate 8 bars temperature 0.8 stop after 1 note; generate 1000000 stop after 5312 notes";
        let p = parse(src);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let printed: Vec<String> = p.stmts.iter().map(|s| s.cmd.to_string()).collect();
        assert_eq!(
            printed,
            [
                "train 50 stop after 494 batches",
                "train stop after 1 batch",
                "train stop",
                "generate 8 bars temperature 0.8 stop after 1 note",
                "generate 1000000 stop after 5312 notes"
            ]
        );
        assert_eq!(
            first_error("train 5 stop"),
            "t.tms:1:13: error: missing `after`; usage: train [N] [background] | train stop | train\n    train 5 stop\n                ^"
        );
        assert!(first_error("generate 5 stop after 0 notes").contains("a note count"));
        assert!(first_error("train 5 stop after 3 epochs").contains("expected `batches`"));
    }

    #[test]
    fn unknown_setting_suggests() {
        assert_eq!(
            first_error("set temprature 0.8"),
            "t.tms:1:5: error: unknown setting `temprature` (did you mean `temperature`?)\n    set temprature 0.8\n        ^^^^^^^^^^"
        );
    }

    #[test]
    fn values_are_checked() {
        assert_eq!(
            first_error("set seq_len 0"),
            "t.tms:1:13: error: invalid value `0` for `seq_len`: an integer from 1 to 4096\n    set seq_len 0\n                ^"
        );
        assert!(
            first_error("set optimizer adamw").contains("one of sgd, adam (did you mean `adam`?)")
        );
        assert!(first_error("set lr abc").contains("a number from"));
    }

    #[test]
    fn every_error_of_a_file_is_reported() {
        let p = parse("sed 1\nset x 2\ngenerate\nload \"a\nhelp\n");
        let lines: Vec<usize> = p.errors.iter().map(|e| e.span.unwrap().line).collect();
        assert_eq!(lines, vec![1, 2, 3, 4]);
        assert_eq!(p.stmts.len(), 1);
    }

    #[test]
    fn missing_argument_points_after_the_command() {
        assert_eq!(
            first_error("generate"),
            "t.tms:1:9: error: missing a note count; usage: generate N [notes|bars] [temperature T] [top_k K] [scale \"SCALE\"] [grid \"1/16\"] [end tonic] [form \"AABA\" [vary X]]\n    generate\n            ^"
        );
    }
}
