//! tms: a live-coding environment for neural melody generation. The binary (`main.rs`) only
//! picks a mode; everything else lives here so tests can drive it.

pub mod error;
pub mod lang;
#[path = "../tmpstub/model/mod.rs"]
pub mod model;
#[path = "../tmpstub/perform.rs"]
pub mod perform;
#[path = "../tmpstub/render.rs"]
pub mod render;
pub mod repl;
pub mod session;
pub mod music {
    //! Melodies: the shared note type, file formats, scales, and terminal views.
    #[path = "../../tmpstub/abc.rs"]
    pub mod abc;
    pub mod dataset;
    #[path = "../../tmpstub/gm.rs"]
    pub mod gm;
    #[path = "../../tmpstub/midi.rs"]
    pub mod midi;
    pub mod note;
    #[path = "../../tmpstub/notes_text.rs"]
    pub mod notes_text;
    #[path = "../../tmpstub/pianoroll.rs"]
    pub mod pianoroll;
    #[path = "../../tmpstub/scale.rs"]
    pub mod scale;
    #[path = "../../tmpstub/stats.rs"]
    pub mod stats;
}
