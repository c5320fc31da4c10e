//! `help`, as pure functions of the command and settings tables: the prompt's `help`, the
//! README's two reference tables and the hints all come from the same rows, so they cannot
//! drift apart (a test compares README.md with [`readme_commands`] and
//! [`readme_settings`]).

use colored::Colorize;

use super::commands::{CommandSpec, COMMANDS};
use super::settings::{SettingSpec, Settings, SETTINGS};

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
    format!(
        "{}\n  {}\n  allowed: {}\n  default: {}\n  now: {}{live}\n  example: set {} {}\n",
        bold(&format!("set {} VALUE", s.name), color),
        s.help,
        s.kind.allowed(),
        s.default_value(),
        current.get_id(s.id).shown(),
        s.name,
        s.default_value()
    )
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
    fn help_for_one_setting_shows_range_default_and_value() {
        let now = Settings {
            temperature: 0.5,
            ..Settings::default()
        };
        let spec = crate::lang::settings::spec("temperature").unwrap();
        assert_eq!(
            setting(spec, &now, false),
            "set temperature VALUE
  pitch sampling temperature (0 = always the most likely pitch)
  allowed: a number from 0 to 10
  default: 1
  now: 0.5
  changes take effect while music plays
  example: set temperature 1
"
        );
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
