//! What a command got other than its syntax allows: one variant per condition, with its one
//! wording. [`crate::error::ErrorKind::Usage`] carries one with the command's usage line.

use std::fmt;

use super::stage::VOICE_NAME_MAX;
use crate::error::did_you_mean;
use crate::fsio::Role;
use crate::ground::text::fmt_number;

#[derive(Debug, Clone, PartialEq)]
pub enum Misuse {
    /// `what` is the argument's description ("a note count"), `found` the token's.
    Expected {
        what: String,
        found: String,
    },
    Missing(String),
    OutOfRange {
        what: String,
        min: f64,
        max: f64,
    },
    IntegerOutOfRange {
        what: String,
        min: u64,
        max: u64,
    },
    NotWhole {
        what: String,
        text: String,
    },
    /// A token after the command was complete, described.
    Unexpected(String),
    UnknownOption {
        name: String,
        suggestion: Option<String>,
    },
    OptionTwice(String),
    /// `bars 5 -6`.
    SpacedBarRange,
    BackwardBars {
        first: u64,
        last: u64,
    },
    /// `set scale D yu`: `lead` is what the command writes before the setting's name.
    UnquotedWords {
        lead: &'static str,
        setting: &'static str,
        first: String,
        more: String,
    },
    UnknownDevice {
        name: String,
        suggestion: Option<String>,
    },
    /// `load … where FIELD`: not a header field.
    UnknownField {
        name: String,
        suggestion: Option<String>,
    },
    /// `write` to a name whose extension names no format it writes.
    WriteExtension,
    /// `render` to a name that is not .wav.
    RenderExtension,
    /// `save` to a name that is not .safetensors.
    SaveExtension,
    VaryWithoutForm,
    FormWithoutBars,
    FormStopAfter,
    /// `connect 0`.
    PortZero,
    VoiceNameLength,
    /// A control or invisible character in a voice name, as its code point.
    VoiceNameChar(u32),
    /// `map cc N SETTING`: a setting no knob can turn.
    NotLive(&'static str),
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        use Misuse::*;
        match self {
            Expected { what, found } => write!(f, "expected {what}, found {found}"),
            Missing(what) => write!(f, "missing {what}"),
            OutOfRange { what, min, max } => write!(
                f,
                "{what} must be from {} to {}",
                fmt_number(*min),
                fmt_number(*max)
            ),
            IntegerOutOfRange { what, min, max } => {
                write!(f, "{what} must be an integer from {min} to {max}")
            }
            NotWhole { what, text } => write!(f, "{what} must be a whole number, found `{text}`"),
            Unexpected(found) => write!(f, "unexpected {found}"),
            UnknownOption { name, suggestion } => {
                write!(f, "unknown option `{name}`")?;
                did_you_mean(f, suggestion)
            }
            OptionTwice(name) => write!(f, "option `{name}` given twice"),
            SpacedBarRange => f.write_str("a range of bars is written with no spaces: `bars 5-6`"),
            BackwardBars { first, last } => write!(
                f,
                "bars {first}-{last} run backwards: the first bar comes first"
            ),
            UnquotedWords {
                lead,
                setting,
                first,
                more,
            } => write!(
                f,
                "a value of several words is quoted: {lead}{setting} \"{first} {more}\""
            ),
            UnknownDevice { name, suggestion } => {
                write!(f, "unknown device `{name}`")?;
                did_you_mean(f, suggestion)
            }
            UnknownField { name, suggestion } => {
                write!(f, "unknown field `{name}`")?;
                did_you_mean(f, suggestion)?;
                let fields = crate::music::note::TuneFields::NAMES.join(", ");
                write!(f, "; fields: {fields}")
            }
            WriteExtension => {
                let list: Vec<String> = Role::Written
                    .extensions()
                    .iter()
                    .map(|e| format!(".{e}"))
                    .collect();
                write!(
                    f,
                    "write chooses the format by the file's extension: {} (MIDI, ABC, MusicXML, WAV audio)",
                    list.join(", ")
                )
            }
            RenderExtension => f.write_str(
                "render writes WAV audio: give the file a .wav name (convert it afterwards for other formats)",
            ),
            SaveExtension => {
                f.write_str("save writes a safetensors model: give the file a .safetensors name")
            }
            VaryWithoutForm => f.write_str(
                "`vary` is how much a returning phrase of a `form` changes: give `form` too",
            ),
            FormWithoutBars => {
                f.write_str("a form splits bars into phrases: `generate N bars form \"AABA\"`")
            }
            FormStopAfter => f.write_str("`stop after` cannot cut a form short"),
            PortZero => f.write_str("ports are numbered from 1 (`ports` lists them)"),
            VoiceNameLength => write!(
                f,
                "a voice name is 1 to {VOICE_NAME_MAX} characters, without spaces at its ends"
            ),
            VoiceNameChar(c) => write!(
                f,
                "a voice name cannot hold control or invisible characters (it holds U+{c:04X})"
            ),
            NotLive(name) => {
                let names: Vec<&str> = crate::settings::Live::names().collect();
                write!(
                    f,
                    "`{name}` cannot be turned by a knob; a knob can drive the live settings: {}",
                    names.join(", ")
                )
            }
        }
    }
}
