//! Turning a glob into tunes: dispatch by extension to the MIDI and ABC readers, the `where`
//! filter, one reason per skipped file, and the CSV export. The good files of a glob always
//! load; a bad one costs one line in the report.

use std::collections::{HashSet, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use super::abc::{AbcError, Accidentals};
use super::midi::MidiError;
use super::note::Tune;

/// Why a glob gave no files to read.
#[derive(Debug, thiserror::Error)]
pub enum GlobError {
    #[error("bad file pattern: {}", .0.msg)]
    Pattern(#[from] glob::PatternError),
    /// Ctrl-C during the walk.
    #[error("interrupted while listing `{0}`")]
    Interrupted(String),
    #[error(
        "`{0}` is a folder: load the files in it, e.g. \"{dir}/*.mid\", \"{dir}/*.abc\" or \"{dir}/**/*.mid\"",
        dir = .0.trim_end_matches('/')
    )]
    Folder(String),
    #[error("no files match `{0}`")]
    NoMatch(String),
}

/// Why a file gave no tunes, or why one of its tunes was skipped.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not a .mid, .midi or .abc file")]
    NotMusic,
    #[error("{}", crate::fsio::io_reason(.0))]
    Io(#[source] std::io::Error),
    #[error(transparent)]
    Abc(#[from] AbcError),
    /// An ABC file without a single `X:` field.
    #[error("no tunes (no X: field)")]
    NoTunes,
    #[error(transparent)]
    Midi(#[from] MidiError),
    #[error("no notes")]
    NoNotes,
}

/// Why `prime "F"` or `load "F.abc#X"` has no tune to use.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("cannot read `{file}`: {reason}")]
    Read {
        file: String,
        #[source]
        reason: FileError,
    },
    /// `path` names a tune (`F.abc#X`) the file does not have.
    #[error("no tune `{0}`")]
    NoTune(String),
}

#[derive(Debug, Default)]
pub struct LoadReport {
    pub tunes: Vec<Tune>,
    /// Files matched by the glob that were read (good or bad).
    pub files: usize,
    /// `(path, reason)` for every file or tune that could not be used.
    pub skipped: Vec<(String, FileError)>,
    /// Tunes that loaded but did not match `where`.
    pub filtered_out: usize,
    pub seconds: f64,
}

impl LoadReport {
    pub fn notes(&self) -> usize {
        self.tunes.iter().map(|t| t.notes.len()).sum()
    }
}

/// `where FIELD ~ TEXT`: case-insensitive substring of a header field.
pub struct Filter<'a> {
    pub field: &'a str,
    pub text: &'a str,
}

/// The file paths a glob names, sorted so that every run loads the same order.
///
/// The walk is tms's own rather than the glob crate's: that one follows symlinks into
/// directories without remembering where it has been, so `d/**/*.mid` with a link to `..`
/// inside `d` never ended. Here each real directory (device and inode) is listed once,
/// and `interrupt` (Ctrl-C) stops the walk.
pub fn expand(pattern: &str, interrupt: &AtomicBool) -> Result<Vec<String>, GlobError> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let whole = glob::Pattern::new(pattern)?;
    let parts: Vec<&str> = pattern.split('/').collect();
    let literal = |p: &str| !p.contains(['*', '?', '[']);
    // The leading components without wildcards name the folder where the walk starts.
    let fixed = parts.iter().take_while(|p| literal(p)).count();
    let mut out = Vec::new();
    if fixed == parts.len() {
        if Path::new(pattern).is_file() {
            out.push(pattern.to_string());
        }
    } else {
        let root = parts[..fixed].join("/");
        let mut component_patterns = Vec::new();
        for p in &parts[fixed..] {
            component_patterns.push(match *p {
                "**" => None,
                p => Some(glob::Pattern::new(p)?),
            });
        }
        let walk = Walk {
            whole: &whole,
            parts: &component_patterns,
            options,
            interrupt,
        };
        let start = if fixed == 0 {
            PathBuf::new()
        } else if root.is_empty() {
            PathBuf::from("/")
        } else {
            PathBuf::from(&root)
        };
        walk.run(&start, &mut out)
            .map_err(|()| GlobError::Interrupted(pattern.to_string()))?;
    }
    // A file whose name holds glob characters (`take [2].mid`) is still itself.
    if out.is_empty() && Path::new(pattern).is_file() {
        out.push(pattern.to_string());
    }
    out.sort();
    if out.is_empty() {
        if Path::new(pattern).is_dir() {
            return Err(GlobError::Folder(pattern.to_string()));
        }
        return Err(GlobError::NoMatch(pattern.to_string()));
    }
    Ok(out)
}

