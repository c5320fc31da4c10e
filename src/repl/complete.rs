//! What the prompt offers as you type, computed from the command and settings tables:
//! completion candidates, the usage hint, and syntax colouring.

use colored::Colorize;

use std::path::Path;

use crate::fsio::Role;
use crate::lang::commands::{self, Pool, Quoted, COMMANDS};
use crate::music::gm::GM_PROGRAMS;
use crate::music::scale::{self, Scale};
use crate::settings::{self, Kind, Live, SettingSpec, Settings, Value};

/// Greyed text after the cursor, and what the right arrow inserts (nothing for a hint that
/// describes a value rather than spelling it).
pub struct Hint {
    pub display: String,
    pub completion: Option<String>,
}

impl rustyline::hint::Hint for Hint {
    fn display(&self) -> &str {
        &self.display
    }

    fn completion(&self) -> Option<&str> {
        self.completion.as_deref()
    }
}

/// The setting whose value comes next: `set NAME ` or a command option that is a setting
/// (`generate 8 temperature `, `write "a.mid" program `). `before` is the segment up to the
/// value; the command name itself never counts.
fn value_of(before: &str) -> Option<&'static SettingSpec> {
    let words: Vec<&str> = before.split_whitespace().collect();
    match words.as_slice() {
        [_, .., name] if words.len() >= 2 => settings::spec(&name.to_lowercase()),
        _ => None,
    }
}

/// Values of a scale inside quotes: tonics first (`D `), then `D MODE"` once a tonic is
/// typed.
fn scales(partial: &str) -> Vec<String> {
    let lower = partial.to_lowercase();
    match partial.split_once(char::is_whitespace) {
        Some((tonic, rest)) if Scale::parse(&format!("{tonic} major")).is_ok() => {
            let rest = rest.trim_start().to_lowercase();
            scale::mode_names()
                .iter()
                .filter(|m| m.starts_with(&rest))
                .map(|m| format!("{tonic} {m}\""))
                .collect()
        }
        Some(_) => Vec::new(),
        None => "CDEFGAB"
            .chars()
            .flat_map(|l| ["", "#", "b"].map(|a| format!("{l}{a}")))
            .filter(|t| t.to_lowercase().starts_with(&lower))
            .map(|t| format!("{t} "))
            .collect(),
    }
}

/// General MIDI names containing `partial`, ignoring case (`acoustic` finds five).
fn programs(partial: &str) -> Vec<String> {
    let lower = partial.to_lowercase();
    GM_PROGRAMS
        .iter()
        .filter(|p| p.to_lowercase().contains(&lower))
        .map(|p| format!("{p}\""))
        .collect()
}

/// The text of the command under the cursor: from the last `;` before it.
fn segment(line: &str, pos: usize) -> (usize, &str) {
    let before = &line[..pos];
    let mut start = 0;
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in before.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' => in_str = !in_str,
            ';' if !in_str => start = i + 1,
            _ => {}
        }
    }
    (start, &before[start..])
}

/// Byte offset of an unclosed `"` in the segment, if the cursor is inside a string.
fn open_quote(seg: &str) -> Option<usize> {
    let mut open = None;
    let mut escaped = false;
    for (i, c) in seg.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if open.is_some() => escaped = true,
            '"' => open = if open.is_some() { None } else { Some(i) },
            _ => {}
        }
    }
    open
}

/// What completion needs from the session: names that exist only while tms runs.
pub trait Known {
    /// MIDI port names: the inputs when `input`, else the outputs.
    fn ports(&self, input: bool) -> Vec<String>;
    /// The session's voice names.
    fn voices(&self) -> Vec<String>;
}

/// Nothing known: for the tests of what the tables alone complete.
#[cfg(test)]
pub struct NoneKnown;

