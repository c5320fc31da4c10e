//! Every file tms writes or reads whole goes through here, so that the rules about odd
//! targets live in one place rather than in each command:
//!
//! - Writes are atomic: the bytes go to an exclusively created temporary file with an
//!   unpredictable name beside the target (a planted symlink cannot redirect it), are
//!   synced, then renamed over the target. Readers see the old file or the new one, never a
//!   part; the temporary file is removed on every failure (full disk, Ctrl-C in a long
//!   render), and the orphans of a killed run are removed by the next write to the target.
//! - A symlink target is written through: the file it points at is replaced, the link stays.
//! - A target that exists and is not a regular file (a FIFO, `/dev/null`, a directory) is
//!   refused: replacing it would destroy the node, and writing into it could block forever.
//! - Reads refuse anything but regular files, without ever blocking on a FIFO, so `/dev/zero`
//!   cannot be read without bound.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What a file is to tms, and the extensions that name it: the one list that completion,
/// the commands' checks and their messages read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A `.tms` script (`run`, `watch`, `history`, `tms FILE`).
    Script,
    /// A model `model "F"` opens: tms's safetensors or the notebook's PyTorch file.
    ModelToOpen,
    /// A model tms writes (`save`): safetensors only.
    Model,
    /// A melody to read (`load`, `prime`).
    Melody,
    /// What `write` makes: MIDI, notation or audio.
    Written,
    /// A `record` take: a standard MIDI file.
    Recording,
    /// The rendered audio of `render`.
    Audio,
    /// A SoundFont for `render`.
    SoundFont,
    /// An `export` table.
    Table,
}

impl Role {
    pub const fn extensions(self) -> &'static [&'static str] {
        match self {
            Role::Script => &["tms"],
            Role::ModelToOpen => &["safetensors", "pth", "pt"],
            Role::Model => &["safetensors"],
            Role::Melody => &["mid", "midi", "abc"],
            Role::Written => &["mid", "midi", "abc", "musicxml", "xml", "wav"],
            Role::Recording => &["mid", "midi"],
            Role::Audio => &["wav"],
            Role::SoundFont => &["sf2"],
            Role::Table => &["csv"],
        }
    }

    /// Whether `path` ends in one of the role's extensions, in any case.
    pub fn names(self, path: &Path) -> bool {
        path.extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .is_some_and(|e| self.extensions().contains(&e.as_str()))
    }
}

/// Temporary files are `.NAME` + this + `PID-RANDOM`: recognisable, so the orphans of a
/// killed run can be found again, and carrying the pid of the writer that owns them.
const TEMP_MARK: &str = ".tms-";

/// An orphan must also be this old before it is removed: a pid that looks dead here may
/// belong to a live writer in another pid namespace sharing the folder, and such a writer
/// touches its file far more often than this.
const ORPHAN_AGE: Duration = Duration::from_secs(600);

/// An OS error's message without Rust's `(os error 2)` suffix.
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// What a non-regular file is, for messages.
fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn not_regular(meta: &Metadata, doing: &str) -> io::Error {
    io::Error::other(format!(
        "{}, not a regular file (tms {doing} only regular files)",
        kind_of(meta)
    ))
}

/// Reads a whole regular file. Anything else is refused before a byte is read, and the open
/// never blocks (a FIFO without a writer would otherwise hang the session).
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(not_regular(&meta, "reads"));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // The path may have been swapped between the two looks; the open file is what counts.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(&meta, "reads"));
    }
    let len = meta.len();
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // A file that grows while it is read is read as long as it was when opened.
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The largest script tms reads. A script is text a person writes or `history` saves; 16 MB
/// is about 800,000 commands. The limit keeps `run "/some/huge/file"` from reading without
/// bound, and checking and running a script costs memory for its text and little more.
pub const SCRIPT_LIMIT: u64 = 16 * 1024 * 1024;

/// Why a script could not be read. Cloneable data (not an `io::Error`) so that it can travel
/// inside the language's errors to the one renderer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScriptReadError {
    #[error("{0}")]
    Io(String),
    #[error("it is {}, over the {} a script may hold", megabytes(*size), megabytes(*limit))]
    TooLarge { size: u64, limit: u64 },
    #[error("not UTF-8 text (an invalid byte on line {line})")]
    NotText { line: usize },
}

fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if mb >= 10.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb:.1} MB")
    }
}

