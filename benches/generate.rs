//! Generation speed through the library API: a primed `Generator` asked for N notes one
//! `next` call at a time, as `generate` and live mode do. Prints throughput and per-note
//! latency percentiles for two models:
//!
//! - `default`: models/folk.safetensors when it exists (and opens), else a fresh model of the
//!   default architecture (LSTM 256, pitch embedding 32, softmax head). Speed does not depend on
//!   the weights' values, only on their shapes.
//! - `notebook`: the notebook's architecture (LSTM 128, pitch/128 scalar input, sigmoid
//!   head), the like-for-like partner of benches/python/notebook_generate.py.
//!
//! Run: `cargo bench --bench generate` (20000 notes each), or with a count:
//! `cargo bench --bench generate -- 2000`. Output, one line per model:
//! `generate MODEL notes N seconds S notes_per_second R p50_us A p99_us B max_us C
//! note_100_us D note_10000_us E`, where the last two are the median latency of the 100
//! notes around the 100th and the 10,000th note generated (warm-up included; the second
//! only when N reaches it): a step's cost must not grow with the melody.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tms::model::{self, Generator, Head, Input, Model, ModelConfig, Rhythm, SampleOptions};
use tms::music::midi;
use tms::music::note::Note;

/// Untimed notes before the timed ones.
const WARM_UP: usize = 50;

const PRIMER: &str = "samples/little_star.mid";
const FOLK: &str = "models/folk.safetensors";

/// The last 10 notes of the sample the notebook primed with, or a hand-made phrase when the
/// file is missing (the bench still measures the same work).
fn primer() -> Vec<Note> {
    let from_file = std::fs::read(PRIMER)
        .ok()
        .and_then(|bytes| midi::read_midi(&bytes).ok())
        .filter(|notes| !notes.is_empty());
    match from_file {
        Some(notes) => notes[notes.len().saturating_sub(10)..].to_vec(),
        None => [60u8, 60, 67, 67, 69, 69, 67, 65, 65, 64]
            .iter()
            .enumerate()
            .map(|(i, &pitch)| Note {
                pitch,
                start: i as f64 * 0.5,
                duration: 0.45,
                velocity: 100,
            })
            .collect(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn bench(name: &str, model: &Model, primer: &[Note], n: usize) {
    let opts = SampleOptions::default();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut gen = Generator::new(model, primer);
    // Warm-up: first calls allocate and let libtorch pick its kernels.
    for _ in 0..WARM_UP {
        std::hint::black_box(gen.next(&opts, &mut rng));
    }
    let mut lat = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        std::hint::black_box(gen.next(&opts, &mut rng));
        lat.push(t.elapsed());
    }
    let total = started.elapsed().as_secs_f64();
    // Median latency of the 100 notes around generated note `at` (1-based, warm-up
    // included), or "-" when the run is too short.
    let around = |at: usize| -> String {
        let from = at.saturating_sub(50).max(WARM_UP + 1) - WARM_UP - 1;
        let window = lat.get(from..from + 100).map(<[Duration]>::to_vec);
        window.map_or("-".to_string(), |mut w| {
            w.sort_unstable();
            format!("{:.1}", percentile(&w, 0.5))
        })
    };
    let (early, late) = (around(100), around(10_000));
    lat.sort_unstable();
    println!(
        "generate {name} notes {n} seconds {total:.3} notes_per_second {:.0} p50_us {:.1} p99_us {:.1} max_us {:.1} note_100_us {early} note_10000_us {late}  ({})",
        n as f64 / total,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        model.describe()
    );
}

fn main() {
    // `cargo bench` appends `--bench`; the first plain number is the note count.
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(20_000)
        .max(1);
    model::init_threads();
    let device = tch::Device::Cpu;
    let primer = primer();

    let fresh = || {
        Model::new(
            ModelConfig {
                hidden: 256,
                layers: 1,
                input: Input::Embed,
                head: Head::Softmax,
                embed: 32,
                pointer: true,
                rhythm: Rhythm::Grid,
            },
            device,
            1,
        )
    };
    let default = if Path::new(FOLK).exists() {
        Model::open(Path::new(FOLK), device).unwrap_or_else(|e| {
            eprintln!("cannot open {FOLK} ({e}): timing a fresh model of the same size");
            fresh()
        })
    } else {
        fresh()
    };
    bench("default", &default, &primer, n);

    let notebook = Model::new(
        ModelConfig {
            hidden: 128,
            layers: 1,
            input: Input::Scalar,
            head: Head::Sigmoid,
            embed: 32,
            pointer: false,
            rhythm: Rhythm::Regression,
        },
        device,
        1,
    );
    bench("notebook", &notebook, &primer, n);
}
