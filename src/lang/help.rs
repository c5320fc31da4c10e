//! `help`, as pure functions of the command and settings tables: the prompt's `help`, the
//! README's two reference tables and the hints all come from the same rows, so they cannot
//! drift apart (a test compares README.md with [`readme_commands`] and
//! [`readme_settings`]).

use colored::Colorize;

use super::commands::{CommandSpec, COMMANDS};
use crate::settings::{SettingSpec, Settings, SETTINGS};

fn bold(s: &str, color: bool) -> String {
    if color {
        s.bold().to_string()
    } else {
        s.to_string()
    }
}

/// `help`: every command with its summary.
pub fn commands(color: bool) -> String {
    let mut out = bold(
        "commands (`help COMMAND` for one, `help SETTING` or `help settings` for settings):",
        color,
    );
    out.push('\n');
    let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in COMMANDS {
        out.push_str(&format!("  {:width$}  {}\n", c.name, c.summary));
    }
    out
}

/// `help COMMAND`: syntax, summary, details, example.
pub fn command(c: &CommandSpec, color: bool) -> String {
    let mut out = format!("{}\n  {}\n", bold(c.usage, color), c.summary);
    if !c.details.is_empty() {
        out.push_str(&format!("  {}\n", c.details));
    }
    out.push_str(&format!("  example: {}\n", c.example));
    out
}

/// `help settings`: every setting with its meaning, range and default.
pub fn settings(color: bool) -> String {
    let mut out = bold("settings (`set NAME VALUE`):", color);
    out.push('\n');
    for s in SETTINGS {
        out.push_str(&format!(
            "  {:16} {} — {}; default {}\n",
            s.name,
            s.help,
            s.kind.allowed(),
            s.default_value()
        ));
    }
    out
}

/// `help SETTING`: what it means, what it allows, its default and its value now.
pub fn setting(s: &SettingSpec, current: &Settings, color: bool) -> String {
    let live = if s.live {
        "\n  changes take effect while music plays"
    } else {
        ""
    };
    let whose = match (s.voice, s.draw) {
        (_, true) => format!(
            "\n  each voice has its own; `generate` also takes it for one call: generate 8 {} {}",
            s.name,
            s.default_value()
        ),
        (true, false) => "\n  each voice has its own".to_string(),
        (false, _) => String::new(),
    };
    format!(
        "{}\n  {}\n  allowed: {}\n  default: {}\n  now: {}{live}{whose}\n  example: set {} {}\n",
        bold(&format!("set {} VALUE", s.name), color),
        s.help,
        s.kind.allowed(),
        s.default_value(),
        current.get_id(s.id).shown(),
        s.name,
        s.default_value()
    )
}

/// `text` with every line longer than `width` columns broken at spaces, never inside a word
/// (help reads at a terminal's edge). A continuation line starts under the line's second
/// column when it has one (`  voice  switch to…`: the summary column), else two spaces in;
/// lines with colour codes (the headers) are short and left as they are.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.chars().count() <= width || body.contains('\x1b') {
            out.push_str(line);
            continue;
        }
        let hang = " ".repeat(hanging_indent(body, width));
        let mut col = 0;
        let mut first = true;
        // Words keep the spaces before them, so a line's own indentation survives.
        for word in body.split_inclusive(' ') {
            let w = word.trim_end_matches(' ');
            let len = word.chars().count();
            if !first && col + w.chars().count() > width && !w.is_empty() {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push('\n');
                out.push_str(&hang);
                col = hang.len();
                let word = word.trim_start_matches(' ');
                out.push_str(word);
                col += word.chars().count();
            } else {
                out.push_str(word);
                col += len;
            }
            first = first && w.is_empty();
        }
        // Trailing spaces of a broken line are not worth keeping.
        while out.ends_with(' ') {
            out.pop();
        }
        out.push_str(newline);
    }
    out
}