/// Reads a script: a regular file (never a FIFO or device: the open never blocks), at most
/// [`SCRIPT_LIMIT`] bytes (checked before reading), UTF-8, without the byte order mark some
/// Windows editors write. The one reader for `run`, `watch`, `tms run` and `tms check`.
pub fn read_script(path: &Path) -> Result<String, ScriptReadError> {
    let io = |e: io::Error| ScriptReadError::Io(io_reason(&e));
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(io(not_regular(&meta, "reads")));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(not_regular(&meta, "reads")));
    }
    if meta.len() > SCRIPT_LIMIT {
        return Err(ScriptReadError::TooLarge {
            size: meta.len(),
            limit: SCRIPT_LIMIT,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(meta.len()).read_to_end(&mut bytes).map_err(io)?;
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        ScriptReadError::NotText {
            line: 1 + good.iter().filter(|&&b| b == b'\n').count(),
        }
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// Writes `bytes` to `path` atomically (see the module docs).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |f| f.write_all(bytes))
}

/// Like [`write`], for output produced a piece at a time: `body` writes into the temporary
/// file and may fail (its own error, or an interruption it notices), in which case the
/// temporary file is removed and the target is untouched.
pub fn write_with<T, E: From<io::Error>>(
    path: &Path,
    body: impl FnOnce(&mut File) -> Result<T, E>,
) -> Result<T, E> {
    // The kernel's own look first: `/proc`'s magic links (`/dev/stdout` on a pipe points at
    // `pipe:[N]`) cannot be followed by reading them as paths.
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(not_regular(&meta, "writes").into());
        }
    }
    let target = resolve_links(path)?;
    let existing = match std::fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => return Err(not_regular(&meta, "writes").into()),
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::other("not a file name"))?
        .to_string_lossy()
        .into_owned();
    let prefix = format!(".{name}{TEMP_MARK}{}-", std::process::id());
    remove_orphans(&dir, &name);
    // 0666 as File::create uses, so the umask decides as it would for a plain write.
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(8)
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(&dir)?;
    if let Some(meta) = &existing {
        // Replacing a file keeps its permission bits.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    // From here on, dropping `tmp` (any `?` below) deletes the temporary file.
    let value = body(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    // The rename is durable once the folder is synced; a failure here loses nothing written.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(value)
}

/// The file a chain of symlinks ends at (which need not exist yet), so that writing replaces
/// that file and leaves the links as they were.
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut at = path.to_path_buf();
    // Linux's own limit on links followed in one lookup.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let to = std::fs::read_link(&at)?;
                at = match at.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(at),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// Removes `.NAME.tms-PID-*` files in `dir` left by writers that died (kill -9, a second
/// Ctrl-C, a power cut): only regular files, only when that process is gone, and only when
/// untouched for a while. Errors are ignored; cleaning up is a courtesy.
fn remove_orphans(dir: &Path, name: &str) {
    let lead = format!(".{name}{TEMP_MARK}");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&lead)) else {
            continue;
        };
        let Some(pid) = rest
            .split_once('-')
            .and_then(|(p, _)| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || process_alive(pid) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= ORPHAN_AGE);
        if meta.is_file() && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process with this pid may exist. Without a readable `/proc` nothing can be
/// known, so every writer counts as alive and nothing is removed.
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Whether something a write would replace exists at `path`: a regular file (links
/// followed, `/proc`'s magic links such as `/dev/stdout` included) or a dangling link.
/// Anything else that exists is refused as [`write`] refuses it, so that a command can
/// check its target before it starts (`record`, which must not replace a file unasked).
pub fn existing_target(path: &Path) -> io::Result<bool> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(true),
        Ok(meta) => Err(not_regular(&meta, "writes")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Ok(std::fs::symlink_metadata(path).is_ok())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(TEMP_MARK))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_replace_whole_files_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.txt");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(leftovers(&dir.path().join("sub")).is_empty());
    }

    #[test]
    fn a_failing_body_leaves_the_target_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        write(&p, b"old").unwrap();
        let r: io::Result<()> = write_with(&p, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("interrupted"))
        });
        assert_eq!(r.unwrap_err().to_string(), "interrupted");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn symlinks_are_written_through_and_stay_links() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        let link = dir.path().join("link.txt");
        std::fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        write(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn special_files_are_refused_for_writing_and_reading() {
        let e = write(Path::new("/dev/null"), b"x").unwrap_err();
        assert_eq!(
            io_reason(&e),
            "a character device, not a regular file (tms writes only regular files)"
        );
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            io_reason(&e),
            "a character device, not a regular file (tms reads only regular files)"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(io_reason(&e).starts_with("a directory, not a regular file"));
    }

    #[test]
    fn orphans_of_dead_writers_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - ORPHAN_AGE - Duration::from_secs(5);
        let plant = |name: &str, when: SystemTime| {
            let f = File::create(dir.path().join(name)).unwrap();
            f.set_modified(when).unwrap();
        };
        // A pid above the kernel's maximum (2^22) never belongs to a live process.
        let dead = ".out.mid.tms-99999999-abcdefgh";
        let dead_but_recent = ".out.mid.tms-99999998-abcdefgh";
        let alive = format!(".out.mid.tms-{}-abcdefgh", std::process::id());
        let other_target = ".other.mid.tms-99999999-abcdefgh";
        plant(dead, old);
        plant(dead_but_recent, SystemTime::now());
        plant(&alive, old);
        plant(other_target, old);
        write(&dir.path().join("out.mid"), b"x").unwrap();
        assert_eq!(
            leftovers(dir.path()),
            vec![other_target.to_string(), alive, dead_but_recent.to_string()]
        );
    }

    #[test]
    fn new_files_follow_the_umask_and_replaced_ones_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&p, b"y").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        let q = dir.path().join("q");
        write(&q, b"y").unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        assert_eq!(
            std::fs::metadata(&q).unwrap().mode() & 0o777,
            std::fs::metadata(&plain).unwrap().mode() & 0o777
        );
    }
}
