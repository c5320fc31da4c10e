//! The zip layout, PyTorch's default since 1.6, kept apart from the pickle machine because the
//! archive brings hazards of its own: an end-of-directory record that claims more entries than
//! the file can hold, several entries pointed at the same bytes, a deflate bomb. Each is stopped
//! here, before the zip crate allocates or the pickle machine runs, so what reaches them is
//! already bounded by the file's size.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::rc::Rc;

use super::pickle::Vm;
use super::tensor::materialise;
use super::{state_dict_entries, PthError, RawTensor};

pub(super) fn open_zip(bytes: &[u8]) -> Result<zip::ZipArchive<Cursor<&[u8]>>, PthError> {
    check_zip_directory(bytes)?;
    zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| PthError::Zip(e.to_string()))
}

/// The zip crate reserves room for as many entries as the end-of-directory record claims;
/// a central directory entry takes at least 46 bytes, so a claim the file cannot hold is
/// rejected before it becomes an allocation.
fn check_zip_directory(bytes: &[u8]) -> Result<(), PthError> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let tail_start = bytes.len().saturating_sub(22 + 0xffff);
    let Some(at) = bytes[tail_start..]
        .windows(4)
        .rposition(|w| w == EOCD)
        .map(|p| p + tail_start)
    else {
        return Err(PthError::Zip("no end of central directory".into()));
    };
    let Some(rec) = bytes.get(at..at + 22) else {
        return Err(PthError::Zip("truncated end of central directory".into()));
    };
    let entries = u16::from_le_bytes([rec[10], rec[11]]) as usize;
    if entries != 0xffff && entries * 46 > bytes.len() {
        return Err(PthError::Zip(format!("{entries} entries cannot fit")));
    }
    Ok(())
}

/// The archive's top folder: PyTorch names it after the file, so it is found, not assumed.
pub(super) fn find_pickle(ar: &zip::ZipArchive<Cursor<&[u8]>>) -> Option<String> {
    ar.file_names()
        .filter_map(|n| n.strip_suffix("data.pkl"))
        .find(|prefix| {
            prefix.is_empty() || (prefix.ends_with('/') && prefix.matches('/').count() == 1)
        })
        .map(str::to_owned)
}

/// Reads one entry whole, charging its size to `budget` (the file's length): entries of a
/// real file occupy distinct bytes, so their total cannot exceed it, and a directory that
/// points many entries at the same data, or a deflate bomb, is stopped.
pub(super) fn read_entry(
    ar: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    budget: &mut usize,
) -> Result<Vec<u8>, PthError> {
    let entry = ar.by_name(name).map_err(|e| match e {
        zip::result::ZipError::FileNotFound => PthError::MissingEntry(name.to_owned()),
        e => PthError::Zip(e.to_string()),
    })?;
    let size = usize::try_from(entry.size()).unwrap_or(usize::MAX);
    if size > *budget {
        return Err(PthError::EntryTooLarge(name.to_owned()));
    }
    let mut buf = Vec::with_capacity(size);
    // One byte past the declared size makes the reader reach its end, where the CRC is checked.
    entry
        .take(size as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| PthError::Zip(format!("`{name}`: {e}")))?;
    if buf.len() != size {
        return Err(PthError::Zip(format!("`{name}` has the wrong size")));
    }
    *budget -= size;
    Ok(buf)
}

pub(super) fn read_zip(bytes: &[u8]) -> Result<Vec<(String, RawTensor)>, PthError> {
    let mut ar = open_zip(bytes)?;
    let prefix = find_pickle(&ar).ok_or(PthError::NotPth)?;
    let mut budget = bytes.len();
    let pickle = read_entry(&mut ar, &format!("{prefix}data.pkl"), &mut budget)?;
    let big_endian = match read_entry(&mut ar, &format!("{prefix}byteorder"), &mut budget) {
        Ok(order) => match order.as_slice() {
            b"little" => false,
            b"big" => true,
            other => return Err(PthError::ByteOrder(String::from_utf8_lossy(other).into())),
        },
        // Files from PyTorch 1.6 to 1.9 have no byteorder entry and are little-endian.
        Err(PthError::MissingEntry(_)) => false,
        Err(e) => return Err(e),
    };
    let mut vm = Vm::new(&pickle, 0).for_file(bytes.len());
    let root = vm.run()?;
    let entries = state_dict_entries(&vm, &root)?;
    let mut storages: HashMap<Rc<str>, Vec<u8>> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    let mut values_left = bytes.len();
    for (name, tensor) in entries {
        if !storages.contains_key(&tensor.storage.key) {
            let entry = format!("{prefix}data/{}", tensor.storage.key);
            let data = read_entry(&mut ar, &entry, &mut budget).map_err(|e| match e {
                PthError::MissingEntry(_) => {
                    PthError::MissingStorage(tensor.storage.key.to_string())
                }
                e => e,
            })?;
            storages.insert(tensor.storage.key.clone(), data);
        }
        let data = storages
            .get(&tensor.storage.key)
            .map(Vec::as_slice)
            .unwrap_or_default();
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
