//! `watch "F.tms"`: live coding from an editor. The file runs now and again after every
//! save, while the music goes on and the prompt stays usable.
//!
//! Editors save in three ways — write a new file and rename it over the old one (vim,
//! VS Code), truncate and write in place, or append — so the watch is on the file's
//! directory, not its inode (a rename-over would orphan an inode watch), and events are
//! filtered by name. One save is several events (truncate, write, close; or create,
//! rename); they are debounced into one run. The watcher thread only rings a [`Bell`]:
//! whoever owns the session (the prompt's watch thread, or a script that ended while
//! watching) runs the file, so a run never races a command typed at the prompt.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use super::{Session, Source};
use crate::error::{Error, ErrorKind, Report, ScriptError};
use crate::fsio::ScriptReadError;
use crate::ground::span::Span;
use crate::say;

/// Events closer together than this are one save.
const DEBOUNCE: Duration = Duration::from_millis(120);

/// A flag one thread raises and another waits for.
#[derive(Default)]
pub struct Bell {
    rung: Mutex<bool>,
    cv: Condvar,
}

impl Bell {
    pub fn ring(&self) {
        let mut rung = self.rung.lock().unwrap_or_else(|e| e.into_inner());
        *rung = true;
        self.cv.notify_all();
    }

    /// Waits until rung (clearing it) or until `timeout` passes; true when it was rung.
    pub fn wait(&self, timeout: Duration) -> bool {
        let rung = self.rung.lock().unwrap_or_else(|e| e.into_inner());
        let (mut rung, _) = self
            .cv
            .wait_timeout_while(rung, timeout, |r| !*r)
            .unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *rung, false)
    }
}

/// Why a watch could not start (a file that cannot be read is [`ErrorKind::CannotWatch`]).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("`{0}` names no file")]
    NoFile(String),
    /// The operating system refused to watch the file, or its folder (`path`).
    #[error("cannot watch `{path}`: {source}")]
    Notify { path: String, source: notify::Error },
    /// The thread that debounces saves could not start.
    #[error("cannot watch `{path}`: {source}")]
    Thread {
        path: String,
        source: std::io::Error,
    },
}

/// The file being watched; dropping it ends the watch (the debounce thread ends with it).
pub(super) struct Watch {
    pub path: String,
    _watcher: notify::RecommendedWatcher,
}

impl Watch {
    fn start(path: &str, bell: Arc<Bell>) -> Result<Watch, WatchError> {
        let file = Path::new(path);
        let name: OsString = file
            .file_name()
            .ok_or_else(|| WatchError::NoFile(path.to_string()))?
            .to_owned();
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let (tx, rx) = mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event {
                    let saved = matches!(event.kind, EventKind::Create(_) | EventKind::Modify(_));
                    if saved && event.paths.iter().any(|p| p.file_name() == Some(&name)) {
                        let _ = tx.send(());
                    }
                }
            })
            .map_err(|source| WatchError::Notify {
                path: path.to_string(),
                source,
            })?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError::Notify {
                path: dir.display().to_string(),
                source,
            })?;
        std::thread::Builder::new()
            .name("tms-watch".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    loop {
                        match rx.recv_timeout(DEBOUNCE) {
                            Ok(()) => continue,
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    bell.ring();
                }
            })
            .map_err(|source| WatchError::Thread {
                path: path.to_string(),
                source,
            })?;
        Ok(Watch {
            path: path.to_string(),
            _watcher: watcher,
        })
    }
}

/// What `watch` and the runs it causes need in the session.
#[derive(Default)]
pub(super) struct State {
    pub watch: Option<Watch>,
    pub bell: Arc<Bell>,
    /// True while a watched run is executing (a `watch` inside it would loop).
    running: bool,
}

impl Session {
    /// Rung when the watched file was saved; the owner of the session then calls
    /// [`Session::run_watched`].
    pub fn watch_bell(&self) -> Arc<Bell> {
        self.watch.bell.clone()
    }

    pub fn is_watching(&self) -> bool {
        self.watch.watch.is_some()
    }