/// A directory walk for one glob.
struct Walk<'a> {
    whole: &'a glob::Pattern,
    /// The pattern's components after the starting folder; None is `**`.
    parts: &'a [Option<glob::Pattern>],
    options: glob::MatchOptions,
    interrupt: &'a AtomicBool,
}

impl Walk<'_> {
    /// Lists `start` and below, breadth first; Err when interrupted.
    fn run(&self, start: &Path, out: &mut Vec<String>) -> Result<(), ()> {
        let mut seen = HashSet::new();
        // (folder, how many pattern components its path has used up; None once past a `**`).
        let mut queue = VecDeque::from([(start.to_path_buf(), Some(0usize))]);
        while let Some((dir, depth)) = queue.pop_front() {
            if self.interrupt.load(Ordering::SeqCst) {
                return Err(());
            }
            let listed = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &dir
            };
            let Ok(meta) = std::fs::metadata(listed) else {
                continue;
            };
            if !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(listed) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = dir.join(entry.file_name());
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                if meta.is_file() {
                    if self.whole.matches_path_with(&path, self.options) {
                        out.push(path.to_string_lossy().into_owned());
                    }
                } else if meta.is_dir() {
                    if let Some(next) = self.descend(depth, &entry.file_name().to_string_lossy()) {
                        queue.push_back((path, next));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a folder named `name` at `depth` can hold matches, and its depth if so.
    fn descend(&self, depth: Option<usize>, name: &str) -> Option<Option<usize>> {
        let Some(d) = depth else { return Some(None) };
        match self.parts.get(d)? {
            None => Some(None),
            // The last component names files, not folders.
            Some(_) if d + 1 == self.parts.len() => None,
            Some(p) => p.matches_with(name, self.options).then_some(Some(d + 1)),
        }
    }
}

pub fn is_abc(path: &str) -> bool {
    extension(path) == "abc"
}

fn extension(path: &str) -> String {
    Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// The tunes of one file and why any of its tunes were skipped, or why it has none.
pub fn read_file(path: &str, abc: Accidentals) -> Result<(Vec<Tune>, Vec<AbcError>), FileError> {
    let ext = extension(path);
    if !matches!(ext.as_str(), "mid" | "midi" | "abc") {
        return Err(FileError::NotMusic);
    }
    let bytes = crate::fsio::read(Path::new(path)).map_err(FileError::Io)?;
    if ext == "abc" {
        let text = String::from_utf8_lossy(&bytes);
        let (tunes, errors) = super::abc::parse_abc_with(&text, path, abc);
        if tunes.is_empty() {
            let first = errors.into_iter().next();
            return Err(first.map_or(FileError::NoTunes, FileError::Abc));
        }
        return Ok((tunes, errors));
    }
    let (notes, bars) = super::midi::read_midi_bars(&bytes)?;
    if notes.is_empty() {
        return Err(FileError::NoNotes);
    }
    let mut tune = Tune {
        source: path.to_string(),
        notes,
        bars,
        ..Tune::default()
    };
    tune.sort();
    Ok((vec![tune], Vec::new()))
}

type FileResult = Result<(Vec<Tune>, Vec<AbcError>), FileError>;

/// Reads files on every core, keeping their order; `done` counts finished files.
fn read_all(paths: &[String], abc: Accidentals, done: &AtomicUsize) -> Vec<FileResult> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
        .min(paths.len().max(1));
    let chunk = paths.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|p| {
                            let r = read_file(p, abc);
                            done.fetch_add(1, Ordering::Relaxed);
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Loads every file of the glob. `limit` keeps the first N tunes (after `where`).
pub fn load(
    pattern: &str,
    limit: Option<usize>,
    filter: Option<&Filter>,
    abc: Accidentals,
    interrupt: &AtomicBool,
    mut progress: impl FnMut(usize, usize) + Send,
) -> Result<LoadReport, GlobError> {
    let started = Instant::now();
    let paths = expand(pattern, interrupt)?;
    let mut report = LoadReport::default();
    let wanted = limit.unwrap_or(usize::MAX);
    let keep = |t: &Tune| {
        filter.is_none_or(|f| {
            t.fields
                .get(f.field)
                .is_some_and(|v| v.to_lowercase().contains(&f.text.to_lowercase()))
        })
    };
    // With a limit, read in order and stop early; otherwise read everything on all cores.
    let results: Box<dyn Iterator<Item = (&String, FileResult)>> = if limit.is_some() {
        Box::new(paths.iter().map(|p| (p, read_file(p, abc))))
    } else {
        let done = AtomicUsize::new(0);
        let all = std::thread::scope(|scope| {
            let reader = scope.spawn(|| read_all(&paths, abc, &done));
            while !reader.is_finished() {
                progress(done.load(Ordering::Relaxed), paths.len());
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            reader.join().unwrap_or_default()
        });
        Box::new(paths.iter().zip(all))
    };
    for (path, result) in results {
        if report.tunes.len() >= wanted {
            break;
        }
        report.files += 1;
        match result {
            Ok((tunes, problems)) => {
                for p in problems {
                    report.skipped.push((path.clone(), p.into()));
                }
                for t in tunes {
                    if !keep(&t) {
                        report.filtered_out += 1;
                    } else if report.tunes.len() < wanted {
                        report.tunes.push(t);
                    }
                }
            }
            Err(reason) => report.skipped.push((path.clone(), reason)),
        }
    }
    progress(paths.len(), paths.len());
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The LANGUAGE.md export format: `source,pitch,start,step,duration,velocity`.
pub fn to_csv(tunes: &[Tune]) -> String {
    to_csv_with(tunes, None)
}

/// [`to_csv`], and with `column` (a name, and one value per note of each tune) a seventh
/// column.
pub fn to_csv_with(tunes: &[Tune], column: Option<(&str, &[Vec<i64>])>) -> String {
    use std::fmt::Write;
    let mut out = String::from("source,pitch,start,step,duration,velocity");
    if let Some((name, _)) = column {
        let _ = write!(out, ",{name}");
    }
    out.push('\n');
    for (i, t) in tunes.iter().enumerate() {
        let source = csv_field(&t.source);
        let mut prev = None;
        for (k, n) in t.notes.iter().enumerate() {
            let step = prev.map_or(0.0, |p: f64| n.start - p);
            prev = Some(n.start);
            let _ = write!(
                out,
                "{source},{},{:.6},{:.6},{:.6},{}",
                n.pitch, n.start, step, n.duration, n.velocity
            );
            if let Some((_, values)) = column {
                let _ = write!(out, ",{}", values[i][k]);
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::note::Note;

    #[test]
    fn csv_has_the_contract_header_and_steps() {
        let n = |pitch, start| Note {
            pitch,
            start,
            duration: 0.25,
            velocity: 90,
        };
        let tunes = vec![Tune {
            source: "a,b.abc#3".into(),
            notes: vec![n(60, 0.0), n(62, 0.5), n(64, 0.75)],
            ..Tune::default()
        }];
        assert_eq!(
            to_csv(&tunes),
            "source,pitch,start,step,duration,velocity\n\
             \"a,b.abc#3\",60,0.000000,0.000000,0.250000,90\n\
             \"a,b.abc#3\",62,0.500000,0.500000,0.250000,90\n\
             \"a,b.abc#3\",64,0.750000,0.250000,0.250000,90\n"
        );
    }

    #[test]
    fn globs_list_each_real_folder_once_through_symlink_loops() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        for f in ["a.mid", "sub/b.mid", "sub/deeper/c.mid", "sub/skip.abc"] {
            std::fs::write(d.join(f), b"").unwrap();
        }
        std::os::unix::fs::symlink("..", d.join("sub/up")).unwrap();
        std::os::unix::fs::symlink("..", d.join("sub/deeper/up")).unwrap();
        let never = AtomicBool::new(false);
        let base = d.to_string_lossy();
        let found = expand(&format!("{base}/**/*.mid"), &never).unwrap();
        let rel: Vec<&str> = found.iter().map(|p| &p[base.len() + 1..]).collect();
        assert_eq!(rel, ["a.mid", "sub/b.mid", "sub/deeper/c.mid"]);
        let one_level = expand(&format!("{base}/*/*.mid"), &never).unwrap();
        assert_eq!(one_level.len(), 1);
        let stop = AtomicBool::new(true);
        assert_eq!(
            expand(&format!("{base}/**/*.mid"), &stop)
                .unwrap_err()
                .to_string(),
            format!("interrupted while listing `{base}/**/*.mid`")
        );
    }

    #[test]
    fn unknown_extensions_and_missing_files_are_reasons() {
        assert_eq!(
            read_file("README.txt", Accidentals::Bar)
                .unwrap_err()
                .to_string(),
            "not a .mid, .midi or .abc file"
        );
        assert_eq!(
            read_file("/nonexistent/x.mid", Accidentals::Bar)
                .unwrap_err()
                .to_string(),
            "no such file or directory"
        );
        assert!(expand("/nonexistent/*.mid", &AtomicBool::new(false))
            .unwrap_err()
            .to_string()
            .contains("no files match"));
    }
}
