//! Why a recording could not start or be written, as data: the session decides where the
//! message stands (which span, what it adds), and each variant's `Display` is that message.

use std::io;
use std::path::{Path, PathBuf};

/// What the recording track read back says when it is not what the writer wrote.
const NOT_AS_WRITTEN: &str = "the recording track on disk is not as tms wrote it";

/// Everything that can go wrong with a recording. Cloneable data (an I/O error is kept as
/// its reason, worded by [`crate::fsio::io_reason`]) so that it can travel inside the
/// session's errors to the one renderer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// The target's name does not end in .mid or .midi; `instead` is the name suggested.
    #[error(
        "`record` writes a standard MIDI file: its name must end in .mid or .midi, e.g. `record {}`",
        crate::ground::text::quote(&.instead.to_string_lossy())
    )]
    NotMidiName { instead: PathBuf },
    /// The target exists and `overwrite` was not given.
    #[error(
        "`{}` already exists: `record {} overwrite` replaces it, or give another name",
        .path.display(),
        crate::ground::text::quote(&.path.to_string_lossy())
    )]
    Exists { path: PathBuf },
    /// The file could not be created, written or replaced: a folder that is a file, a full
    /// disk, a target that is not a regular file.
    #[error("cannot write recording `{}`: {reason}", .path.display())]
    CannotWrite { path: PathBuf, reason: String },
    /// The recording track would pass the 4 GB a track's length can say.
    #[error(
        "cannot write recording `{}`: a MIDI track holds at most 4 GB: `record stop`",
        .path.display()
    )]
    TrackFull { path: PathBuf },
    /// The final write read back a recording track that is not what was appended.
    #[error("cannot write recording `{}`: {}", .path.display(), NOT_AS_WRITTEN)]
    Changed { path: PathBuf },
    /// The writer thread could not be started.
    #[error("cannot start recording: {0}")]
    NoWriter(String),
}

impl RecordError {
    /// A failed write of the recording at `path`: [`RecordError::Changed`] when the read
    /// back found the file not as written, else its I/O reason.
    pub(super) fn write(path: &Path, e: &io::Error) -> RecordError {
        let path = path.to_path_buf();
        if e.get_ref().is_some_and(|inner| inner.is::<NotAsWritten>()) {
            return RecordError::Changed { path };
        }
        RecordError::CannotWrite {
            path,
            reason: crate::fsio::io_reason(e),
        }
    }
}

/// The I/O error of a read back that found the recording track not as written; carried out
/// of the final write's I/O and turned into [`RecordError::Changed`].
#[derive(Debug)]
pub(super) struct NotAsWritten;

impl std::fmt::Display for NotAsWritten {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(NOT_AS_WRITTEN)
    }
}

impl std::error::Error for NotAsWritten {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn each_failure_reads_as_the_message_users_know() {
        let path = PathBuf::from("dir/set.mid");
        let said = |e: RecordError| e.to_string();
        assert_eq!(
            said(RecordError::NotMidiName {
                instead: PathBuf::from("m.mid")
            }),
            "`record` writes a standard MIDI file: its name must end in .mid or .midi, e.g. `record \"m.mid\"`"
        );
        assert_eq!(
            said(RecordError::Exists { path: path.clone() }),
            "`dir/set.mid` already exists: `record \"dir/set.mid\" overwrite` replaces it, or give another name"
        );
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(
            said(RecordError::write(&path, &missing)),
            "cannot write recording `dir/set.mid`: no such file or directory"
        );
        assert_eq!(
            said(RecordError::TrackFull { path: path.clone() }),
            "cannot write recording `dir/set.mid`: a MIDI track holds at most 4 GB: `record stop`"
        );
        let changed = RecordError::write(&path, &io::Error::other(NotAsWritten));
        assert_eq!(changed, RecordError::Changed { path: path.clone() });
        assert_eq!(
            said(changed.clone()),
            "cannot write recording `dir/set.mid`: the recording track on disk is not as tms wrote it"
        );
        assert_eq!(
            ErrorKind::Record {
                error: changed,
                kept: true
            }
            .to_string(),
            "cannot write recording `dir/set.mid`: the recording track on disk is not as tms wrote it; the recording is kept: make room, then `record stop` again"
        );
        assert_eq!(
            said(RecordError::NoWriter("out of threads".into())),
            "cannot start recording: out of threads"
        );
    }
}
