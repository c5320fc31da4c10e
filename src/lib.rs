//! tms: a live-coding environment for neural melody generation. The binary (`main.rs`) only
//! picks a mode; everything else lives here so tests can drive it.

pub mod error;
pub mod fsio;
pub mod ground;
pub mod lang;
pub mod model;
pub mod out;
pub mod perform;
pub mod render;
pub mod repl;
pub mod session;
pub mod settings;
pub mod music {
    //! Melodies: the shared note type, file formats, scales, and terminal views.
    pub mod abc;
    pub mod dataset;
    pub mod form;
    pub mod gm;
    pub mod grid;
    pub mod meter;
    pub mod midi;
    pub mod notation;
    pub mod note;
    pub mod notes_text;
    pub mod pianoroll;
    pub mod pitch;
    pub mod scale;
    pub mod stats;
}
