//! `render "F.wav"`: audio of the current melody through a SoundFont, the way the notebook
//! used FluidSynth, but in-process (rustysynth) so that no external synthesizer or audio
//! device is needed. Audio is synthesized and written in blocks, so a long melody never sits
//! in memory, and the file appears only when complete (`crate::fsio`'s atomic writer); Ctrl-C stops the
//! synthesis and leaves no partial file.

use crate::music::note::Note;
use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};
use std::fmt;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Seconds of audio after the last note-off, so releases and reverb ring out.
pub const TAIL: f64 = 1.0;
/// A WAV file's sizes are 32-bit: stay under 4 GiB of 16-bit stereo samples.
const MAX_FRAMES: u64 = (u32::MAX as u64 - 64) / 4;
/// Frames synthesized per block between events.
const BLOCK: usize = 4096;

/// How to turn notes into sound; mirrors the MIDI writer's options.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    /// None: the first of `find_soundfont`.
    pub soundfont: Option<PathBuf>,
    /// Samples per second (16000–192000).
    pub rate: u32,
    /// General MIDI program, 0–127.
    pub program: u8,
    /// Replaces every note's velocity when set.
    pub velocity: Option<u8>,
    /// Semitones added to every pitch (results are clamped to 0–127).
    pub transpose: i32,
    /// Note times are seconds at the reference 120 BPM, so they are scaled by 120 / tempo.
    pub tempo_bpm: f64,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            soundfont: None,
            rate: 44_100,
            program: 0,
            velocity: None,
            transpose: 0,
            tempo_bpm: 120.0,
        }
    }
}

/// What was rendered, for the one-line confirmation.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderReport {
    pub soundfont: PathBuf,
    /// Length of the file, tail included.
    pub seconds: f64,
    /// Largest absolute sample before conversion, 1.0 = full scale.
    pub peak: f32,
    /// Samples that exceeded full scale and were clipped.
    pub clipped: u64,
}

impl fmt::Display for RenderReport {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let name = self.soundfont.file_name().map_or_else(
            || self.soundfont.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        write!(f, "{name}, {:.1} s, ", self.seconds)?;
        if self.peak > 0.0 {
            write!(f, "peak {:.1} dBFS", 20.0 * self.peak.log10())?;
        } else {
            f.write_str("silent")?;
        }
        if self.clipped > 0 {
            write!(f, ", {} samples clipped", self.clipped)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no SoundFont found; install one with `apt-get install fluid-soundfont-gm` or pass soundfont \"FILE.sf2\""
    )]
    NoSoundFont,
    #[error("cannot read SoundFont `{path}`: {reason}")]
    ReadSoundFont { path: String, reason: String },
    #[error("{path} is not a usable SoundFont: {reason}")]
    BadSoundFont {
        path: String,
        #[source]
        reason: SoundFontDamage,
    },
    #[error("sample rate {0} Hz is out of range (16000 to 192000)")]
    Rate(u32),
    #[error("tempo must be a positive number of BPM, not {0}")]
    Tempo(f64),
    #[error("melody too long for a WAV file ({0:.0} s)")]
    TooLong(f64),
    #[error("cannot write `{path}`: {reason}")]
    Write { path: String, reason: String },
    #[error("interrupted: `{0}` was not written")]
    Interrupted(String),
}

/// What is wrong with a SoundFont file.
#[derive(Debug, thiserror::Error)]
pub enum SoundFontDamage {
    #[error("not a SoundFont 2 file (no RIFF sfbk header)")]
    NoHeader,
    /// A chunk's header claims more bytes than the file holds after it.
    #[error(
        "chunk `{}` claims {claims} bytes but only {remain} remain (truncated file?)",
        .chunk.escape_default()
    )]
    Overrun {
        chunk: String,
        claims: usize,
        remain: usize,
    },
    /// rustysynth's own checks refused it.
    #[error(transparent)]
    Rejected(#[from] rustysynth::SoundFontError),
    /// rustysynth panicked on its preset tables.
    #[error("its preset tables are inconsistent (corrupt file?)")]
    Inconsistent,
    /// rustysynth could not build a synthesizer from it.
    #[error(transparent)]
    Synthesizer(#[from] rustysynth::SynthesizerError),
    /// rustysynth panicked while synthesizing.
    #[error("synthesis failed on its data (corrupt file?)")]
    Synthesis,
}

/// Why synthesis into the temporary file stopped; the temporary file is removed either way.
enum Stop {
    Write(hound::Error),
    /// rustysynth panicked on the SoundFont's data.
    Synth,
    Interrupted,
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Stop::Write(hound::Error::IoError(e))
    }
}

