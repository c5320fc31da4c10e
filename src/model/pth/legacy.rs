//! The single-stream layout (`_use_new_zipfile_serialization=False`, and every file from
//! before PyTorch 1.6), kept apart from the zip reader because it has no directory to trust:
//! the file is a chain of pickles followed by raw storages, and only the storages' own element
//! counts say where each one ends, so every count is checked against the bytes that are left.

use std::collections::HashMap;
use std::rc::Rc;

use super::pickle::{key_of, Obj, Value, Vm};
use super::tensor::{materialise, DType};
use super::{state_dict_entries, PthError, RawTensor};

/// `0x1950a86a20f9469cfc6c`, the legacy format's magic number, as LONG1 stores it.
pub(super) const LEGACY_MAGIC: [u8; 10] =
    [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_PROTOCOL: i64 = 1001;

pub(super) fn read_legacy(bytes: &[u8]) -> Result<Vec<(String, RawTensor)>, PthError> {
    let mut vm = Vm::new(bytes, 0);
    match vm.run()? {
        Value::BigInt(ref b) if **b == LEGACY_MAGIC => {}
        _ => return Err(PthError::NotPth),
    }
    let mut vm = Vm::new(bytes, vm.pos);
    match vm.run()? {
        Value::Int(LEGACY_PROTOCOL) => {}
        Value::Int(v) => return Err(PthError::LegacyVersion(v.to_string())),
        _ => return Err(PthError::LegacyVersion("?".into())),
    }
    let mut vm = Vm::new(bytes, vm.pos);
    let sys_info = vm.run()?;
    let big_endian = matches!(
        vm.dict_get(&sys_info, "little_endian"),
        Some(Value::Bool(false))
    );
    let mut main = Vm::new(bytes, vm.pos);
    let root = main.run()?;
    let entries = state_dict_entries(&main, &root)?;
    let mut keys_vm = Vm::new(bytes, main.pos);
    let keys_list = keys_vm.run()?;
    let keys: Vec<Rc<str>> = match keys_vm.obj(&keys_list) {
        Some(Obj::List(items)) => items
            .iter()
            .map(|k| {
                key_of(k).ok_or(PthError::NotStateDict(
                    "storage keys are not strings".into(),
                ))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(PthError::NotStateDict("no storage key list".into())),
    };

    // The storages follow in key order; a storage's element size comes from the tensors
    // that use it, so a key no tensor uses cannot be skipped safely.
    let mut dtypes: HashMap<Rc<str>, DType> = HashMap::new();
    for (_, t) in &entries {
        dtypes.insert(t.storage.key.clone(), t.storage.dtype);
    }
    let mut spans: HashMap<Rc<str>, &[u8]> = HashMap::new();
    let mut pos = keys_vm.pos;
    for key in keys {
        let count = bytes
            .get(pos..pos + 8)
            .ok_or(PthError::Truncated(pos))?
            .try_into()
            .map(|b: [u8; 8]| {
                if big_endian {
                    u64::from_be_bytes(b)
                } else {
                    u64::from_le_bytes(b)
                }
            })
            .map_err(|_| PthError::Truncated(pos))?;
        pos += 8;
        let Some(dtype) = dtypes.get(&key) else {
            return Err(PthError::NotStateDict(format!(
                "storage `{key}` has no tensor"
            )));
        };
        let left = bytes.len() - pos;
        let claimed = count as u128 * dtype.size() as u128;
        if claimed > left as u128 {
            return Err(PthError::StorageOverrun {
                key: key.to_string(),
                claimed,
                left,
            });
        }
        let len = claimed as usize;
        spans.insert(key, &bytes[pos..pos + len]);
        pos += len;
    }
    let mut values_left = bytes.len();
    let mut out = Vec::with_capacity(entries.len());
    for (name, tensor) in entries {
        let data = spans
            .get(&tensor.storage.key)
            .ok_or_else(|| PthError::MissingStorage(tensor.storage.key.to_string()))?;
        let raw = materialise(
            &name,
            &tensor,
            data,
            big_endian,
            &mut values_left,
            bytes.len(),
        )?;
        out.push((name, raw));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::model::pth::read_state_dict;
    use crate::model::pth::tests::fixture;

    #[test]
    fn every_truncation_of_the_legacy_file_fails_cleanly() {
        let file = fixture("notebook_legacy.pth");
        // The head holds all the pickles; past it every cut lands in tensor data.
        for cut in (0..2000).chain((2000..file.len()).step_by(997)) {
            assert!(read_state_dict(&file[..cut]).is_err(), "cut at {cut}");
        }
    }
}
