//! Generation speed through the library API: a primed `Generator` asked for N notes one
//! `next` call at a time, as `generate` and live mode do. Prints throughput and per-note
//! latency percentiles for:
//!
//! - `default`: models/folk.safetensors when it exists (and opens), else a fresh model of
//!   the default architecture (LSTM 384, pitch embedding 32, softmax head with pointer,
//!   grid rhythm), stepped as tms steps it by default (`precision int8`). Speed does not
//!   depend on the weights' values, only on their shapes.
//! - `default-f32`: the same model with `precision f32`.
//! - `notebook`: the notebook's architecture (LSTM 128, pitch/128 scalar input, sigmoid
//!   head) in f32, the like-for-like partner of benches/python/notebook_generate.py.
//!
//! Then, when datasets/essen/han2.abc is there (`nll`), what int8 steps cost: han2's pitch
//! NLL read note by note in each precision.
//!
//! Run: `cargo bench --bench generate` (40000 notes each), or with a count:
//! `cargo bench --bench generate -- 2000`, and names to run only some:
//! `cargo bench --bench generate -- 40000 default nll`. Output, one line per model:
//! `generate MODEL notes N seconds S notes_per_second R p50_us A p99_us B max_us C
//! at_1k_p50_us D at_1k_p99_us E at_40k_p50_us F at_40k_p99_us G`, where the `at_` figures
//! are the latency percentiles of the 1,000 timed notes ending at the 1,000th and the
//! 40,000th (the second only when N reaches it, else `-`): a step's cost must not grow with
//! the melody.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tms::model::{
    self, Generator, Head, Input, Model, ModelConfig, Precision, Rhythm, SampleOptions,
};
use tms::music::abc::Accidentals;
use tms::music::note::Note;
use tms::music::{dataset, midi};

/// Untimed notes before the timed ones.
const WARM_UP: usize = 50;

const PRIMER: &str = "samples/little_star.mid";
const FOLK: &str = "models/folk.safetensors";
const HELD_OUT: &str = "datasets/essen/han2.abc";

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

/// Whether the command line names what to run and `name` is not among them: any plain
/// word but the note count picks (`default`, `default-int8`, `notebook`, `nll`).
fn picked_out(name: &str) -> bool {
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<usize>().is_err())
        .collect();
    !picked.is_empty() && !picked.iter().any(|p| p == name)
}

fn bench(name: &str, model: &Model, primer: &[Note], n: usize) {
    if picked_out(name) {
        return;
    }
    let opts = SampleOptions::default();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut gen = Generator::new(model, primer, Default::default());
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
    // p50 and p99 latency of the 1,000 timed notes ending at timed note `at`, or "-" when
    // the run is too short.
    let window = |at: usize| -> (String, String) {
        let w = at.checked_sub(1000).and_then(|from| lat.get(from..at));
        w.map_or(("-".into(), "-".into()), |w| {
            let mut w = w.to_vec();
            w.sort_unstable();
            let p = |q| format!("{:.1}", percentile(&w, q));
            (p(0.5), p(0.99))
        })
    };
    let [(p50_1k, p99_1k), (p50_40k, p99_40k)] = [1_000, 40_000].map(window);
    lat.sort_unstable();
    println!(
        "generate {name} notes {n} seconds {total:.3} notes_per_second {:.0} p50_us {:.1} p99_us {:.1} max_us {:.1} at_1k_p50_us {p50_1k} at_1k_p99_us {p99_1k} at_40k_p50_us {p50_40k} at_40k_p99_us {p99_40k}  ({})",
        n as f64 / total,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        model.describe()
    );
}

/// What int8 steps cost in prediction: han2's pitch NLL read note by note by the stepper in
/// each precision (`model::stepped_pitch_nll`), when the Essen songs have been fetched.
fn held_out_cost(model: &Model) {
    if !Path::new(HELD_OUT).exists() || picked_out("nll") {
        return;
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let han2 = match dataset::load(HELD_OUT, None, None, Accidentals::Note, &stop, |_, _| {}) {
        Ok(r) => r.tunes,
        Err(e) => return eprintln!("cannot load {HELD_OUT}: {e}"),
    };
    let (notes, f32_nll) = model::stepped_pitch_nll(model, &han2, Precision::F32);
    let (_, int8_nll) = model::stepped_pitch_nll(model, &han2, Precision::Int8);
    println!(
        "stepped {HELD_OUT} notes {notes} pitch_nll f32 {f32_nll:.5} int8 {int8_nll:.5} int8_cost {:+.5}",
        int8_nll - f32_nll
    );
}

fn main() {
    // `cargo bench` appends `--bench`; the first plain number is the note count.
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(40_000)
        .max(1);
    model::init_threads();
    let device = tms::model::Device::Cpu;
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
                position: false,
                degree: false,
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
    let mut default = default;
    default.set_precision(Precision::Int8);
    bench("default", &default, &primer, n);
    default.set_precision(Precision::F32);
    bench("default-f32", &default, &primer, n);
    held_out_cost(&default);

    let mut notebook = Model::new(
        ModelConfig {
            hidden: 128,
            layers: 1,
            input: Input::Scalar,
            head: Head::Sigmoid,
            embed: 32,
            pointer: false,
            position: false,
            degree: false,
            rhythm: Rhythm::Regression,
        },
        device,
        1,
    );
    notebook.set_precision(Precision::F32);
    bench("notebook", &notebook, &primer, n);
}
