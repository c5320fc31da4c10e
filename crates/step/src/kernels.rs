//! The arithmetic of a generation step, written so that the compiler vectorizes it on the
//! baseline target (SSE2 on x86-64, NEON on aarch64) without `unsafe` or intrinsics:
//!
//! - `Packed`: a weight matrix stored in panels of `PANEL` rows, each panel column by column,
//!   so that y += W·x streams the weights once, front to back, into `PANEL` accumulators
//!   that stay in registers (a row-major dot product per row would end each row in a
//!   horizontal sum and touch the accumulators' memory);
//! - `exp`, `sigmoid`, `tanh`, `ln`: branch-free polynomial versions over slices, where
//!   libm's scalar calls were a quarter of a step's time.
//!
//! None of this uses fused multiply-add, and every output element is summed in one fixed
//! order, so the results are the same bits whatever vector width the compiler picks.

/// Rows per panel: 32 floats are 8 SSE or 4 AVX registers of accumulators, few enough to
/// leave registers for the weights and the broadcast input.
pub const PANEL: usize = 32;
const _: () = assert!(
    PANEL == 32,
    "panel_product holds four Lanes of accumulators"
);

/// A `rows` × `cols` matrix laid out for `add_product`: panel p holds rows
/// p·PANEL..(p+1)·PANEL, column after column; the rows after the last whole panel follow
/// in strips of `STRIP` rows (the last one padded with zero rows), column after column too.
/// Strips rather than one padded panel: the folk model's 259 head rows would stream a
/// panel of 29 zero rows, 2% of a step's weights, every note.
pub struct Packed {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

/// Rows per strip: one `Lanes` of accumulators.
const STRIP: usize = 8;
const _: () = assert!(STRIP == 8, "strip_product holds one Lanes of accumulators");

impl Packed {
    /// Packs a row-major `rows` × `cols` matrix.
    pub fn new(w: &[f32], rows: usize, cols: usize) -> Packed {
        assert_eq!(w.len(), rows * cols, "a {rows}×{cols} matrix");
        let whole = rows / PANEL * PANEL;
        let strips = (rows - whole).div_ceil(STRIP);
        let mut data = vec![0f32; (whole + strips * STRIP) * cols];
        for (r, row) in w.chunks_exact(cols.max(1)).enumerate().take(rows) {
            // the block (panel or strip) holding row r, its first element and its height
            let (start, height, k) = if r < whole {
                (r / PANEL * PANEL * cols, PANEL, r % PANEL)
            } else {
                let t = r - whole;
                ((whole + t / STRIP * STRIP) * cols, STRIP, t % STRIP)
            };
            for (j, &v) in row.iter().enumerate() {
                data[start + j * height + k] = v;
            }
        }
        Packed { rows, cols, data }
    }

