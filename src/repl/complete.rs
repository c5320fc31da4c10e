//! What the prompt offers as you type, computed from the command and settings tables:
//! completion candidates, the usage hint, and syntax colouring.

use colored::Colorize;

use crate::lang::commands::{self, Files, COMMANDS};
use crate::lang::settings::{self, Kind, SETTINGS};

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

/// Where the replaced text starts and the candidates for it.
pub fn candidates(line: &str, pos: usize) -> (usize, Vec<String>) {
    let (seg_start, seg) = segment(line, pos);
    let words: Vec<&str> = seg.split_whitespace().collect();
    let spec = words
        .first()
        .and_then(|w| commands::lookup(&w.to_lowercase()));
    if let Some(q) = open_quote(seg) {
        let files = spec.map_or(Files::None, |s| s.files);
        let partial = &seg[q + 1..];
        return (seg_start + q + 1, paths(partial, files));
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
        match (spec.name, index) {
            ("set", 1) => settings::names().map(String::from).collect(),
            ("set", 2) => match settings::spec(&words[1].to_lowercase()).map(|s| s.kind) {
                Some(Kind::Choice(c)) => c.iter().map(|s| s.to_string()).collect(),
                Some(Kind::Scale) => vec!["none".into(), "\"".into()],
                _ => Vec::new(),
            },
            ("help", 1) => commands::names()
                .chain(["settings"])
                .map(String::from)
                .collect(),
            ("map", 3) => SETTINGS
                .iter()
                .filter(|s| matches!(s.kind, Kind::Int { .. } | Kind::Float { .. }))
                .map(|s| s.name.to_string())
                .collect(),
            _ => spec.words.iter().map(|s| s.to_string()).collect(),
        }
    };
    let lower = prefix.to_lowercase();
    let mut out: Vec<String> = pool.into_iter().filter(|c| c.starts_with(&lower)).collect();
    out.sort();
    out.dedup();
    (start, out)
}

/// Paths completing `partial`, keeping directories and files with the wanted extensions.
fn paths(partial: &str, files: Files) -> Vec<String> {
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
        let ext_ok = match files {
            Files::None => true,
            Files::Ext(exts) => exts
                .iter()
                .any(|x| name.to_lowercase().ends_with(&format!(".{x}"))),
        };
        if is_dir {
            out.push(format!("{dir}{name}/"));
        } else if ext_ok {
            out.push(format!("{dir}{name}"));
        }
    }
    out.sort();
    out
}

/// Greyed text after the cursor: the rest of a unique command name, or its arguments.
pub fn hint(line: &str, pos: usize) -> Option<String> {
    if pos < line.len() {
        return None;
    }
    let (_, seg) = segment(line, pos);
    let trimmed = seg.trim_start();
    if trimmed.is_empty() {
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
            return (!rest.is_empty()).then(|| rest.to_string());
        }
        return None;
    }
    let name = trimmed.split_whitespace().next()?.to_lowercase();
    let spec = commands::lookup(&name)?;
    if trimmed.trim_end() == trimmed.split_whitespace().next()? && trimmed.ends_with(' ') {
        let args = spec.usage.split_once(' ').map(|(_, a)| a)?;
        return Some(args.to_string());
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
        assert_eq!(candidates("gen", 3), (0, vec!["generate".to_string()]));
        assert_eq!(
            candidates("set tem", 7),
            (4, vec!["temperature".to_string(), "tempo".to_string()])
        );
        assert_eq!(
            candidates("set optimizer ", 14),
            (14, vec!["adam".to_string(), "sgd".to_string()])
        );
        assert_eq!(candidates("seed 1; pl", 10), (8, vec!["play".to_string()]));
        assert_eq!(
            candidates("live o", 6).1,
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
        let (start, c) = candidates(&line, line.len());
        assert_eq!(start, 6);
        assert_eq!(c, vec![format!("{base}/a.mid"), format!("{base}/sub/")]);
        let line = format!("export \"{base}/");
        assert_eq!(
            candidates(&line, line.len()).1,
            vec![format!("{base}/sub/")]
        );
    }

    #[test]
    fn hints_show_the_rest_of_the_usage() {
        assert_eq!(
            hint("gene", 4).as_deref(),
            Some("rate N [temperature T] [top_k K] [scale \"SCALE\"]")
        );
        assert_eq!(
            hint("load ", 5).as_deref(),
            Some("\"GLOB\" [limit N] [where FIELD ~ \"TEXT\"]")
        );
        assert_eq!(hint("set lr 1", 8), None);
    }
}
