//! A setting's value and the words it may be. Every floor names settings' values (the
//! model file keeps `position on`, the player reads a `Switch`), so the types live here,
//! below the settings table that lists them.

use std::fmt;

/// A setting's value as written in a script.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{}", super::text::fmt_number(*x)),
            // Choice values print as bare words (`set optimizer sgd`); anything else quoted.
            Value::Text(s) if is_bare_word(s) => f.write_str(s),
            Value::Text(s) => write!(f, "{}", super::text::quote(s)),
        }
    }
}

impl Value {
    /// The value as people read it: a number a knob or a followed clock left with sixteen
    /// digits (`0.9370078740157481`) shows three decimals (`0.937`); small values such as a
    /// learning rate of 0.0005 keep theirs. `Display` stays exact, for `history`.
    pub fn shown(&self) -> String {
        match self {
            Value::Float(x) if x.abs() >= 0.01 => {
                let s = format!("{x:.3}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                if s == "-0" {
                    "0".into()
                } else {
                    s.to_string()
                }
            }
            v => v.to_string(),
        }
    }
}

fn is_bare_word(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Rust type a setting can have: built from a value `Kind::check` has normalised.
pub trait SettingType: Sized {
    fn from_value(v: &Value) -> Option<Self>;
    fn to_value(&self) -> Value;
}

impl SettingType for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl SettingType for f64 {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::Float(*self)
    }
}

impl SettingType for String {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

/// A setting whose value is one of a few words, as a Rust enum: the names are spelled once,
/// here, and `set`, the model file's metadata and completion all use them.
#[macro_export]
macro_rules! choice {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($text,)+];

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The variant named `text`, in any case.
            pub fn parse(text: &str) -> Option<Self> {
                $(if text.eq_ignore_ascii_case($text) { return Some($name::$variant); })+
                None
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        // By name, as settings and model files write it (the trainer's messages carry them).
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&text).ok_or_else(|| {
                    <D::Error as ::serde::de::Error>::custom(format!("unknown value `{text}`"))
                })
            }
        }

        impl $crate::ground::value::SettingType for $name {
            fn from_value(v: &$crate::ground::value::Value) -> Option<Self> {
                match v {
                    $crate::ground::value::Value::Text(t) => Self::parse(t),
                    _ => None,
                }
            }
            fn to_value(&self) -> $crate::ground::value::Value {
                $crate::ground::value::Value::Text(self.name().to_string())
            }
        }
    };
}

choice! {
    /// A feature turned on or off.
    pub enum Switch {
        On = "on",
        Off = "off",
    }
}
