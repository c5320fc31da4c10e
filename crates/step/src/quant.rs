//! Weight matrices in 8-bit integers, for the products that bound a generation step.
//!
//! A step of the folk model streams every weight of W_hh and of the heads once: 2.9 MB of
//! f32 for hidden 384, more than this kind of CPU's 512 KB L2, so the f32 products run at
//! L3 bandwidth whatever the arithmetic does (BENCHMARKS.md, "Generation"). Stored as one
//! byte per weight with a scale per row, the same matrices are a quarter of the bytes.
//!
//! The arithmetic is integer: the input vector is scaled to 16-bit integers (one scale for
//! the vector), each row's bytes are widened to 16 bits, and pairs of products are summed
//! into 32-bit lanes (`pmaddwd` on x86). Integer sums are exact, so the result does not
//! depend on the order of the additions or the vector width: every CPU gives the same bits,
//! AVX2 or not, which keeps "same script, same notes" without the care the f32 kernels need.
//! The only rounding is the quantization itself, measured in BENCHMARKS.md against the f32
//! products (the NLL it costs on held-out songs).

/// Rows per panel: four AVX2 registers of eight 32-bit accumulators.
const PANEL: usize = 32;
/// Columns per group: `pmaddubsw` then `pmaddwd` sum four products into one 32-bit lane.
const GROUP: usize = 4;

/// The largest magnitude of a quantized weight (symmetric, so −127..=127).
const WEIGHT_MAX: f32 = 127.0;

/// The largest magnitude of a quantized input element, and the offset that makes it
/// unsigned (`pmaddubsw` multiplies unsigned bytes by signed ones): inputs are 1..=127, so
/// two products of a pair sum to at most 2·127·127 = 32,258 and its 16-bit sums never
/// saturate. Seven bits are coarse for one element; over a row of hundreds their rounding
/// averages out (BENCHMARKS.md measures what it costs in NLL).
const INPUT_MAX: f32 = 63.0;
const INPUT_OFFSET: i32 = 64;

/// A `rows` × `cols` matrix of bytes, scaled per row, laid out for `add_product`.
///
/// Panel p holds rows p·PANEL..(p+1)·PANEL (the last padded with zero rows), column group
/// after column group (four columns; a short last group is padded with zero columns);
/// within a group, row after row, each row's four columns side by side: the operand order
/// of `pmaddubsw` against four input bytes broadcast.
pub struct QPacked {
    rows: usize,
    cols: usize,
    /// Column groups per row.
    groups: usize,
    data: Vec<i8>,
    /// Per row: what one unit of the row's integers weighs.
    scales: Vec<f32>,
    /// Per row: the sum of its integers, to take the input offset back out.
    sums: Vec<i32>,
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    avx2: bool,
}

impl QPacked {
    /// Quantizes and packs a row-major `rows` × `cols` matrix.
    pub fn new(w: &[f32], rows: usize, cols: usize) -> QPacked {
        assert_eq!(w.len(), rows * cols, "a {rows}×{cols} matrix");
        let groups = cols.div_ceil(GROUP);
        let panels = rows.div_ceil(PANEL);
        let mut data = vec![0i8; panels * PANEL * groups * GROUP];
        let mut scales = Vec::with_capacity(rows);
        let mut sums = Vec::with_capacity(rows);
        for (r, row) in w.chunks_exact(cols.max(1)).enumerate().take(rows) {
            let top = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = if top > 0.0 { top / WEIGHT_MAX } else { 0.0 };
            scales.push(scale);
            let (panel, k) = (r / PANEL, r % PANEL);
            let mut sum = 0i32;
            for (j, &v) in row.iter().enumerate() {
                let q = if scale > 0.0 {
                    (v / scale).round().clamp(-WEIGHT_MAX, WEIGHT_MAX) as i8
                } else {
                    0
                };
                sum += q as i32;
                let at = (panel * groups + j / GROUP) * PANEL * GROUP + k * GROUP + j % GROUP;
                data[at] = q;
            }
            sums.push(sum);
        }
        QPacked {
            rows,
            cols,
            groups,
            data,
            scales,
            sums,
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            avx2: std::arch::is_x86_feature_detected!("avx2"),
        }
    }

