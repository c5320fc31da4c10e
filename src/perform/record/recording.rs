//! The recording as the session drives it: the writer thread that appends every second,
//! `record stop`, and the save on a forced exit. Apart from the file format it drives.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::take::{Summary, Take};
use super::{RecordError, Tape, SAVE_EVERY};
use crate::music::meter::Meter;
use crate::perform::Controls;

fn lock(take: &Mutex<Take>) -> MutexGuard<'_, Take> {
    take.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn opening_programs(programs: &[(String, u8, u8)]) -> Vec<(Arc<str>, [u8; 2])> {
    programs
        .iter()
        .map(|(name, ch, p)| (Arc::from(name.as_str()), [0xC0 | (ch & 15), p & 127]))
        .collect()
}

/// A recording in progress: the writer thread and how to stop it.
pub struct Recording {
    tape: Tape,
    take: Arc<Mutex<Take>>,
    path: PathBuf,
    stop: Sender<()>,
    writer: Option<JoinHandle<()>>,
}

/// The recording that a second Ctrl-C must still write before tms exits.
type Active = (Tape, Arc<Mutex<Take>>, PathBuf);
static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

impl Recording {
    /// Starts recording into `path`, a `.mid` or `.midi` name, created at once so that a
    /// bad path fails now. An existing file is refused unless `overwrite`.
    pub fn start(
        tape: &Tape,
        path: &Path,
        overwrite: bool,
        tempo: f64,
        meter: Meter,
    ) -> Result<Recording, RecordError> {
        let take = Arc::new(Mutex::new(Take::create(path, overwrite, tempo, meter)?));
        tape.set(true);
        let (stop, stopped) = mpsc::channel::<()>();
        let (t, k) = (tape.clone(), take.clone());
        let writer = std::thread::Builder::new()
            .name("tms-record".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(SAVE_EVERY) {
                    let mut take = lock(&k);
                    if take.done {
                        return;
                    }
                    // A failure (full disk) keeps the messages; the next second or
                    // `record stop` tries again and reports it.
                    let _ = take.append(t.take());
                }
            })
            .map_err(|e| RecordError::NoWriter(e.to_string()))?;
        if let Ok(mut a) = ACTIVE.lock() {
            *a = Some((tape.clone(), take.clone(), path.to_path_buf()));
        }
        Ok(Recording {
            tape: tape.clone(),
            take,
            path: path.to_path_buf(),
            stop,
            writer: Some(writer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A change of tempo: into the conductor track at its time.
    pub fn tempo(&self, bpm: f64) {
        self.tape.tempo(bpm);
    }

    /// The controls whose tempo is played (the first voice's), starting at `bpm`: a change
    /// made there without `set tempo` (`clock in`, a knob) is kept with the next message
    /// played or heard.
    pub fn follow_tempo(&self, controls: Arc<Controls>, bpm: f64) {
        if let Ok(mut f) = self.tape.follow.lock() {
            *f = Some((controls, bpm));
        }
    }

    /// The program each voice has as the take starts (its name, channel 0 to 15, program):
    /// each voice's track in the final file begins with it.
    pub fn programs(&self, programs: &[(String, u8, u8)]) {
        lock(&self.take).programs = opening_programs(programs);
    }

    /// Seconds recorded and messages kept so far.
    pub fn progress(&self) -> (f64, usize) {
        let take = lock(&self.take);
        let kept = take.written.events + take.unsaved.len() + self.tape.waiting();
        (take.started.elapsed().as_secs_f64(), kept)
    }

    /// Ends the recording and writes the final file. On failure (a full disk) the
    /// recording keeps running and the error says so: try again.
    pub fn stop(mut self) -> Result<Summary, Box<(Recording, RecordError)>> {
        let result = {
            let mut take = lock(&self.take);
            let rest = self.tape.set(false);
            let result = take.append(rest).and_then(|()| take.finish());
            if result.is_err() {
                self.tape.set(true);
            }
            result
        };
        match result {
            Ok(mut summary) => {
                summary.lost = self.tape.lost();
                let _ = self.stop.send(());
                if let Some(w) = self.writer.take() {
                    let _ = w.join();
                }
                if let Ok(mut a) = ACTIVE.lock() {
                    *a = None;
                }
                Ok(summary)
            }
            Err(e) => Err(Box::new((self, e))),
        }
    }
}

/// Writes the running recording's final file: called on the way out of a forced exit (a
/// second Ctrl-C or SIGTERM), where no destructor runs.
pub fn save_on_exit() {
    let active = match ACTIVE.try_lock() {
        Ok(a) => a.clone(),
        Err(_) => None,
    };
    let Some((tape, take, path)) = active else {
        return;
    };
    // The writer holds the take for an append, `record stop` for the final write: both
    // end soon. If it stays held, the file on disk is whole as it stands.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut take = loop {
        match take.try_lock() {
            Ok(t) => break t,
            Err(TryLockError::Poisoned(p)) => break p.into_inner(),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => {
                eprintln!(
                    "tms: {} holds the recording up to the last second, in one track",
                    path.display()
                );
                return;
            }
        }
    };
    if take.done {
        return;
    }
    let rest = tape.set(false);
    let appended = take.append(rest);
    match take.finish() {
        Ok(_) => eprintln!("tms: recording saved in {}", take.path.display()),
        Err(e) => match appended {
            Ok(()) => eprintln!(
                "tms: {e}; {} holds everything recorded, in one track",
                take.path.display()
            ),
            Err(_) => eprintln!("tms: {e}"),
        },
    }
}
