//! Where a piece of source text came from. Every token and every AST node carries one, so
//! that any error, from the lexer to a file that fails to load, can point at its cause.

/// A range of the source: byte offset and length, plus the 1-based line and the 1-based
/// column (in characters) of its first character.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

impl Span {
    /// The smallest span that covers both.
    pub fn to(self, end: Span) -> Span {
        let stop = (end.offset + end.len).max(self.offset + self.len);
        Span {
            len: stop - self.offset,
            ..self
        }
    }
}

/// A value with the span it was written at. Equality ignores the span: two commands are the
/// same command wherever they were typed (the round-trip property relies on this).
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}