    /// The bytes a product reads.
    pub fn weight_bytes(&self) -> usize {
        self.data.len() + 8 * self.scales.len()
    }

    /// out[r] += Σ_j W[r][j]·x[j], with W as quantized and x rounded to the integers of
    /// one scale: ±`INPUT_MAX` for its largest element.
    #[inline(always)]
    pub fn add_product(&self, x: &[f32], out: &mut [f32]) {
        assert_eq!(x.len(), self.cols, "input length");
        assert_eq!(out.len(), self.rows, "output length");
        let mut top = 0f32;
        let mut finite = true;
        for v in x {
            top = top.max(v.abs());
            finite &= v.is_finite();
        }
        if !finite {
            // A non-finite input has no integer scale: NaN everywhere, as f32 would give.
            out.iter_mut().for_each(|o| *o = f32::NAN);
            return;
        }
        if self.cols == 0 || top == 0.0 {
            return;
        }
        let unit = top / INPUT_MAX;
        let inverse = INPUT_MAX / top;
        // The offset inputs, four to a word as pmaddubsw reads them; padding columns are
        // the offset too (their weights are zero).
        let mut words = vec![0u32; self.groups];
        for (w, group) in words.iter_mut().zip(x.chunks(GROUP)) {
            let mut b = [INPUT_OFFSET as u8; GROUP];
            for (b, v) in b.iter_mut().zip(group) {
                *b = ((v * inverse).round_ties_even() as i32 + INPUT_OFFSET) as u8;
            }
            *w = u32::from_le_bytes(b);
        }
        let block = PANEL * GROUP * self.groups;
        let mut acc = [0i32; PANEL];
        for (p, panel) in self.data.chunks_exact(block).enumerate() {
            self.panel_product(&mut acc, panel, &words);
            let rows = p * PANEL..(self.rows).min((p + 1) * PANEL);
            let (scales, sums) = (&self.scales[rows.clone()], &self.sums[rows.clone()]);
            for (((o, a), s), sum) in out[rows].iter_mut().zip(acc).zip(scales).zip(sums) {
                *o += (a - INPUT_OFFSET * sum) as f32 * (s * unit);
            }
        }
    }

    /// acc = one panel's integer product with the offset input words.
    #[inline(always)]
    fn panel_product(&self, acc: &mut [i32; PANEL], panel: &[i8], words: &[u32]) {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if self.avx2 {
            return avx2::panel_product(acc, panel, words);
        }
        portable_panel_product(acc, panel, words);
    }
}