    pub(super) fn watch_command(&mut self, path: Option<&str>, span: Span) -> Result<(), Error> {
        let Some(path) = path else {
            match &self.watch.watch {
                Some(w) => say!(self, "watching {}", w.path),
                None => say!(self, "watching nothing: `watch \"FILE.tms\"` starts"),
            }
            return Ok(());
        };
        if self.watch.running {
            return Err(Error::new(span, ErrorKind::WatchInWatched));
        }
        // The first run's errors are the watch command's: a script that starts watching a
        // broken file should stop there, like `run`. A file that cannot be read at all (a
        // directory, a FIFO, a device) is not watched.
        if let Err(reason) = crate::fsio::read_script(Path::new(path)) {
            return Err(cannot_watch(path, reason, Some(span), false));
        }
        self.watch.watch = None;
        let watch =
            Watch::start(path, self.watch.bell.clone()).map_err(|e| Error::new(span, e.into()))?;
        self.watch.watch = Some(watch);
        say!(
            self,
            "watching {path}: it runs now and again each time it is saved"
        );
        // A save between starting the watch and this first run must not run it twice.
        self.watch.bell.wait(Duration::ZERO);
        self.run_watched_now(Some(span))
    }

    pub(super) fn unwatch_command(&mut self) {
        match self.watch.watch.take() {
            Some(w) => say!(self, "stopped watching {}", w.path),
            None => say!(self, "watching nothing"),
        }
    }

    /// At the end of a script that started a watch: keep running the file after each save
    /// until Ctrl-C, `quit` in the file, or `unwatch` in it.
    pub(super) fn keep_watching(&mut self) {
        let Some(path) = self.watch.watch.as_ref().map(|w| w.path.clone()) else {
            return;
        };
        say!(self, "watching {path} until Ctrl-C");
        let bell = self.watch.bell.clone();
        while self.is_watching() && !self.interrupted() && !self.quit {
            if !bell.wait(Duration::from_millis(100)) {
                continue;
            }
            if let Some(Err(msg)) = self.run_watched() {
                eprintln!("{msg}");
            }
        }
    }

    /// Runs the watched file, after its bell rang. None when nothing is watched (an
    /// `unwatch` came first) or the file is gone for the moment; otherwise the errors, to
    /// be shown with their carets. The music and the session go on either way.
    pub fn run_watched(&mut self) -> Option<Result<(), Report>> {
        let path = self.watch.watch.as_ref()?.path.clone();
        if !Path::new(&path).exists() {
            // Some editors remove the file before writing the new one; the next event runs it.
            return None;
        }
        say!(self, "{path} saved: running it");
        let result = self.run_watched_now(None).map_err(|e| Report {
            script: ScriptError {
                file: path,
                source: "".into(),
                errors: vec![e],
            },
            color: self.color,
        });
        Some(result)
    }

    /// Runs the watched file; its errors come back as one error pointing into the text that
    /// ran (the file may change again before they are shown). A file that has become
    /// unreadable (replaced by a directory or a FIFO) ends the watch: there is nothing to
    /// rerun, and waiting on it would freeze the session.
    fn run_watched_now(&mut self, span: Option<Span>) -> Result<(), Error> {
        let Some(path) = self.watch.watch.as_ref().map(|w| w.path.clone()) else {
            return Ok(());
        };
        let text = match crate::fsio::read_script(Path::new(&path)) {
            Ok(text) => text,
            Err(reason) => {
                self.watch.watch = None;
                return Err(cannot_watch(&path, reason, span, true));
            }
        };
        self.watch.running = true;
        let result = self.run_text(&Source {
            name: &path,
            text: &text,
        });
        self.watch.running = false;
        result.map_err(|errors| Error {
            span,
            kind: ErrorKind::InScript(Box::new(ScriptError {
                file: path.clone(),
                source: text.into(),
                errors,
            })),
        })
    }
}

fn cannot_watch(path: &str, reason: ScriptReadError, span: Option<Span>, ended: bool) -> Error {
    Error {
        span,
        kind: ErrorKind::CannotWatch {
            path: path.to_string(),
            reason,
            ended,
        },
    }
}
