//! The ground floor: the words every other floor shares (where source text came from, a
//! setting's value and its choices, how numbers and names are written back). It imports
//! nothing of tms, so music, the model and the player can use it without reaching up into
//! the language or the session.

pub mod span;
pub mod text;
pub mod value;
