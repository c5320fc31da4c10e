//! A private JACK server per test, and MIDI clients that play the other end of the cable.
//!
//! Each test starts `jackd -d dummy` under a unique server name (so test binaries running at
//! once never meet) and kills it when the guard drops, even after a failed assertion. Tests
//! in one binary take turns: libjack picks the server from the process-wide
//! `JACK_DEFAULT_SERVER`, and timing measurements should not share two cores with each other.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use midir::os::unix::{VirtualInput, VirtualOutput};
use midir::{MidiInput, MidiInputConnection, MidiOutput, MidiOutputConnection};

static TURN: Mutex<()> = Mutex::new(());

/// A running JACK server; stopped on drop.
pub struct Jack {
    child: Child,
    log: tempfile::NamedTempFile,
    _turn: MutexGuard<'static, ()>,
}

/// The server name: the same for every test of this checkout and different between
/// checkouts. libjack keeps a table of at most 8 servers in shared memory and frees an
/// entry left by a crashed server only when a server of the same name starts again, so a
/// fresh name per run would fill the table.
fn server_name() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_MANIFEST_DIR").hash(&mut h);
    format!("tms-test-{:08x}", h.finish() as u32)
}

impl Jack {
    pub fn start() -> Jack {
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let name = server_name();
        // Set once, before this process opens any client: libjack reads it with C's getenv,
        // which a later set_var could pull from under a thread that is opening a client.
        if std::env::var("JACK_DEFAULT_SERVER").ok().as_deref() != Some(name.as_str()) {
            std::env::set_var("JACK_DEFAULT_SERVER", &name);
        }
        let log = tempfile::NamedTempFile::new().expect("temp file");
        // Without realtime privileges jackd still runs, just with ordinary priority.
        let child = Command::new("jackd")
            .args(["-d", "dummy", "-r", "48000", "-p", "64"])
            .env("JACK_DEFAULT_SERVER", &name)
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("log"))
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("jackd (Debian package jackd2) must be installed for the JACK tests");
        let jack = Jack {
            child,
            log,
            _turn: turn,
        };
        // Asked from another process: a libjack client that meets a server still setting up
        // its shared memory can crash, and here that would take the test binary with it.
        let t0 = Instant::now();
        loop {
            let ready = Command::new("jack_wait")
                .args(["--wait", "--timeout", "2", "--server", &name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "jackd did not accept clients within 10 s:\n{}",
                std::fs::read_to_string(jack.log.path()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        jack
    }
}

impl Jack {
    /// How many times the server has reported a cycle that a client did not finish in time
    /// so far (an xrun: that cycle's MIDI is lost), from its log.
    pub fn xruns(&self) -> usize {
        std::fs::read_to_string(self.log.path())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.to_lowercase().contains("xrun"))
            .count()
    }
}

impl Drop for Jack {
    fn drop(&mut self) {
        // SIGTERM lets jackd remove its shared-memory entries; SIGKILL only if it hangs.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message as the receiving client saw it, with when it arrived.
#[derive(Clone, Debug)]
pub struct Heard {
    pub at: Instant,
    pub bytes: Vec<u8>,
}

/// A synth stand-in: a virtual input port that records everything it receives.
pub struct Sink {
    pub port: String,
    pub heard: Arc<Mutex<Vec<Heard>>>,
    _conn: MidiInputConnection<()>,
}

/// The input callback of a [`Sink`]: every message, stamped on arrival.
fn keep(heard: Arc<Mutex<Vec<Heard>>>) -> impl FnMut(u64, &[u8], &mut ()) + Send + 'static {
    move |_, bytes, _| {
        let at = Instant::now();
        heard.lock().unwrap().push(Heard {
            at,
            bytes: bytes.to_vec(),
        });
    }
}

impl Sink {
    pub fn new(client: &str) -> Sink {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let input = MidiInput::new(client).expect("JACK client");
        let conn = input
            .create_virtual("in", keep(heard.clone()), ())
            .map_err(|e| e.to_string())
            .expect("virtual input port");
        Sink {
            port: format!("{client}:in"),
            heard,
            _conn: conn,
        }
    }

    /// A recorder connected to another client's output port (a [`ClockPeer`]'s).
    pub fn listening_to(client: &str, port: &str) -> Sink {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let input = MidiInput::new(client).expect("JACK client");
        let found = input
            .ports()
            .into_iter()
            .find(|p| input.port_name(p).is_ok_and(|n| n == port))
            .expect("the port to listen to");
        let conn = input
            .connect(&found, "in", keep(heard.clone()), ())
            .map_err(|e| e.to_string())
            .expect("connect to the port");
        Sink {
            port: port.to_string(),
            heard,
            _conn: conn,
        }
    }

    pub fn messages(&self) -> Vec<Heard> {
        self.heard.lock().unwrap().clone()
    }
}

/// A keyboard stand-in: a virtual output port the test plays into.
pub struct Source {
    pub port: String,
    pub conn: MidiOutputConnection,
}

impl Source {
    pub fn new(client: &str) -> Source {
        let out = MidiOutput::new(client).expect("JACK client");
        let conn = out
            .create_virtual("out")
            .map_err(|e| e.to_string())
            .expect("virtual output port");
        Source {
            port: format!("{client}:out"),
            conn,
        }
    }

    /// Sends `m`, waiting while the output queue is full (as a keyboard waits on a cable).
    pub fn send(&mut self, m: &[u8]) {
        let t0 = Instant::now();
        loop {
            match self.conn.send(m) {
                Ok(()) => return,
                Err(midir::SendError::Other(why))
                    if why == midir::QUEUE_FULL && t0.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("send: {e}"),
            }
        }
    }
}

/// A received note: channel (0-based), pitch, velocity, when it started and ended.
#[derive(Clone, Debug)]
pub struct HeardNote {
    pub ch: u8,
    pub pitch: u8,
    pub velocity: u8,
    pub on: Instant,
    pub off: Option<Instant>,
}

/// Pairs note-ons with the next note-off of the same key.
pub fn notes(heard: &[Heard]) -> Vec<HeardNote> {
    let mut notes: Vec<HeardNote> = Vec::new();
    for h in heard {
        let [status, pitch, vel] = match h.bytes[..] {
            [a, b, c] => [a, b, c],
            _ => continue,
        };
        let ch = status & 15;
        match status & 0xF0 {
            0x90 if vel > 0 => notes.push(HeardNote {
                ch,
                pitch,
                velocity: vel,
                on: h.at,
                off: None,
            }),
            0x80 | 0x90 => {
                if let Some(n) = notes
                    .iter_mut()
                    .find(|n| n.ch == ch && n.pitch == pitch && n.off.is_none())
                {
                    n.off = Some(h.at);
                }
            }
            _ => {}
        }
    }
    notes
}

/// Controller messages received: (channel, controller, value).
pub fn controllers(heard: &[Heard]) -> Vec<(u8, u8, u8)> {
    heard
        .iter()
        .filter(|h| h.bytes.len() == 3 && h.bytes[0] & 0xF0 == 0xB0)
        .map(|h| (h.bytes[0] & 15, h.bytes[1], h.bytes[2]))
        .collect()
}

pub use crate::support::eventually;

impl Sink {
    /// Waits (up to a generous deadline) until what was heard satisfies `done`, then returns
    /// it: MIDI crosses a JACK period and a thread hop, so the last message may arrive a
    /// little after the sender returns. Never a fixed sleep: a busy machine only waits longer.
    pub fn heard_once(&self, done: impl Fn(&[Heard]) -> bool) -> Vec<Heard> {
        eventually(Duration::from_secs(5), || done(&self.messages()));
        self.messages()
    }

    /// Waits until every note heard so far has ended and at least `n` notes arrived.
    pub fn all_ended(&self, n: usize) -> Vec<Heard> {
        self.heard_once(|h| {
            let ns = notes(h);
            ns.len() >= n && ns.iter().all(|x| x.off.is_some())
        })
    }

    /// Waits until controller `cc` (value 0) arrived on channel `ch` (0-based): the last
    /// thing `stop`, `disconnect` and `panic` send.
    pub fn controller_seen(&self, ch: u8, cc: u8) -> Vec<Heard> {
        self.heard_once(|h| controllers(h).contains(&(ch, cc, 0)))
    }
}

/// The q-quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Signed distances (seconds, positive: late), in the onsets' order, of onsets from a lattice
/// of period `p` whose phase is the onsets' median offset: voices that play on a grid and
/// start on a beat have every deadline on a lattice line, and the constant delay (scheduling
/// headroom, one JACK period) is the phase.
pub fn lattice_offsets(onsets: &[Instant], p: f64) -> Vec<f64> {
    let Some(&t0) = onsets.iter().min() else {
        return Vec::new();
    };
    let wrap = |x: f64| x - p * (x / p).round();
    let offsets: Vec<f64> = onsets
        .iter()
        .map(|t| wrap(t.duration_since(t0).as_secs_f64()))
        .collect();
    let mut sorted = offsets.clone();
    sorted.sort_by(f64::total_cmp);
    let phase = quantile(&sorted, 0.5);
    offsets.iter().map(|o| wrap(o - phase)).collect()
}

/// Prints the notes off the lattice by more than `goal` (seconds), each named by its label.
pub fn print_off_the_goal(labelled: impl IntoIterator<Item = (String, f64)>, goal: f64) {
    let off: Vec<String> = labelled
        .into_iter()
        .filter(|(_, e)| e.abs() > goal)
        .map(|(label, e)| format!("{label} {:+.1} ms", e * 1e3))
        .collect();
    if !off.is_empty() {
        println!(
            "  {} notes off by more than the goal: {}",
            off.len(),
            off.join(", ")
        );
    }
}

/// A drum machine stand-in: a virtual output port that sends MIDI clock (24 ticks per
/// quarter note) from its own thread at a steady tempo, sleeping then spinning to each
/// tick's deadline, and Start, Stop or Continue when asked. It records when it sent what, the reference the
/// tests measure tms against.
pub struct ClockPeer {
    pub port: String,
    bpm: Arc<std::sync::atomic::AtomicU64>,
    /// Transport messages (Start, Stop, Continue, Song Position) to send before the next
    /// tick.
    transport: Arc<Mutex<Vec<Vec<u8>>>>,
    paused: Arc<std::sync::atomic::AtomicBool>,
    quit: Arc<std::sync::atomic::AtomicBool>,
    /// (when, status byte) of every message sent.
    pub sent: Arc<Mutex<Vec<(Instant, u8)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClockPeer {
    pub fn new(client: &str, bpm: f64) -> ClockPeer {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let out = MidiOutput::new(client).expect("JACK client");
        let mut conn = out
            .create_virtual("out")
            .map_err(|e| e.to_string())
            .expect("virtual output port");
        let rate = Arc::new(AtomicU64::new(bpm.to_bits()));
        let transport: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        let paused = Arc::new(AtomicBool::new(false));
        let quit = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (r, s, p, q, log) = (
            rate.clone(),
            transport.clone(),
            paused.clone(),
            quit.clone(),
            sent.clone(),
        );
        let thread = std::thread::spawn(move || {
            realtime_priority();
            let mut due = Instant::now() + Duration::from_millis(10);
            while !q.load(Ordering::Relaxed) {
                let wake = due.checked_sub(Duration::from_millis(1)).unwrap_or(due);
                std::thread::sleep(wake.saturating_duration_since(Instant::now()));
                while Instant::now() < due {
                    std::hint::spin_loop();
                }
                if !p.load(Ordering::Relaxed) {
                    let mut log = log.lock().unwrap();
                    for m in std::mem::take(&mut *s.lock().unwrap()) {
                        conn.send(&m).expect("send a transport message");
                        log.push((Instant::now(), m[0]));
                    }
                    // A tick that finds JACK's buffer full (a very fast clock on a busy
                    // machine) is lost, as on a cable; it is not logged as sent.
                    if conn.send(&[0xF8]).is_ok() {
                        log.push((Instant::now(), 0xF8));
                    }
                }
                let bpm = f64::from_bits(r.load(Ordering::Relaxed));
                due += Duration::from_secs_f64(60.0 / bpm / 24.0);
            }
        });
        ClockPeer {
            port: format!("{client}:out"),
            bpm: rate,
            transport,
            paused,
            quit,
            sent,
            thread: Some(thread),
        }
    }

    /// Start goes out just before the next tick, which is then beat 0 of the song.
    pub fn start(&self) {
        self.transport.lock().unwrap().push(vec![0xFA]);
    }

    /// Stop goes out before the next tick; ticks go on, as a drum machine's do.
    pub fn stop(&self) {
        self.transport.lock().unwrap().push(vec![0xFC]);
    }

    /// Continue goes out before the next tick, which is then the song position after the
    /// last tick before the Stop.
    pub fn resume(&self) {
        self.transport.lock().unwrap().push(vec![0xFB]);
    }

    /// A Song Position Pointer (in sixteenths) goes out before the next tick; sent while
    /// stopped, the next Continue goes on from there.
    pub fn song_position(&self, sixteenths: u16) {
        self.transport.lock().unwrap().push(vec![
            0xF2,
            (sixteenths & 127) as u8,
            (sixteenths >> 7 & 127) as u8,
        ]);
    }

    /// When the last message with this status byte went out.
    pub fn last_sent(&self, status: u8) -> Option<Instant> {
        let sent = self.sent.lock().unwrap();
        sent.iter().rev().find(|m| m.1 == status).map(|m| m.0)
    }

    /// From the next tick on, ticks come at this tempo.
    pub fn set_bpm(&self, bpm: f64) {
        self.bpm
            .store(bpm.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Stops (or resumes) sending ticks, as a cable pulled out would.
    pub fn pause(&self, paused: bool) {
        self.paused
            .store(paused, std::sync::atomic::Ordering::Relaxed);
    }

    /// When each beat (every 24th tick from the last Start on) was sent: beat 0 first.
    pub fn beats(&self) -> Vec<Instant> {
        let sent = self.sent.lock().unwrap();
        let from = sent.iter().rposition(|m| m.1 == 0xFA).map_or(0, |i| i + 1);
        sent[from..]
            .iter()
            .filter(|m| m.1 == 0xF8)
            .step_by(24)
            .map(|m| m.0)
            .collect()
    }

    /// Ticks sent so far since the last Start.
    pub fn ticks_since_start(&self) -> usize {
        let sent = self.sent.lock().unwrap();
        match sent.iter().rposition(|m| m.1 == 0xFA) {
            Some(i) => sent[i..].iter().filter(|m| m.1 == 0xF8).count(),
            None => 0,
        }
    }
}

impl Drop for ClockPeer {
    fn drop(&mut self) {
        self.quit.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Real-time scheduling for the peer's thread where allowed, as a drum machine's clock
/// would have (the lowest real-time priority, below JACK's threads); otherwise it runs as
/// it is.
#[allow(unsafe_code)]
fn realtime_priority() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: pthread_self() names the calling thread, which is alive; `param` is only read.
    unsafe {
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param);
    }
}

/// When each MIDI clock tick arrived (the tick-recording side of a [`Sink`]).
pub fn ticks(heard: &[Heard]) -> Vec<Instant> {
    heard
        .iter()
        .filter(|h| h.bytes[..] == [0xF8])
        .map(|h| h.at)
        .collect()
}

/// The real-time and song-position messages received, in order, as their status bytes
/// (ticks left out) with their data.
pub fn transport(heard: &[Heard]) -> Vec<Vec<u8>> {
    heard
        .iter()
        .filter(|h| matches!(h.bytes.first(), Some(0xF2 | 0xFA | 0xFB | 0xFC)))
        .map(|h| h.bytes.clone())
        .collect()
}

/// One JACK period of the test server (64 frames at 48 kHz), in seconds.
pub const PERIOD: f64 = 64.0 / 48000.0;
