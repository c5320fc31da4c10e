//! How tms writes a number or a name back, and guesses the name meant: one way for the
//! script writer, `history` and the settings listing, and the did-you-mean of every
//! message (one rule for short names, one for long names of several words).

/// A number as the lexer reads it back exactly (Rust's shortest round-trip form).
pub fn fmt_number(x: f64) -> String {
    format!("{x}")
}

/// A string literal with `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The closest candidate by edit distance, if it is close enough to be a plausible typo; or
/// else the one candidate that starts with what was typed (`temp` → `temperature`), as
/// people abbreviate.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let close = candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1) && *d < lower.chars().count().max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string());
    close.or_else(|| {
        let mut starting = candidates
            .iter()
            .filter(|c| lower.chars().count() >= 3 && c.to_lowercase().starts_with(&lower));
        match (starting.next(), starting.next()) {
            (Some(only), None) => Some(only.to_string()),
            _ => None,
        }
    })
}

/// How close (normalised Damerau-Levenshtein similarity, 0..1) a long name must be to be
/// suggested: close enough for typos and dropped words, far enough that nonsense gets no hint.
const PHRASE_SIMILARITY: f64 = 0.6;

/// The did-you-mean for long names of several words (General MIDI's "Acoustic Grand
/// Piano"): the first candidate that contains what was typed, as people remember part of
/// such a name far more often than they misspell all of it; else the closest, if close.
pub fn suggest_phrase<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    let lower = name.trim().to_lowercase();
    if lower.chars().count() >= 3 {
        if let Some(c) = candidates
            .clone()
            .into_iter()
            .find(|c| c.to_lowercase().contains(&lower))
        {
            return Some(c);
        }
    }
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::normalized_damerau_levenshtein(&lower, &c.to_lowercase()),
                c,
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score >= PHRASE_SIMILARITY)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_need_to_be_close() {
        let names = ["temperature", "tempo", "top_k"];
        assert_eq!(suggest("temprature", names).as_deref(), Some("temperature"));
        assert_eq!(suggest("tempi", names).as_deref(), Some("tempo"));
        assert_eq!(suggest("zzzzzz", names), None);
        let options = ["temperature", "top_k", "scale"];
        assert_eq!(suggest("temp", options).as_deref(), Some("temperature"));
        assert_eq!(suggest("te", options), None, "too short to guess");
    }
}