    /// out[r] += Σ_j W[r][j]·x[j], summed in the order out[r] + (x0·w0 + x1·w1) +
    /// (x2·w2 + x3·w3) + …: pairs of columns halve the chain of dependent additions.
    #[inline(always)]
    pub fn add_product(&self, x: &[f32], out: &mut [f32]) {
        assert_eq!(x.len(), self.cols, "input length");
        assert_eq!(out.len(), self.rows, "output length");
        if self.cols == 0 {
            return;
        }
        let (whole, strips) = self.data.split_at(self.rows / PANEL * PANEL * self.cols);
        let mut outs = out.chunks_exact_mut(PANEL);
        for (panel, out) in whole.chunks_exact(PANEL * self.cols).zip(outs.by_ref()) {
            let out: &mut [f32; PANEL] = out.try_into().expect("a whole panel");
            panel_product(out, panel, x);
        }
        // The last rows, a strip at a time, the last strip through a padded copy.
        for (strip, out) in strips
            .chunks_exact(STRIP * self.cols)
            .zip(outs.into_remainder().chunks_mut(STRIP))
        {
            let mut acc = [0f32; STRIP];
            acc[..out.len()].copy_from_slice(out);
            acc = strip_product(acc, strip, x);
            let n = out.len();
            out.copy_from_slice(&acc[..n]);
        }
    }
}

/// Eight floats: one AVX register or two SSE ones.
type Lanes = [f32; 8];

#[inline(always)]
fn lanes(s: &[f32], at: usize) -> Lanes {
    let mut v = [0f32; 8];
    v.copy_from_slice(&s[at..at + 8]);
    v
}

/// a + (x0·w0 + x1·w1), lane by lane.
#[inline(always)]
fn add_pair(a: Lanes, x0: f32, w0: Lanes, x1: f32, w1: Lanes) -> Lanes {
    let mut r = a;
    for k in 0..8 {
        r[k] += x0 * w0[k] + x1 * w1[k];
    }
    r
}

/// acc += one panel's product with x. The accumulators are four `Lanes` values rather than
/// one array indexed in a loop: the compiler keeps such values in registers, where an
/// array of 32 stays on the stack at a load and a store per addition.
#[inline(always)]
fn panel_product(acc: &mut [f32; PANEL], panel: &[f32], x: &[f32]) {
    let (mut a0, mut a1, mut a2, mut a3) =
        (lanes(acc, 0), lanes(acc, 8), lanes(acc, 16), lanes(acc, 24));
    let pairs = panel.chunks_exact(2 * PANEL);
    let last = pairs.remainder();
    for (w, x) in pairs.zip(x.chunks_exact(2)) {
        let (x0, x1) = (x[0], x[1]);
        a0 = add_pair(a0, x0, lanes(w, 0), x1, lanes(w, PANEL));
        a1 = add_pair(a1, x0, lanes(w, 8), x1, lanes(w, PANEL + 8));
        a2 = add_pair(a2, x0, lanes(w, 16), x1, lanes(w, PANEL + 16));
        a3 = add_pair(a3, x0, lanes(w, 24), x1, lanes(w, PANEL + 24));
    }
    if !last.is_empty() {
        // An odd column count: the last column alone (its pair partner weighs zero).
        let (xl, zero) = (x[x.len() - 1], [0f32; 8]);
        a0 = add_pair(a0, xl, lanes(last, 0), 0.0, zero);
        a1 = add_pair(a1, xl, lanes(last, 8), 0.0, zero);
        a2 = add_pair(a2, xl, lanes(last, 16), 0.0, zero);
        a3 = add_pair(a3, xl, lanes(last, 24), 0.0, zero);
    }
    for (chunk, a) in acc.chunks_exact_mut(8).zip([a0, a1, a2, a3]) {
        chunk.copy_from_slice(&a);
    }
}

/// A strip's product with x, added to `acc`: `panel_product` for one `Lanes`, the same
/// additions in the same order.
#[inline(always)]
fn strip_product(mut acc: Lanes, strip: &[f32], x: &[f32]) -> Lanes {
    let pairs = strip.chunks_exact(2 * STRIP);
    let last = pairs.remainder();
    for (w, x) in pairs.zip(x.chunks_exact(2)) {
        acc = add_pair(acc, x[0], lanes(w, 0), x[1], lanes(w, STRIP));
    }
    if !last.is_empty() {
        acc = add_pair(acc, x[x.len() - 1], lanes(last, 0), 0.0, [0f32; 8]);
    }
    acc
}

/// x·y in eight independent lanes (a fixed order, which the compiler may vectorize but
/// never reorders on its own).
#[inline(always)]
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..8 {
            lanes[k] += a[k] * b[k];
        }
    }
    let mut sum = lanes.iter().sum::<f32>();
    for (a, b) in xr.iter().zip(yr) {
        sum += a * b;
    }
    sum
}