/// The SoundFonts Debian and most distributions install, best first.
pub fn find_soundfont() -> Option<PathBuf> {
    let preferred = [
        "/usr/share/sounds/sf2/FluidR3_GM.sf2",
        "/usr/share/sounds/sf2/TimGM6mb.sf2",
    ];
    if let Some(p) = preferred.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Some(p);
    }
    for dir in [
        "/usr/share/sounds/sf2",
        "/usr/share/soundfonts",
        "/usr/local/share/soundfonts",
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && crate::fsio::Role::SoundFont.names(p))
            .collect();
        found.sort();
        if let Some(p) = found.into_iter().next() {
            return Some(p);
        }
    }
    None
}

/// Every chunk of the RIFF structure must fit inside the file. rustysynth allocates what
/// the headers claim before reading, so a corrupt header could otherwise ask for gigabytes.
fn check_riff(bytes: &[u8]) -> Result<(), SoundFontDamage> {
    let u32_at = |at: usize| -> Option<usize> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"sfbk" {
        return Err(SoundFontDamage::NoHeader);
    }
    let end = u32_at(4).unwrap_or(0).saturating_add(8).min(bytes.len());
    // Walks chunks in [from, to); LIST chunks are walked one level down.
    fn walk(bytes: &[u8], from: usize, to: usize, depth: u8) -> Result<(), SoundFontDamage> {
        let mut at = from;
        while at + 8 <= to {
            let id = String::from_utf8_lossy(&bytes[at..at + 4]).into_owned();
            let size =
                u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
                    as usize;
            let body = at + 8;
            if size > to - body {
                return Err(SoundFontDamage::Overrun {
                    chunk: id,
                    claims: size,
                    remain: to - body,
                });
            }
            if depth == 0 && id == "LIST" && size >= 4 {
                walk(bytes, body + 4, body + size, 1)?;
            }
            at = body + size;
        }
        Ok(())
    }
    walk(bytes, 12, end, 0)
}

/// Loads and checks a SoundFont. rustysynth reports most damage as errors; a panic inside
/// it is caught too, because a bad file must never take the session down.
pub fn load_soundfont(path: &Path) -> Result<Arc<SoundFont>, RenderError> {
    let shown = path.display().to_string();
    let bytes = crate::fsio::read(path).map_err(|e| RenderError::ReadSoundFont {
        path: shown.clone(),
        reason: crate::fsio::io_reason(&e),
    })?;
    let bad = |reason: SoundFontDamage| RenderError::BadSoundFont {
        path: shown.clone(),
        reason,
    };
    check_riff(&bytes).map_err(bad)?;
    match quietly(|| SoundFont::new(&mut Cursor::new(&bytes))) {
        Some(Ok(sf)) => Ok(Arc::new(sf)),
        Some(Err(e)) => Err(bad(e.into())),
        None => Err(bad(SoundFontDamage::Inconsistent)),
    }
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into None without the panic message on stderr. rustysynth
/// indexes its tables unchecked, so a corrupt SoundFont can panic inside it (found by
/// mutating TimGM6mb.sf2); to the user that is a bad file, not a crash. Only panics on this
/// thread while `f` runs are silenced; any other goes to the previous hook.
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result.ok()
}

/// A note-on or note-off at a frame. Offs sort before ons at the same frame, so a repeated
/// pitch is released before it is struck again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    frame: u64,
    on: bool,
    key: u8,
    velocity: u8,
}

/// Events in frame order, and the total length in frames (tail included).
fn schedule(notes: &[Note], opts: &RenderOptions) -> Result<(Vec<Event>, u64), RenderError> {
    if !(opts.tempo_bpm.is_finite() && opts.tempo_bpm > 0.0) {
        return Err(RenderError::Tempo(opts.tempo_bpm));
    }
    let scale = 120.0 / opts.tempo_bpm;
    let rate = opts.rate as f64;
    let end = notes
        .iter()
        .map(|n| n.start.max(0.0) + n.duration.max(0.0))
        .fold(0.0f64, f64::max);
    let seconds = end * scale + TAIL;
    if !seconds.is_finite() || seconds * rate > MAX_FRAMES as f64 {
        return Err(RenderError::TooLong(seconds));
    }
    let total = (seconds * rate).ceil() as u64;
    let frame = |t: f64| ((t.max(0.0) * scale * rate).round() as u64).min(total);
    let mut events = Vec::with_capacity(notes.len() * 2);
    for n in notes {
        let (key, velocity) = n.shaped(i64::from(opts.transpose), opts.velocity);
        let on = frame(n.start);
        let off = frame(n.start.max(0.0) + n.duration.max(0.0)).max(on);
        events.push(Event {
            frame: on,
            on: true,
            key,
            velocity,
        });
        events.push(Event {
            frame: off,
            on: false,
            key,
            velocity: 0,
        });
    }
    events.sort();
    Ok((events, total))
}