/// Where a wrapped line's continuation starts: after the first run of two or more spaces
/// that follows text (the second column of a two-column line), if that leaves room.
fn hanging_indent(line: &str, width: usize) -> usize {
    let lead = line.len() - line.trim_start_matches(' ').len();
    let chars: Vec<char> = line.chars().collect();
    let mut i = lead;
    while i + 1 < chars.len() {
        if chars[i] != ' ' && chars[i + 1] == ' ' && chars.get(i + 2) == Some(&' ') {
            let mut j = i + 1;
            while chars.get(j) == Some(&' ') {
                j += 1;
            }
            if j < width / 2 {
                return j;
            }
            break;
        }
        i += 1;
    }
    lead + 2
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// README's command table.
pub fn readme_commands() -> String {
    let mut out = String::from("| command | what it does |\n| --- | --- |\n");
    for c in COMMANDS {
        let mut what = c.summary.to_string();
        if !c.details.is_empty() {
            what.push_str(". ");
            what.push_str(c.details);
        }
        out.push_str(&format!(
            "| `{}` | {} — e.g. `{}` |\n",
            cell(c.usage),
            cell(&what),
            cell(c.example)
        ));
    }
    out
}

/// README's settings table.
pub fn readme_settings() -> String {
    let mut out =
        String::from("| setting | meaning | allowed | default |\n| --- | --- | --- | --- |\n");
    for s in SETTINGS {
        out.push_str(&format!(
            "| `{}` | {} | {} | `{}` |\n",
            s.name,
            cell(s.help),
            cell(&s.kind.allowed()),
            s.default_value()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_names_the_hold_limit() {
        let limit = format!("held over {} s", crate::perform::HOLD_LIMIT.as_secs());
        for name in ["listen", "respond", "learn"] {
            let spec = crate::lang::commands::lookup(name).unwrap();
            let text = format!("{} {}", spec.summary, spec.details).replace('\n', " ");
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains(&limit), "`help {name}` says `{limit}`");
        }
    }

    #[test]
    fn help_wraps_at_word_boundaries_under_its_second_column() {
        let text = "  voice     switch to voice NAME, creating it from the current voice: its own performance\n";
        let wrapped = wrap(text, 40);
        assert_eq!(
            wrapped,
            "  voice     switch to voice NAME,\n            creating it from the current\n            voice: its own performance\n"
        );
        for line in wrapped.lines() {
            assert!(line.chars().count() <= 40, "{line:?}");
        }
        let details =
            "  Every voice plays at once on the one output port and follows the one clock\n";
        assert_eq!(
            wrap(details, 30),
            "  Every voice plays at once on\n    the one output port and\n    follows the one clock\n"
        );
        assert_eq!(wrap("short\n", 30), "short\n");
        // A word longer than the width stands alone rather than being cut.
        assert_eq!(
            wrap("  a performance-and-more b\n", 10),
            "  a\n    performance-and-more\n    b\n"
        );
    }

    #[test]
    fn every_help_text_wraps_to_80_columns_without_splitting_a_word() {
        let mut all = commands(false);
        all.push_str(&settings(false));
        for c in COMMANDS {
            all.push_str(&command(c, false));
        }
        let wrapped = wrap(&all, 80);
        for line in wrapped.lines() {
            let longest_word = line
                .split(' ')
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(0);
            assert!(line.chars().count() <= 80 || longest_word > 60, "{line:?}");
        }
        let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            words(&wrapped),
            words(&all),
            "wrapping only moves line breaks"
        );
    }

    #[test]
    fn help_for_one_setting_shows_range_default_and_value() {
        let now = Settings {
            temperature: 0.5,
            ..Settings::default()
        };
        let spec = crate::settings::spec("temperature").unwrap();
        assert_eq!(
            setting(spec, &now, false),
            "set temperature VALUE
  sampling temperature of pitch (0 = always the most likely, 1 = the model's own distribution)
  allowed: a number from 0 to 10
  default: 0.85
  now: 0.5
  changes take effect while music plays
  each voice has its own; `generate` also takes it for one call: generate 8 temperature 0.85
  example: set temperature 0.85
"
        );
        let whose = |name: &str| {
            let text = setting(crate::settings::spec(name).unwrap(), &now, false);
            text.lines()
                .find(|l| l.contains("each voice"))
                .map(str::trim)
                .map(str::to_string)
        };
        assert_eq!(whose("channel").as_deref(), Some("each voice has its own"));
        assert_eq!(whose("tempo"), None, "the tempo is every voice's");
        assert_eq!(whose("lr"), None);
    }

    #[test]
    fn every_row_reaches_the_readme_tables() {
        let c = readme_commands();
        let s = readme_settings();
        assert_eq!(c.lines().count(), COMMANDS.len() + 2);
        assert_eq!(s.lines().count(), SETTINGS.len() + 2);
        assert!(c.contains("| `device [auto\\|cpu\\|cuda\\|cuda:N]` |"));
    }
}