#[cfg(test)]
impl Known for NoneKnown {
    fn ports(&self, _: bool) -> Vec<String> {
        Vec::new()
    }
    fn voices(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Names inside quotes that contain `partial`, ignoring case, each closing its quote.
fn names_containing(names: Vec<String>, partial: &str) -> Vec<String> {
    let lower = partial.to_lowercase();
    let mut out: Vec<String> = names
        .into_iter()
        .filter(|n| n.to_lowercase().contains(&lower))
        .map(|n| format!("{}\"", n.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// General MIDI names for an unquoted value: one-word names as a bare word (`shakuhachi`),
/// the others quoted whole, each containing `partial`.
fn bare_programs(partial: &str) -> Vec<String> {
    let lower = partial.to_lowercase();
    GM_PROGRAMS
        .iter()
        .filter(|p| p.to_lowercase().contains(&lower))
        .map(|p| match p.contains(|c: char| !c.is_ascii_alphanumeric()) {
            false => p.to_lowercase(),
            true => format!("\"{p}\""),
        })
        .collect()
}

/// How a candidate is listed: a path by its last part (`han1.abc`, `essen/`), without the
/// closing quote it types.
pub fn shown(candidate: &str) -> &str {
    let c = candidate.strip_suffix('"').unwrap_or(candidate);
    let body = c.strip_suffix('/').unwrap_or(c);
    // A note value or meter ("1/16", "6/8") is not a path.
    match body.rfind('/') {
        Some(i) if !body[..i].chars().all(|d| d.is_ascii_digit()) && !body.starts_with('"') => {
            &c[i + 1..]
        }
        _ => c,
    }
}

/// Where the replaced text starts and the candidates for it.
pub fn candidates(line: &str, pos: usize, known: &dyn Known) -> (usize, Vec<String>) {
    let (seg_start, seg) = segment(line, pos);
    let words: Vec<&str> = seg.split_whitespace().collect();
    let spec = words
        .first()
        .and_then(|w| commands::lookup(&w.to_lowercase()));
    if let Some(q) = open_quote(seg) {
        let partial = &seg[q + 1..];
        let found = match (value_of(&seg[..q]).map(|s| s.kind), spec.map(|s| s.name)) {
            (Some(Kind::Scale), _) => scales(partial),
            (Some(Kind::Program), _) => programs(partial),
            (Some(Kind::Meter), _) => prefixed(
                &["2/4", "3/4", "4/4", "5/4", "6/8", "7/8", "9/8", "12/8"],
                partial,
            ),
            (Some(Kind::Grid), _) => {
                prefixed(&["1/4", "1/8", "1/8t", "1/16", "1/16t", "1/32"], partial)
            }
            _ => match spec.map_or(Quoted::Paths, |s| s.quoted) {
                Quoted::Ports => {
                    let input = words.get(1).is_some_and(|w| w.eq_ignore_ascii_case("in"));
                    names_containing(known.ports(input), partial)
                }
                Quoted::Voices => names_containing(known.voices(), partial),
                Quoted::Paths => paths(partial, None),
                Quoted::Files(roles) => paths(partial, Some(roles)),
            },
        };
        return (seg_start + q + 1, found);
    }
    let ends_with_space = seg.ends_with(char::is_whitespace) || seg.is_empty();
    let prefix = if ends_with_space {
        ""
    } else {
        words.last().copied().unwrap_or("")
    };
    let start = pos - prefix.len();
    let index = if ends_with_space {
        words.len()
    } else {
        words.len().saturating_sub(1)
    };
    let pool: Vec<String> = if index == 0 {
        commands::names().map(String::from).collect()
    } else {
        let Some(spec) = spec else {
            return (start, Vec::new());
        };
        let setting = value_of(&seg[..pos - seg_start - prefix.len()]);
        let pool = spec.words_at.iter().find(|(at, _)| *at == index);
        match (pool.map(|(_, p)| *p), index) {
            (Some(Pool::Settings), _) => settings::names().map(String::from).collect(),
            (_, 2..) if setting.is_some() => match setting.map(|s| s.kind) {
                Some(Kind::Choice(c)) => c.iter().map(|s| s.to_string()).collect(),
                Some(Kind::Scale) => vec!["none".into(), "\"".into()],
                Some(Kind::Program) if !prefix.is_empty() => {
                    // Substrings, as inside quotes: not filtered by prefix below.
                    return (start, bare_programs(prefix));
                }
                Some(Kind::Program) => vec!["\"".into()],
                Some(Kind::Meter) => vec!["\"".into()],
                Some(Kind::Grid) => vec!["off".into(), "\"".into()],
                _ => Vec::new(),
            },
            (Some(Pool::Topics), _) => commands::names()
                .chain(settings::names())
                .chain(["settings"])
                .map(String::from)
                .collect(),
            // Only what a knob can turn: the same filter `map` applies when it parses.
            (Some(Pool::LiveSettings), _) => Live::names().map(String::from).collect(),
            _ => spec.words.iter().map(|s| s.to_string()).collect(),
        }
    };
    let lower = prefix.to_lowercase();
    let mut out: Vec<String> = pool.into_iter().filter(|c| c.starts_with(&lower)).collect();
    out.sort();
    out.dedup();
    (start, out)
}

/// The values starting with `partial`, each closing its quote.
fn prefixed(values: &[&str], partial: &str) -> Vec<String> {
    values
        .iter()
        .filter(|v| v.starts_with(partial))
        .map(|v| format!("{v}\""))
        .collect()
}

/// Paths completing `partial`, keeping directories and files with the wanted extensions. A
/// file closes the quote, so Enter runs the command; a folder is entered by the next Tab.
fn paths(partial: &str, roles: Option<&[Role]>) -> Vec<String> {
    let (dir, stem) = match partial.rfind('/') {
        Some(i) => (&partial[..=i], &partial[i + 1..]),
        None => ("", partial),
    };
    let read_from = if dir.is_empty() { "." } else { dir };
    let Ok(entries) = std::fs::read_dir(read_from) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(stem) || (name.starts_with('.') && !stem.starts_with('.')) {
            continue;
        }
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        let ext_ok = roles.is_none_or(|roles| roles.iter().any(|r| r.names(Path::new(&name))));
        if is_dir {
            out.push(format!("{dir}{name}/"));
        } else if ext_ok {
            out.push(format!("{dir}{name}\""));
        }
    }
    out.sort();
    out
}

/// Greyed text after the cursor: the rest of a unique command name, its arguments, or,
/// after a setting's name, what it accepts and its current value.
pub fn hint(line: &str, pos: usize, current: &Settings) -> Option<Hint> {
    if pos < line.len() {
        return None;
    }
    let (_, seg) = segment(line, pos);
    let trimmed = seg.trim_start();
    if trimmed.is_empty() || open_quote(trimmed).is_some() {
        return None;
    }
    if !trimmed.contains(char::is_whitespace) {
        let lower = trimmed.to_lowercase();
        let matches: Vec<_> = COMMANDS
            .iter()
            .filter(|c| c.name.starts_with(&lower))
            .collect();
        if let [one] = matches.as_slice() {
            let rest = &one.usage[trimmed.len().min(one.usage.len())..];
            let name_rest = &one.name[trimmed.len().min(one.name.len())..];
            return (!rest.is_empty()).then(|| Hint {
                display: rest.to_string(),
                completion: (!name_rest.is_empty()).then(|| name_rest.to_string()),
            });
        }
        return None;
    }
    if !trimmed.ends_with(char::is_whitespace) {
        return None;
    }
    if let Some(spec) = value_of(trimmed) {
        let now = current.get(spec.name)?;
        let now = match (spec.kind, &now) {
            (Kind::Program, Value::Int(p)) => usize::try_from(*p)
                .ok()
                .and_then(|p| GM_PROGRAMS.get(p))
                .map_or(now.to_string(), |name| format!("{p} \"{name}\"")),
            _ => now.shown(),
        };
        return Some(Hint {
            display: format!("{} (now {now})", spec.kind.allowed()),
            completion: None,
        });
    }
    let mut words = trimmed.split_whitespace();
    let spec = commands::lookup(&words.next()?.to_lowercase())?;
    if words.next().is_none() {
        let args = spec.usage.split_once(' ').map(|(_, a)| a)?;
        return Some(Hint {
            display: args.to_string(),
            completion: None,
        });
    }
    None
}

/// Colours commands, strings, numbers and comments (the prompt uses it when colour is on).
pub fn highlight(line: &str) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    let mut chars = line.char_indices().peekable();
    let mut at_command = true;
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                out.push_str(&line[i..].dimmed().to_string());
                return out;
            }
            '"' => {
                let mut end = line.len();
                let mut escaped = false;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = j + 1;
                        break;
                    }
                }
                out.push_str(&line[i..end].green().to_string());
                at_command = false;
            }
            ';' => {
                out.push(c);
                at_command = true;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = line.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || matches!(d, '_' | ':' | '.' | '-' | '#') {
                        chars.next();
                    } else {
                        end = j;
                        break;
                    }
                }
                let word = &line[i..end];
                if at_command && commands::lookup(&word.to_lowercase()).is_some() {
                    out.push_str(&word.blue().bold().to_string());
                } else if settings::spec(word).is_some() {
                    out.push_str(&word.cyan().to_string());
                } else {
                    out.push_str(word);
                }
                at_command = false;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '.')
                    && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit())) =>
            {
                let mut end = line.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || matches!(d, '.' | '-' | '+') {
                        chars.next();
                    } else {
                        end = j;
                        break;
                    }
                }
                out.push_str(&line[i..end].yellow().to_string());
                at_command = false;
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_commands_settings_and_values() {
        assert_eq!(
            candidates("gen", 3, &NoneKnown),
            (0, vec!["generate".to_string()])
        );
        assert_eq!(
            candidates("set tem", 7, &NoneKnown),
            (4, vec!["temperature".to_string(), "tempo".to_string()])
        );
        assert_eq!(
            candidates("set optimizer ", 14, &NoneKnown),
            (14, vec!["adam".to_string(), "sgd".to_string()])
        );
        assert_eq!(
            candidates("seed 1; pl", 10, &NoneKnown),
            (8, vec!["play".to_string()])
        );
        assert_eq!(
            candidates("live o", 6, &NoneKnown).1,
            vec!["off".to_string(), "on".to_string()]
        );
    }

    #[test]
    fn completes_paths_inside_strings_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.mid"), b"").unwrap();
        std::fs::write(dir.path().join("b.txt"), b"").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let base = dir.path().to_string_lossy().into_owned();
        let line = format!("load \"{base}/");
        let (start, c) = candidates(&line, line.len(), &NoneKnown);
        assert_eq!(start, 6);
        assert_eq!(c, vec![format!("{base}/a.mid\""), format!("{base}/sub/")]);
        let line = format!("export \"{base}/");
        assert_eq!(
            candidates(&line, line.len(), &NoneKnown).1,
            vec![format!("{base}/sub/")]
        );
    }

    /// Completion with the cursor at the end of the line.
    fn at(line: &str) -> (usize, Vec<String>) {
        candidates(line, line.len(), &NoneKnown)
    }

    fn shown(line: &str) -> Option<String> {
        hint(line, line.len(), &Settings::default()).map(|h| h.display)
    }

    #[test]
    fn hints_show_the_rest_of_the_usage() {
        assert_eq!(
            shown("gene").as_deref(),
            Some("rate N [notes|bars] [temperature T] [top_k K] [scale \"SCALE\"] [grid \"1/16\"] [end tonic] [form \"AABA\" [vary X]]")
        );
        let accepted = hint("gene", 4, &Settings::default()).and_then(|h| h.completion);
        assert_eq!(
            accepted.as_deref(),
            Some("rate"),
            "right arrow completes the name only"
        );
        assert_eq!(
            shown("load ").as_deref(),
            Some("\"GLOB\" [limit N] [where FIELD ~ \"TEXT\"]")
        );
        assert_eq!(shown("set lr 1"), None);
    }

    #[test]
    fn hints_after_a_setting_show_its_range_and_current_value() {
        let now = Settings {
            temperature: 0.7,
            program: 73,
            ..Settings::default()
        };
        let h = hint("set temperature ", 16, &now).unwrap();
        assert_eq!(h.display, "a number from 0 to 10 (now 0.7)");
        assert_eq!(
            h.completion, None,
            "the right arrow must not type the description"
        );
        assert_eq!(
            hint("generate 8 temperature ", 23, &now).unwrap().display,
            "a number from 0 to 10 (now 0.7)"
        );
        assert_eq!(
            hint("set program ", 12, &now).unwrap().display,
            "a General MIDI program number 0–127 or its name (now 73 \"Flute\")"
        );
        assert_eq!(
            shown("set optimizer ").as_deref(),
            Some("one of sgd, adam (now adam)")
        );
    }

    #[test]
    fn scale_values_complete_tonic_then_mode() {
        let (start, c) = at("set scale \"");
        assert_eq!(start, 11);
        assert!(
            c.contains(&"D ".to_string()) && c.contains(&"Bb ".to_string()),
            "{c:?}"
        );
        assert!(!c.iter().any(|s| s.contains('.')), "no file names: {c:?}");
        assert_eq!(at("set scale \"d").1, ["D ", "D# ", "Db "]);
        assert_eq!(at("generate 8 scale \"D y").1, vec!["D yu\"".to_string()]);
        assert_eq!(
            at("set scale \"A minor").1,
            vec!["A minor\"".to_string(), "A minor pentatonic\"".to_string()]
        );
    }

    #[test]
    fn program_names_complete_by_substring_ignoring_case() {
        let line = "set program \"acoustic";
        let (start, c) = candidates(line, line.len(), &NoneKnown);
        assert_eq!(start, 13);
        assert_eq!(
            c,
            [
                "Acoustic Grand Piano",
                "Bright Acoustic Piano",
                "Acoustic Guitar (nylon)",
                "Acoustic Guitar (steel)",
                "Acoustic Bass",
            ]
            .map(|p| format!("{p}\""))
        );
        let line = "write \"a.mid\" program \"FLUT";
        assert_eq!(
            candidates(line, line.len(), &NoneKnown).1,
            ["Flute\"", "Pan Flute\""]
        );
    }

    #[test]
    fn choices_come_from_the_settings_table() {
        for s in settings::SETTINGS {
            if let Kind::Choice(choices) = s.kind {
                let line = format!("set {} ", s.name);
                let mut want: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                want.sort();
                assert_eq!(
                    candidates(&line, line.len(), &NoneKnown).1,
                    want,
                    "{}",
                    s.name
                );
            }
        }
    }

    struct Stage;

    impl Known for Stage {
        fn ports(&self, input: bool) -> Vec<String> {
            match input {
                true => vec!["Keystep:in 20:0".into()],
                false => vec!["FLUID Synth:0".into(), "Midi Through:0".into()],
            }
        }
        fn voices(&self) -> Vec<String> {
            vec!["main".into(), "bass".into()]
        }
    }

    #[test]
    fn a_folder_completes_to_its_entries_and_a_file_closes_its_quote() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("datasets")).unwrap();
        std::fs::write(dir.path().join("datasets/han1.abc"), b"").unwrap();
        std::fs::write(dir.path().join("datasets/han2.abc"), b"").unwrap();
        let base = dir.path().to_string_lossy().into_owned();
        let line = format!("load \"{base}/datas");
        assert_eq!(at(&line).1, [format!("{base}/datasets/")]);
        // The next Tab, on the completed folder, offers what is in it.
        let line = format!("load \"{base}/datasets/");
        assert_eq!(
            at(&line).1,
            [
                format!("{base}/datasets/han1.abc\""),
                format!("{base}/datasets/han2.abc\"")
            ]
        );
    }

    #[test]
    fn connect_completes_ports_and_voice_completes_voices() {
        let with = |line: &str| candidates(line, line.len(), &Stage).1;
        assert_eq!(with("connect \""), ["FLUID Synth:0\"", "Midi Through:0\""]);
        assert_eq!(with("connect \"flu"), ["FLUID Synth:0\""]);
        assert_eq!(with("connect in \""), ["Keystep:in 20:0\""]);
        assert_eq!(with("voice \"b"), ["bass\""]);
        assert_eq!(with("voice \""), ["bass\"", "main\""]);
    }

    #[test]
    fn a_path_is_listed_by_its_last_part() {
        assert_eq!(super::shown("datasets/essen/han1.abc\""), "han1.abc");
        assert_eq!(super::shown("datasets/essen/"), "essen/");
        assert_eq!(super::shown("3/4\""), "3/4");
        assert_eq!(super::shown("Flute\""), "Flute");
    }

    #[test]
    fn help_completes_commands_and_settings() {
        assert_eq!(at("help tem").1, ["temperature", "tempo"]);
        assert_eq!(at("help gen").1, ["generate"]);
        assert!(at("help ").1.contains(&"settings".to_string()));
    }

    #[test]
    fn unquoted_values_complete_choices_and_program_names() {
        assert_eq!(
            at("set program sha").1,
            ["shakuhachi", "shamisen", "shanai"]
        );
        assert_eq!(
            at("set program grand").1,
            ["\"Acoustic Grand Piano\"", "\"Electric Grand Piano\""]
        );
        assert_eq!(at("set grid ").1, ["\"", "off"]);
        assert_eq!(at("set meter \"3").1, ["3/4\""]);
        assert_eq!(at("set pointer o").1, ["off", "on"]);
    }
}
