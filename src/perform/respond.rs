//! Call and response: every phrase played on the input port is answered at once, without
//! a command — the way a duet partner answers.
//!
//! A thread reads phrases from the input (ended as `listen` ends one: after a silence with
//! no key down, measured between the notes' arrival times), asks the session's answer
//! function for notes and starts them on the player at once. Notes played while it answers
//! wait in the input's queue with their arrival times, so the next phrase is read as it was
//! played, answered once. The input's note stream has one reader at a time, so `listen` is
//! refused while responding; knobs are read by the input thread itself and keep working.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::input::{Phrases, Stamped};
use crate::music::note::Note;

/// Makes the answer to a phrase (the session's model, primed with it).
pub type Answer = Box<dyn FnMut(&[Note]) -> Vec<Note> + Send>;

/// What `respond` says of each phrase it heard, once the answer has started.
pub type Show = Box<dyn FnMut(&[Note]) -> String + Send>;

/// Takes each phrase without answering it (`learn`).
pub type TakePhrase = Box<dyn FnMut(&[Note]) + Send>;

/// The running responder; dropping it stops the thread.
pub(crate) struct Responder {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    pub fn start(
        notes: Arc<Mutex<Receiver<Stamped>>>,
        silence: Duration,
        mut answer: Answer,
        mut play: impl FnMut(&[Note], &[Note]) + Send + 'static,
    ) -> std::io::Result<Responder> {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let (s, a) = (stop.clone(), answered.clone());
        let thread = std::thread::Builder::new()
            .name("tms-respond".into())
            .spawn(move || {
                let mut phrases = Phrases::default();
                while !s.load(Ordering::Relaxed) {
                    // The notes are held only while a phrase is read: a reader let go
                    // while it answers (`learn off` during a fine-tune) frees them at once.
                    let phrase = match notes.lock() {
                        Ok(notes) => phrases.read(&notes, None, silence, &s),
                        Err(_) => return,
                    };
                    if phrase.is_empty() || s.load(Ordering::Relaxed) {
                        continue;
                    }
                    let reply = answer(&phrase);
                    play(&phrase, &reply);
                    a.fetch_add(1, Ordering::Relaxed);
                }
            })?;
        Ok(Responder {
            stop,
            answered,
            thread: Some(thread),
        })
    }

    /// Phrases answered so far.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Stops reading without waiting for the phrase being answered: the thread finishes
    /// that answer on its own and ends; it reads no further phrase.
    pub fn let_go(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the handle detaches the thread.
        self.thread.take();
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
