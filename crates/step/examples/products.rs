//! Times the products that bound a generation step, f32 against int8, alone and out of the
//! generator: `cargo run --release -p tms-step --example products`. Prints the best and the
//! median of 3,000 calls for each shape: W_hh of the folk model (hidden 384, 1536 × 384),
//! a matrix of the same width small enough for L2 (512 × 384), and W_hh with the heads
//! stacked under it (1792 × 384). The f32 product here is compiled for baseline x86-64, as
//! the stepper's is on CPUs without AVX2; the int8 one picks AVX2 at run time.

use std::time::Instant;

use tms_step::kernels::Packed;
use tms_step::quant::QPacked;

fn time(mut product: impl FnMut()) -> (f64, f64) {
    let mut all: Vec<f64> = (0..3000)
        .map(|_| {
            let t = Instant::now();
            product();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    all.sort_by(f64::total_cmp);
    (all[0], all[all.len() / 2])
}

fn main() {
    for (rows, cols) in [(1536usize, 384usize), (512, 384), (1792, 384)] {
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 97.0)
            .collect();
        let x: Vec<f32> = (0..cols)
            .map(|j| ((j * 13 % 29) as f32 - 14.0) / 15.0)
            .collect();
        let (q, f) = (QPacked::new(&w, rows, cols), Packed::new(&w, rows, cols));
        let mut out = vec![0f32; rows];
        let int8 = time(|| q.add_product(&x, &mut out));
        let f32 = time(|| f.add_product(&x, &mut out));
        for (name, (best, median), bytes) in [
            ("f32", f32, rows * cols * 4),
            ("int8", int8, q.weight_bytes()),
        ] {
            println!(
                "{rows}x{cols} {name:4} {:7.0} KB  best {best:6.2} us  median {median:6.2} us  {:5.1} multiply-adds/ns",
                bytes as f64 / 1e3,
                (rows * cols) as f64 / median / 1e3
            );
        }
    }
}
