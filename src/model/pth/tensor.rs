//! Turning a tensor reference into numbers is the one step that reads the bulk of the file, so
//! it stands apart from the parsing: both layouts share it, and the checks that keep a hostile
//! shape, offset or stride from reading past its storage, or from multiplying the output far
//! beyond the file's size, live in one place. Every element type becomes `f32` here because
//! that is all a `RawTensor` carries.

use std::rc::Rc;

use super::{PthError, RawTensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    pub(super) fn from_storage(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }

    pub(super) fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// Converts one element; `b` holds exactly `size()` bytes in little-endian order.
    fn to_f32(self, b: &[u8]) -> f32 {
        let le2 = || u16::from_le_bytes([b[0], b[1]]);
        let le4 = || [b[0], b[1], b[2], b[3]];
        let le8 = || [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
        match self {
            DType::F32 => f32::from_le_bytes(le4()),
            DType::F64 => f64::from_le_bytes(le8()) as f32,
            DType::F16 => f16_to_f32(le2()),
            DType::BF16 => f32::from_bits((le2() as u32) << 16),
            DType::I64 => i64::from_le_bytes(le8()) as f32,
            DType::I32 => i32::from_le_bytes(le4()) as f32,
            DType::I16 => le2() as i16 as f32,
            DType::I8 => b[0] as i8 as f32,
            DType::U8 => b[0] as f32,
            DType::Bool => (b[0] != 0) as u8 as f32,
        }
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    match exp {
        0 => {
            // Zero or subnormal: man * 2^-24 is exact in f32.
            let v = man as f32 * (1.0 / 16_777_216.0);
            f32::from_bits(v.to_bits() | sign)
        }
        31 => f32::from_bits(sign | 0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (man << 13)),
    }
}

/// A storage as a persistent id names it: which bytes, of which element type, and (for the
/// pre-1.0 legacy views) which slice of them.
#[derive(Clone, Debug)]
pub(super) struct StorageRef {
    pub(super) key: Rc<str>,
    pub(super) dtype: DType,
    /// Elements to skip and the number of elements visible, for legacy storage views.
    pub(super) view: Option<(usize, usize)>,
}

#[derive(Clone, Debug)]
pub(super) struct TensorRef {
    pub(super) storage: StorageRef,
    pub(super) offset: usize,
    pub(super) shape: Vec<usize>,
    pub(super) stride: Vec<usize>,
}

/// Gathers a tensor's elements from its storage bytes, honouring offset and strides.
pub(super) fn materialise(
    name: &str,
    t: &TensorRef,
    storage: &[u8],
    big_endian: bool,
    values_left: &mut usize,
    file_len: usize,
) -> Result<RawTensor, PthError> {
    let bad = |what| PthError::BadTensor {
        name: name.to_owned(),
        what,
    };
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or(bad("too many elements"))?;
    // Stride-0 views can name more values than the storage holds; the budget keeps the
    // output proportional to the file.
    if numel > *values_left {
        return Err(PthError::TooManyValues(file_len));
    }
    *values_left -= numel;
    if numel == 0 {
        return Ok(RawTensor {
            shape: t.shape.clone(),
            data: Vec::new(),
        });
    }
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset as u128, |acc, (&d, &s)| {
            acc.checked_add((d as u128 - 1) * s as u128)
        });
    let (skip, visible) = t.storage.view.unwrap_or((0, usize::MAX));
    let last = last
        .filter(|&l| l < visible as u128)
        .ok_or(bad("a view beyond its storage"))?;
    let size = t.storage.dtype.size();
    let need = (skip as u128 + last + 1).saturating_mul(size as u128);
    if need > storage.len() as u128 {
        return Err(PthError::ShortStorage {
            name: name.to_owned(),
            need,
            have: storage.len(),
        });
    }
    let base = skip + t.offset; // fits: bounded by `need` above
    let convert = |i: usize| {
        let at = (base + i) * size;
        let b = &storage[at..at + size];
        if big_endian && size > 1 {
            let mut le = [0u8; 8];
            le[..size].copy_from_slice(b);
            le[..size].reverse();
            t.storage.dtype.to_f32(&le[..size])
        } else {
            t.storage.dtype.to_f32(b)
        }
    };
    let mut data = Vec::with_capacity(numel);
    // An odometer over the indices: the last dimension turns fastest, as in C order.
    let mut index = vec![0usize; t.shape.len()];
    let mut at = 0usize;
    for _ in 0..numel {
        data.push(convert(at));
        for dim in (0..index.len()).rev() {
            // Wrapping: a size-1 dimension may carry any stride, and the position is
            // back in range once the dimension rolls over.
            index[dim] += 1;
            at = at.wrapping_add(t.stride[dim]);
            if index[dim] < t.shape[dim] {
                break;
            }
            at = at.wrapping_sub(t.stride[dim].wrapping_mul(t.shape[dim]));
            index[dim] = 0;
        }
    }
    Ok(RawTensor {
        shape: t.shape.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pth::tests::{run_pickle, tensor_pickle};

    #[test]
    fn strided_view_is_gathered_in_c_order() {
        let storage: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        // A 2x3 storage read transposed: shape (3, 2), stride (1, 3).
        let got = run_pickle(
            &tensor_pickle("FloatStorage", 0, &[3, 2], &[1, 3]),
            &storage,
        );
        let got = got.unwrap();
        assert_eq!(got[0].0, "w");
        assert_eq!(got[0].1.shape, vec![3, 2]);
        assert_eq!(got[0].1.data, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let tail = run_pickle(&tensor_pickle("FloatStorage", 4, &[2], &[1]), &storage).unwrap();
        assert_eq!(tail[0].1.data, vec![4.0, 5.0]);
    }

    #[test]
    fn short_storage_is_reported_with_sizes() {
        let storage = [0u8; 200];
        let err = run_pickle(
            &tensor_pickle("FloatStorage", 0, &[128, 3], &[3, 1]),
            &storage,
        );
        assert_eq!(
            err.unwrap_err().to_string(),
            "tensor `w` needs 1536 bytes but its storage has 200"
        );
    }

    #[test]
    fn other_element_types_convert() {
        let half: Vec<u8> = [0x3c00u16, 0xc000, 0x0001, 0x7c00]
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect();
        let got = run_pickle(&tensor_pickle("HalfStorage", 0, &[4], &[1]), &half).unwrap();
        assert_eq!(
            got[0].1.data,
            vec![1.0, -2.0, 5.960_464_5e-8, f32::INFINITY]
        );
        let bf: Vec<u8> = [0x3f80u16, 0xc040]
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect();
        let got = run_pickle(&tensor_pickle("BFloat16Storage", 0, &[2], &[1]), &bf).unwrap();
        assert_eq!(got[0].1.data, vec![1.0, -3.0]);
        let long: Vec<u8> = [7i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let got = run_pickle(&tensor_pickle("LongStorage", 0, &[2], &[1]), &long).unwrap();
        assert_eq!(got[0].1.data, vec![7.0, -1.0]);
    }

    #[test]
    fn f16_matches_reference_values() {
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!(f16_to_f32(0x8000).is_sign_negative());
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x03ff), 6.097_555e-5);
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