/// Synthesizes `notes` into a 16-bit stereo WAV file at `path`.
pub fn render_wav(
    notes: &[Note],
    path: &Path,
    opts: &RenderOptions,
) -> Result<RenderReport, RenderError> {
    render_wav_until(notes, path, opts, &AtomicBool::new(false))
}

/// [`render_wav`] that stops, writing nothing, once `interrupt` is set (Ctrl-C).
pub fn render_wav_until(
    notes: &[Note],
    path: &Path,
    opts: &RenderOptions,
    interrupt: &AtomicBool,
) -> Result<RenderReport, RenderError> {
    if !(16_000..=192_000).contains(&opts.rate) {
        return Err(RenderError::Rate(opts.rate));
    }
    let (events, total) = schedule(notes, opts)?;
    let sf_path = match &opts.soundfont {
        Some(p) => p.clone(),
        None => find_soundfont().ok_or(RenderError::NoSoundFont)?,
    };
    let soundfont = load_soundfont(&sf_path)?;
    let settings = SynthesizerSettings::new(opts.rate as i32);
    let mut synth =
        Synthesizer::new(&soundfont, &settings).map_err(|e| RenderError::BadSoundFont {
            path: sf_path.display().to_string(),
            reason: e.into(),
        })?;
    // rustysynth's default gain (0.5) leaves a solo melody peaking near -20 dBFS; a melody
    // is mostly one voice at a time, so full gain is safe, and clipping is counted anyway.
    synth.set_master_volume(1.0);
    synth.process_midi_message(0, 0xC0, opts.program.min(127) as i32, 0);

    let shown = path.display().to_string();
    let write_err = |reason: String| RenderError::Write {
        path: shown.clone(),
        reason,
    };
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: opts.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let result = crate::fsio::write_with(path, |file| {
        let out = std::io::BufWriter::new(file);
        quietly(|| -> Result<(f32, u64), Stop> {
            let mut writer = hound::WavWriter::new(out, spec).map_err(Stop::Write)?;
            let mut left = vec![0f32; BLOCK];
            let mut right = vec![0f32; BLOCK];
            let (mut peak, mut clipped) = (0f32, 0u64);
            let mut pos = 0u64;
            let mut next = events.iter().peekable();
            while pos < total {
                if interrupt.load(Ordering::SeqCst) {
                    return Err(Stop::Interrupted);
                }
                while let Some(e) = next.next_if(|e| e.frame <= pos) {
                    if e.on {
                        synth.note_on(0, e.key as i32, e.velocity as i32);
                    } else {
                        synth.note_off(0, e.key as i32);
                    }
                }
                let until = next.peek().map_or(total, |e| e.frame.min(total));
                let n = (until - pos).clamp(1, BLOCK as u64) as usize;
                synth.render(&mut left[..n], &mut right[..n]);
                for i in 0..n {
                    for x in [left[i], right[i]] {
                        let a = x.abs();
                        if a.is_finite() {
                            peak = peak.max(a);
                        }
                        if a > 1.0 {
                            clipped += 1;
                        }
                        let s = (x.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16;
                        writer.write_sample(s).map_err(Stop::Write)?;
                    }
                }
                pos += n as u64;
            }
            writer.finalize().map_err(Stop::Write)?;
            Ok((peak, clipped))
        })
        .unwrap_or(Err(Stop::Synth))
    });
    let (peak, clipped) = match result {
        Ok(r) => r,
        Err(Stop::Write(e)) => {
            return Err(write_err(match e {
                hound::Error::IoError(e) => crate::fsio::io_reason(&e),
                e => e.to_string(),
            }))
        }
        Err(Stop::Interrupted) => return Err(RenderError::Interrupted(shown)),
        Err(Stop::Synth) => {
            return Err(RenderError::BadSoundFont {
                path: sf_path.display().to_string(),
                reason: SoundFontDamage::Synthesis,
            })
        }
    };
    Ok(RenderReport {
        soundfont: sf_path,
        seconds: total as f64 / opts.rate as f64,
        peak,
        clipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "/usr/share/sounds/sf2/TimGM6mb.sf2";

    fn melody() -> Vec<Note> {
        [60u8, 62, 64, 67]
            .iter()
            .enumerate()
            .map(|(i, &p)| Note {
                pitch: p,
                start: i as f64 * 0.5,
                duration: 0.5,
                velocity: 100,
            })
            .collect()
    }

    fn small() -> Option<RenderOptions> {
        if !Path::new(SMALL).is_file() {
            eprintln!("skipped: {SMALL} is not installed (apt-get install timgm6mb-soundfont)");
            return None;
        }
        Some(RenderOptions {
            soundfont: Some(SMALL.into()),
            rate: 22_050,
            ..Default::default()
        })
    }

    fn read(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let mut r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        let samples = r.samples::<i16>().map(Result::unwrap).collect();
        (spec, samples)
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
    }

    #[test]
    fn renders_audible_audio_of_the_right_length() {
        let Some(opts) = small() else { return };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.wav");
        let report = render_wav(&melody(), &out, &opts).unwrap();
        let (spec, samples) = read(&out);
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 22_050, 16)
        );
        let frames = samples.len() / 2;
        assert_eq!(frames, ((2.0 + TAIL) * 22_050.0f64).ceil() as usize);
        assert!((report.seconds - 3.0).abs() < 1e-9);
        // The notes sound; the end of the tail has (nearly) died away.
        let during = rms(&samples[..2 * 22_050 * 2]);
        assert!(during > 300.0, "rms {during}");
        assert!(report.peak > 0.01 && report.peak <= 1.5, "{report}");
        // Only the finished file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert!(
            report
                .to_string()
                .starts_with("TimGM6mb.sf2, 3.0 s, peak -"),
            "{report}"
        );
    }

    #[test]
    fn tempo_scales_time() {
        let Some(mut opts) = small() else { return };
        opts.tempo_bpm = 60.0;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("slow.wav");
        let report = render_wav(&melody(), &out, &opts).unwrap();
        assert!((report.seconds - 5.0).abs() < 1e-9);
        let (_, samples) = read(&out);
        assert_eq!(samples.len(), 2 * 5 * 22_050);
        // Silence (only the tail) for an empty melody.
        let report = render_wav(&[], &out, &opts).unwrap();
        assert_eq!(report.to_string(), "TimGM6mb.sf2, 1.0 s, silent");
    }

    #[test]
    fn program_and_velocity_change_the_sound() {
        let Some(opts) = small() else { return };
        let dir = tempfile::tempdir().unwrap();
        let render = |o: &RenderOptions, name: &str| {
            let out = dir.path().join(name);
            render_wav(&melody(), &out, o).unwrap();
            read(&out).1
        };
        let piano = render(&opts, "piano.wav");
        let flute = render(
            &RenderOptions {
                program: 73,
                ..opts.clone()
            },
            "flute.wav",
        );
        assert_eq!(piano.len(), flute.len());
        assert_ne!(piano, flute);
        let soft = render(
            &RenderOptions {
                velocity: Some(20),
                ..opts.clone()
            },
            "soft.wav",
        );
        let loud = render(
            &RenderOptions {
                velocity: Some(127),
                ..opts.clone()
            },
            "loud.wav",
        );
        assert!(
            rms(&loud) > 2.0 * rms(&soft),
            "{} {}",
            rms(&loud),
            rms(&soft)
        );
    }

    #[test]
    fn schedule_applies_options() {
        let opts = RenderOptions {
            velocity: Some(0),
            transpose: 70,
            tempo_bpm: 240.0,
            rate: 16_000,
            ..Default::default()
        };
        let (events, total) = schedule(&melody(), &opts).unwrap();
        assert_eq!(total, 16_000 * 2);
        assert_eq!(events.len(), 8);
        // Offs come before ons at the same frame; times halved at 240 BPM.
        assert_eq!(
            events[1..3],
            [
                Event {
                    frame: 4000,
                    on: false,
                    key: 127,
                    velocity: 0
                },
                Event {
                    frame: 4000,
                    on: true,
                    key: 127,
                    velocity: 1
                },
            ]
        );
        assert!(
            events.iter().all(|e| e.key == 127),
            "transposed and clamped"
        );
        assert!(matches!(
            schedule(
                &melody(),
                &RenderOptions {
                    tempo_bpm: 0.0,
                    ..opts.clone()
                }
            ),
            Err(RenderError::Tempo(_))
        ));
        let huge = [Note {
            pitch: 60,
            start: 1e12,
            duration: 1.0,
            velocity: 1,
        }];
        assert!(matches!(
            schedule(&huge, &opts),
            Err(RenderError::TooLong(_))
        ));
        let nan = [Note {
            pitch: 60,
            start: f64::NAN,
            duration: f64::NAN,
            velocity: 1,
        }];
        assert!(schedule(&nan, &opts).is_ok());
    }

    #[test]
    fn bad_soundfonts_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.wav");
        let with = |p: &Path| RenderOptions {
            soundfont: Some(p.to_path_buf()),
            ..Default::default()
        };
        let missing = dir.path().join("nope.sf2");
        let e = render_wav(&melody(), &out, &with(&missing))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read SoundFont ") && e.contains("nope.sf2"),
            "{e}"
        );

        let garbage = dir.path().join("garbage.sf2");
        std::fs::write(&garbage, b"this is not a soundfont at all").unwrap();
        let e = render_wav(&melody(), &out, &with(&garbage))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("garbage.sf2 is not a usable SoundFont: not a SoundFont 2 file (no RIFF sfbk header)"), "{e}");

        // A header that claims 4 GiB of samples.
        let mut huge = b"RIFF\xff\xff\xff\x7fsfbkLIST\xf0\xff\xff\xffsdta".to_vec();
        huge.extend_from_slice(&[0; 64]);
        let lying = dir.path().join("lying.sf2");
        std::fs::write(&lying, &huge).unwrap();
        let e = render_wav(&melody(), &out, &with(&lying))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lying.sf2 is not a usable SoundFont: chunk `LIST` claims"),
            "{e}"
        );
        assert!(!out.exists());

        if Path::new(SMALL).is_file() {
            let bytes = std::fs::read(SMALL).unwrap();
            for cut in [100, 5000, bytes.len() / 2, bytes.len() - 10] {
                let t = dir.path().join("truncated.sf2");
                std::fs::write(&t, &bytes[..cut]).unwrap();
                let e = render_wav(&melody(), &out, &with(&t))
                    .unwrap_err()
                    .to_string();
                assert!(
                    e.contains("truncated.sf2 is not a usable SoundFont"),
                    "{cut}: {e}"
                );
            }
        }
    }

    #[test]
    fn corrupt_preset_tables_are_errors_not_panics() {
        let Some(opts) = small() else { return };
        let bytes = std::fs::read(SMALL).unwrap();
        let pdta = bytes.windows(4).position(|w| w == b"pdta").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (sf, out) = (dir.path().join("mutant.sf2"), dir.path().join("m.wav"));
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let (mut rejected, mut caught) = (0, 0);
        for _ in 0..25 {
            let mut b = bytes.clone();
            for _ in 0..1 + rnd() % 8 {
                let at = pdta + rnd() % (b.len() - pdta);
                b[at] = rnd() as u8;
            }
            std::fs::write(&sf, &b).unwrap();
            let o = RenderOptions {
                soundfont: Some(sf.clone()),
                rate: 16_000,
                ..opts.clone()
            };
            if let Err(e) = render_wav(&melody(), &out, &o) {
                let e = e.to_string();
                assert!(e.contains("mutant.sf2 is not a usable SoundFont: "), "{e}");
                rejected += 1;
                caught += e.contains("corrupt file?") as usize;
            }
        }
        // These seeds hit both rustysynth's own checks and its unchecked indexing.
        assert!(rejected > caught && caught > 0, "{rejected} {caught}");
    }

    #[test]
    fn bad_options_and_paths() {
        let e = render_wav(
            &melody(),
            Path::new("x.wav"),
            &RenderOptions {
                rate: 8000,
                ..Default::default()
            },
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "sample rate 8000 Hz is out of range (16000 to 192000)"
        );
        let Some(opts) = small() else { return };
        // Missing folders are made; a folder that is a file cannot be.
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("new/dir/x.wav");
        render_wav(&melody(), &made, &opts).unwrap();
        assert!(made.is_file());
        let blocked = dir.path().join("new/dir/x.wav/y.wav");
        let e = render_wav(&melody(), &blocked, &opts)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("cannot write `{}`: ", blocked.display()))
                && !e.contains("os error"),
            "{e}"
        );
    }

    #[test]
    fn default_soundfont_search() {
        let found = find_soundfont();
        if Path::new("/usr/share/sounds/sf2/FluidR3_GM.sf2").is_file() {
            assert_eq!(
                found,
                Some(PathBuf::from("/usr/share/sounds/sf2/FluidR3_GM.sf2"))
            );
        }
        assert_eq!(
            RenderError::NoSoundFont.to_string(),
            "no SoundFont found; install one with `apt-get install fluid-soundfont-gm` or pass soundfont \"FILE.sf2\""
        );
    }
}
