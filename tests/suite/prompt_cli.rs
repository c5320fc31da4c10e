//! The slips a musician makes at the prompt, through `tms -c`: files that are what their
//! names say, values shown and hinted, the usual misspellings answered with a suggestion, and
//! one line of feedback for every command that acts.

use crate::support;

use support::tms_c;

fn first_bytes(path: &std::path::Path, n: usize) -> Vec<u8> {
    let mut b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.truncate(n);
    b
}

#[test]
fn write_picks_the_format_by_extension_and_refuses_others() {
    let (dir, run) = tms_c(
        "prime notes \"C4 D4 E4\"; write \"a.mid\"; write \"b.MIDI\"; write \"c.abc\"; write \"d.musicxml\"; write \"e.xml\"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(first_bytes(&dir.path().join("a.mid"), 4), b"MThd");
    assert_eq!(first_bytes(&dir.path().join("b.MIDI"), 4), b"MThd");
    assert_eq!(first_bytes(&dir.path().join("c.abc"), 2), b"X:");
    assert_eq!(first_bytes(&dir.path().join("d.musicxml"), 5), b"<?xml");
    assert_eq!(first_bytes(&dir.path().join("e.xml"), 5), b"<?xml");

    for name in ["x.txt", "tune", "song.mp3"] {
        let (dir, run) = tms_c(&format!("prime notes \"C4\"; write \"{name}\""));
        assert_eq!(run.code, 1, "{name}");
        assert!(
            run.stderr.contains(
                "error: write chooses the format by the file's extension: .mid, .midi, .abc, .musicxml, .xml, .wav (MIDI, ABC, MusicXML, WAV audio)"
            ),
            "{name}: {}",
            run.stderr
        );
        assert!(!dir.path().join(name).exists(), "{name} was written");
    }
}

#[test]
fn write_to_a_wav_name_renders_audio() {
    if tms::render::find_soundfont().is_none() {
        eprintln!("skipping: no SoundFont installed");
        return;
    }
    let (dir, run) = tms_c("prime notes \"C4 D4\"; write \"tune.wav\" program \"flute\"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("rendered tune.wav with "),
        "{}",
        run.stdout
    );
    let head = first_bytes(&dir.path().join("tune.wav"), 12);
    assert_eq!(&head[..4], b"RIFF");
    assert_eq!(&head[8..12], b"WAVE");
}

#[test]
fn save_writes_only_safetensors_names() {
    let (dir, run) = tms_c("set hidden 4; model new; save \"m.pth\"");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("error: save writes a safetensors model: give the file a .safetensors name"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("m.pth").exists());
}
