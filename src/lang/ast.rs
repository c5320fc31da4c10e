//! The typed commands a script is made of: a [`Stmt`] holds one [`Command`], whose variants
//! are the command types beside their rows in [`super::commands`]. Printing a command
//! (`Display`) gives text that parses back to the same command: `history` relies on it to
//! write replayable scripts.

use std::fmt;

use crate::ground::span::Span;

pub use super::commands::Command;

/// One command with the span of its whole text.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub cmd: Command,
    pub span: Span,
    /// Whether it belongs in `history` when it succeeds (the command table's column).
    pub recorded: bool,
}

/// Bars `first` to `last` (inclusive), counted from the melody's first bar line: an upbeat
/// is bar 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarRange {
    pub first: usize,
    pub last: usize,
}

impl fmt::Display for BarRange {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.first == self.last {
            true => write!(f, "bar {}", self.first),
            false => write!(f, "bars {}-{}", self.first, self.last),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lang::parser::parse;

    #[test]
    fn record_prints_back_as_typed() {
        let src = "record \"a \\\"b\\\".mid\" overwrite\nrecord \"set.mid\"\nrecord stop\nrecord";
        let p = parse(src);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let printed: Vec<String> = p.stmts.iter().map(|s| s.cmd.to_string()).collect();
        assert_eq!(printed.join("\n"), src);
        let again = parse(&printed.join("\n"));
        let cmds = |stmts: &[crate::lang::ast::Stmt]| {
            stmts.iter().map(|s| s.cmd.clone()).collect::<Vec<_>>()
        };
        assert_eq!(cmds(&p.stmts), cmds(&again.stmts));
    }
}