/// out += a·x.
#[inline(always)]
pub fn add_scaled(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// Values below this flush to 0, above `EXP_HI` saturate near f32::MAX: both keep 2^n normal.
const EXP_LO: f32 = -87.0;
const EXP_HI: f32 = 88.0;

/// e^x within 2 ulp for x in [−87, 88] (Cephes' expf: x = n·ln2 + r, |r| ≤ ln2/2, a degree-6
/// polynomial for e^r, 2^n put straight into the exponent bits). Branch-free, so loops over
/// it vectorize.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding 1.5·2^23 rounds to an integer that sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = if x < EXP_LO { EXP_LO } else { x };
    let x = if x > EXP_HI { EXP_HI } else { x };
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let bits_n = t.to_bits().wrapping_sub(ROUND.to_bits());
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    f32::from_bits(y.to_bits().wrapping_add(bits_n << 23))
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh as 1 − 2/(e^{2x} + 1): absolute error about 1e-7 (relative error grows near 0,
/// where the LSTM adds it to numbers of order 1).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// ln x within 2 ulp for normal positive x (Cephes' logf: x = m·2^e with m in
/// [√½, √2), a degree-8 polynomial in m − 1).
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let bits = x.to_bits();
    // m in [0.5, 1), e the matching exponent
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let e = ((bits >> 23) as i32 - 126) as f32;
    let low = m < SQRT_HALF;
    let e = if low { e - 1.0 } else { e };
    let m = if low { m + m } else { m };
    let z = m - 1.0;
    let z2 = z * z;
    let mut p = 7.037_683_6e-2;
    p = p * z - 1.151_461e-1;
    p = p * z + 1.167_699_9e-1;
    p = p * z - 1.242_014_1e-1;
    p = p * z + 1.424_932_3e-1;
    p = p * z - 1.666_805_8e-1;
    p = p * z + 2.000_071_5e-1;
    p = p * z - 2.499_999_4e-1;
    p = p * z + 3.333_333e-1;
    let y = p * z * z2 + e * LN2_LO - 0.5 * z2;
    z + y + e * LN2_HI
}

/// Applies `f` to every element; `f` inlined and branch-free, so the loop vectorizes.
#[inline(always)]
pub fn map_in_place(v: &mut [f32], f: impl Fn(f32) -> f32) {
    for x in v.iter_mut() {
        *x = f(*x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(w: &[f32], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
        for r in 0..rows {
            out[r] += (0..cols).map(|j| w[r * cols + j] * x[j]).sum::<f32>();
        }
    }

    #[test]
    fn a_packed_product_equals_the_plain_one_for_any_shape() {
        for (rows, cols) in [
            (1, 1),
            (5, 3),
            (32, 8),
            (33, 7),
            (47, 5),
            (259, 256),
            (1024, 66),
        ] {
            let w: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 97.0)
                .collect();
            let x: Vec<f32> = (0..cols)
                .map(|j| ((j * 13 % 29) as f32 - 14.0) / 9.0)
                .collect();
            let start: Vec<f32> = (0..rows).map(|r| r as f32 * 0.01).collect();
            let (mut got, mut want) = (start.clone(), start);
            Packed::new(&w, rows, cols).add_product(&x, &mut got);
            naive(&w, rows, cols, &x, &mut want);
            for (r, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{rows}×{cols} row {r}: {a} vs {b}"
                );
            }
        }
    }

    fn grid(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_exact_value() {
        for x in grid(-87.0, 88.0, 200_000) {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 2.5e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        // outside the range it saturates instead of overflowing or going subnormal
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn sigmoid_and_tanh_are_within_3e_7_of_the_exact_values() {
        for x in grid(-60.0, 60.0, 200_000) {
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((sigmoid(x) as f64 - s).abs() < 3e-7, "sigmoid({x})");
            assert!(
                (tanh(x) as f64 - (x as f64).tanh()).abs() < 3e-7,
                "tanh({x})"
            );
        }
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(sigmoid(100.0), 1.0);
    }

    #[test]
    fn ln_is_within_two_ulp_of_the_exact_value() {
        let mut x = 1e-12f32;
        while x < 1e3 {
            let want = (x as f64).ln();
            let got = ln(x) as f64;
            assert!(
                (got - want).abs() <= 2.5e-7 * want.abs().max(1.0),
                "ln({x}) = {got}, want {want}"
            );
            x *= 1.000_37;
        }
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn a_slice_and_single_calls_give_the_same_bits() {
        // The vectorized loop and the scalar function must agree exactly, or the same seed
        // could give different notes depending on where an element falls in a chunk.
        let xs: Vec<f32> = grid(-30.0, 30.0, 1001).collect();
        let mut v = xs.clone();
        map_in_place(&mut v, tanh);
        for (x, y) in xs.iter().zip(&v) {
            assert_eq!(tanh(*x).to_bits(), y.to_bits(), "tanh({x})");
        }
    }
}
