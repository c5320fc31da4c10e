//! The tms command language: lexer → parser → typed commands, each a stage with one entry
//! point, and the tables (commands, settings) that drive parsing, help and completion.

pub mod ast;
pub mod commands;
pub mod help;
pub mod lexer;
pub mod parser;

pub use ast::{Command, Stmt};
pub use parser::{parse, Parsed, Statements};