/// The panel product in plain Rust, for CPUs without AVX2: the same integers (nothing
/// saturates, see `INPUT_MAX`).
fn portable_panel_product(acc: &mut [i32; PANEL], panel: &[i8], words: &[u32]) {
    *acc = [0; PANEL];
    for (w, &word) in panel.chunks_exact(GROUP * PANEL).zip(words) {
        let x = word.to_le_bytes().map(i32::from);
        for (a, row) in acc.iter_mut().zip(w.chunks_exact(GROUP)) {
            *a += row[0] as i32 * x[0]
                + row[1] as i32 * x[1]
                + row[2] as i32 * x[2]
                + row[3] as i32 * x[3];
        }
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod avx2 {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::*;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    use super::{GROUP, PANEL};

    /// `portable_panel_product` with AVX2: per column group, four 32-byte loads (eight rows
    /// of four weights each), `pmaddubsw` against the broadcast input bytes (pairs summed
    /// to 16 bits), `pmaddwd` by ones (pairs of pairs to 32 bits), an addition.
    #[inline(always)]
    pub(super) fn panel_product(acc: &mut [i32; PANEL], panel: &[i8], words: &[u32]) {
        assert_eq!(panel.len(), words.len() * GROUP * PANEL, "one panel");
        // SAFETY: `avx2` is set only when the CPU reported AVX2 (`QPacked::new`).
        unsafe { product(acc, panel, words) }
    }

    #[target_feature(enable = "avx2")]
    fn product(acc: &mut [i32; PANEL], panel: &[i8], words: &[u32]) {
        let ones = _mm256_set1_epi16(1);
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
        );
        for (w, &word) in panel.chunks_exact(GROUP * PANEL).zip(words) {
            let x = _mm256_set1_epi32(word as i32);
            let ptr = w.as_ptr() as *const __m256i;
            // SAFETY: `w` is 128 bytes (a chunk of GROUP·PANEL), four unaligned 32-byte loads.
            let (w0, w1, w2, w3) = unsafe {
                (
                    _mm256_loadu_si256(ptr),
                    _mm256_loadu_si256(ptr.add(1)),
                    _mm256_loadu_si256(ptr.add(2)),
                    _mm256_loadu_si256(ptr.add(3)),
                )
            };
            let dot = |w| _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones);
            a0 = _mm256_add_epi32(a0, dot(w0));
            a1 = _mm256_add_epi32(a1, dot(w1));
            a2 = _mm256_add_epi32(a2, dot(w2));
            a3 = _mm256_add_epi32(a3, dot(w3));
        }
        let out = acc.as_mut_ptr() as *mut __m256i;
        // SAFETY: `acc` is 32 i32s, four unaligned 32-byte stores.
        unsafe {
            _mm256_storeu_si256(out, a0);
            _mm256_storeu_si256(out.add(1), a1);
            _mm256_storeu_si256(out.add(2), a2);
            _mm256_storeu_si256(out.add(3), a3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 97.0 * if i % 7 == 0 { 3.0 } else { 1.0 })
            .collect()
    }

    fn input(cols: usize) -> Vec<f32> {
        (0..cols)
            .map(|j| ((j * 13 % 29) as f32 - 14.0) / 15.0)
            .collect()
    }

    #[test]
    fn the_integer_product_is_within_the_quantization_error_of_the_f32_one() {
        for (rows, cols) in [(1, 1), (5, 3), (32, 8), (33, 7), (259, 384), (1536, 384)] {
            let (w, x) = (matrix(rows, cols), input(cols));
            let start: Vec<f32> = (0..rows).map(|r| r as f32 * 0.01).collect();
            let mut got = start.clone();
            QPacked::new(&w, rows, cols).add_product(&x, &mut got);
            for r in 0..rows {
                let row = &w[r * cols..(r + 1) * cols];
                let want = start[r] + row.iter().zip(&x).map(|(a, b)| a * b).sum::<f32>();
                // each weight is off by at most half a unit, each input by half of its unit
                let top = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                let xtop = x.iter().fold(0f32, |m, v| m.max(v.abs()));
                let bound =
                    cols as f32 * (top / 127.0 / 2.0 * xtop + top * xtop / 63.0 / 2.0) + 1e-5;
                assert!(
                    (got[r] - want).abs() <= bound,
                    "{rows}×{cols} row {r}: {} vs {want} (bound {bound})",
                    got[r]
                );
            }
        }
    }

    #[test]
    fn avx2_and_plain_rust_give_the_same_bits() {
        let (rows, cols) = (70, 385);
        let (w, x) = (matrix(rows, cols), input(cols));
        let mut q = QPacked::new(&w, rows, cols);
        let mut fast = vec![0.5f32; rows];
        q.add_product(&x, &mut fast);
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            q.avx2 = false;
        }
        let mut plain = vec![0.5f32; rows];
        q.add_product(&x, &mut plain);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&plain));
    }

    #[test]
    fn a_zero_input_adds_nothing_and_a_nan_input_gives_nan() {
        let q = QPacked::new(&matrix(3, 4), 3, 4);
        let mut out = [1.0f32, 2.0, 3.0];
        q.add_product(&[0.0; 4], &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0]);
        q.add_product(&[0.0, f32::NAN, 1.0, 0.0], &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
    }
}
