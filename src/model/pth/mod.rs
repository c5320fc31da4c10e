//! Reads PyTorch `state_dict` files (`torch.save(model.state_dict(), "model.pth")`).
//!
//! The original notebook saved its trained model this way, and libtorch's C++ loader (what
//! tch wraps) cannot read the pickled `OrderedDict` inside, so tms carries its own reader
//! for the small part of the format a `state_dict` needs. Both layouts are understood: the
//! zip archive PyTorch writes by default since 1.6 (`data.pkl` plus one `data/<key>` entry
//! per storage) and the older single-stream layout (`_use_new_zipfile_serialization=False`:
//! magic number, protocol, system info and the main pickle, then the storage keys and the
//! raw storages, each after an 8-byte element count).
//!
//! Pickle is a program, not a data format, so it is interpreted by a tiny machine that
//! knows only the opcodes these files use and a fixed list of harmless globals
//! (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, the storage types);
//! any other global is refused by name and nothing is ever executed. Every length read
//! from the file is checked against the bytes actually present, so a corrupt or hostile
//! file yields an error, never a panic, and never an allocation much larger than the file
//! (at most four output bytes per input byte). The pickle machine's own objects are
//! charged against a budget of (at most) ten times the file's size, so a pickle of a million
//! EMPTY_DICT opcodes is refused instead of taking a hundred bytes per byte.

mod legacy;
mod pickle;
mod tensor;
mod zip;

use self::legacy::{read_legacy, LEGACY_MAGIC};
use self::pickle::{Obj, Value, Vm, PROTO};
use self::tensor::TensorRef;
use self::zip::{find_pickle, open_zip, read_zip};

/// One tensor of a state_dict, converted to `f32`, in row-major (C) order.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Why a file could not be read as a state_dict.
#[derive(Debug, thiserror::Error)]
pub enum PthError {
    #[error("not a PyTorch file")]
    NotPth,
    #[error("corrupt zip archive: {0}")]
    Zip(String),
    #[error("the archive has no `{0}`")]
    MissingEntry(String),
    #[error("archive entry `{0}` is larger than the file")]
    EntryTooLarge(String),
    #[error("pickle ends early at byte {0}")]
    Truncated(usize),
    #[error("unsupported pickle opcode 0x{op:02x} at byte {at}")]
    Opcode { op: u8, at: usize },
    #[error("refusing to load `{0}`: a state_dict holds only tensors")]
    Global(String),
    #[error("malformed pickle at byte {at}: {what}")]
    Malformed { at: usize, what: &'static str },
    #[error("not a state_dict: {0}")]
    NotStateDict(String),
    #[error("unsupported legacy format version {0}")]
    LegacyVersion(String),
    #[error("storage `{0}` is missing from the file")]
    MissingStorage(String),
    #[error("storage `{key}` claims {claimed} bytes but only {left} are left in the file")]
    StorageOverrun {
        key: String,
        claimed: u128,
        left: usize,
    },
    #[error("tensor `{name}` needs {need} bytes but its storage has {have}")]
    ShortStorage {
        name: String,
        need: u128,
        have: usize,
    },
    #[error("tensor `{name}` has {what}")]
    BadTensor { name: String, what: &'static str },
    #[error("the tensors hold more values than a file of {0} bytes can store")]
    TooManyValues(usize),
    #[error("unsupported byte order `{0}`")]
    ByteOrder(String),
    #[error("the pickle at byte {at} builds more objects than a file of {file} bytes can hold")]
    TooManyObjects { at: usize, file: usize },
}

/// True when the bytes look like a PyTorch file (zip with data.pkl, or legacy pickle magic).
pub fn is_pth(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"PK\x03\x04") {
        return open_zip(bytes)
            .map(|ar| find_pickle(&ar).is_some())
            .unwrap_or(false);
    }
    if bytes.first() != Some(&PROTO) {
        return false;
    }
    let mut vm = Vm::new(bytes, 0);
    matches!(vm.run(), Ok(Value::BigInt(ref b)) if **b == LEGACY_MAGIC)
}

/// The tensors of a state_dict in file order, converted to f32 (float32, float64, float16,
/// bfloat16 storages; contiguous or strided views handled via storage_offset/stride).
pub fn read_state_dict(bytes: &[u8]) -> Result<Vec<(String, RawTensor)>, PthError> {
    if bytes.starts_with(b"PK\x03\x04") {
        read_zip(bytes)
    } else if bytes.first() == Some(&PROTO) {
        read_legacy(bytes)
    } else {
        Err(PthError::NotPth)
    }
}

/// The (name, tensor) pairs of the unpickled top-level dictionary, in insertion order.
fn state_dict_entries(vm: &Vm, root: &Value) -> Result<Vec<(String, TensorRef)>, PthError> {
    // Training checkpoints wrap the state_dict with the optimizer state and epoch count;
    // the model's part is taken when it is there under one of the customary names.
    for key in ["state_dict", "model_state_dict", "model"] {
        if let Some(inner) = vm.dict_get(root, key) {
            if matches!(vm.obj(inner), Some(Obj::Dict(_))) {
                return state_dict_entries_flat(vm, inner);
            }
        }
    }
    state_dict_entries_flat(vm, root)
}

fn state_dict_entries_flat(vm: &Vm, d: &Value) -> Result<Vec<(String, TensorRef)>, PthError> {
    let Some(Obj::Dict(dict)) = vm.obj(d) else {
        return Err(PthError::NotStateDict(
            "the file holds no dictionary".into(),
        ));
    };
    dict.items
        .iter()
        .map(|(k, v)| {
            let Value::Str(name) = k else {
                return Err(PthError::NotStateDict("a key is not a string".into()));
            };
            match vm.obj(v) {
                Some(Obj::Tensor(t)) => Ok((name.to_string(), t.clone())),
                _ => Err(PthError::NotStateDict(format!("`{name}` is not a tensor"))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::tensor::materialise;
    use super::zip::read_entry;
    use super::*;
    use proptest::prelude::*;

    pub(super) fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/pth/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The data.pkl of the zip fixture, and the archive itself.
    fn zip_pickle() -> (Vec<u8>, Vec<u8>) {
        let file = fixture("notebook_zip.pth");
        let mut ar = open_zip(&file).unwrap();
        let prefix = find_pickle(&ar).unwrap();
        let mut budget = file.len();
        let pkl = read_entry(&mut ar, &format!("{prefix}data.pkl"), &mut budget).unwrap();
        (pkl, file)
    }

    /// A one-tensor pickle over storage "0" with the given storage type and view.
    pub(super) fn tensor_pickle(storage: &str, offset: u8, shape: &[u8], stride: &[u8]) -> Vec<u8> {
        let mut p = vec![PROTO, 2, b'}', b'(', 0x8c, 1, b'w'];
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend_from_slice(b"(X\x07\x00\x00\x00storage");
        p.extend_from_slice(format!("ctorch\n{storage}\n").as_bytes());
        p.extend_from_slice(b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ");
        p.extend_from_slice(&[b'K', offset, b'(']);
        for &d in shape {
            p.extend_from_slice(&[b'K', d]);
        }
        p.push(b't');
        p.push(b'(');
        for &s in stride {
            p.extend_from_slice(&[b'K', s]);
        }
        p.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)RtRu.");
        p
    }

    pub(super) fn run_pickle(
        p: &[u8],
        storage: &[u8],
    ) -> Result<Vec<(String, RawTensor)>, PthError> {
        let mut vm = Vm::new(p, 0);
        let root = vm.run()?;
        let entries = state_dict_entries(&vm, &root)?;
        let mut left = 1 << 20;
        entries
            .into_iter()
            .map(|(n, t)| {
                Ok((
                    n.clone(),
                    materialise(&n, &t, storage, false, &mut left, 0)?,
                ))
            })
            .collect()
    }

    #[test]
    fn checkpoints_yield_their_model_state() {
        // {"epoch": 3, "model_state_dict": <the one-tensor state_dict>}
        let inner = tensor_pickle("FloatStorage", 0, &[2], &[1]);
        let mut p =
            b"\x80\x02}(X\x05\x00\x00\x00epochK\x03X\x10\x00\x00\x00model_state_dict".to_vec();
        p.extend_from_slice(&inner[2..inner.len() - 1]);
        p.extend_from_slice(b"u.");
        let got = run_pickle(&p, &[0, 0, 128, 63, 0, 0, 0, 64]).unwrap();
        assert_eq!(
            got,
            vec![(
                "w".to_string(),
                RawTensor {
                    shape: vec![2],
                    data: vec![1.0, 2.0]
                }
            )]
        );
    }

    #[test]
    fn non_tensor_entries_are_named() {
        let err = run_pickle(b"\x80\x02}(X\x01\x00\x00\x00aK\x01u.", &[]).unwrap_err();
        assert_eq!(err.to_string(), "not a state_dict: `a` is not a tensor");
    }

    #[test]
    fn legacy_magic_is_recognised() {
        assert!(is_pth(&fixture("notebook_legacy.pth")));
        assert!(is_pth(&fixture("notebook_zip.pth")));
        assert!(!is_pth(b"\x80\x02K\x01."));
        assert!(!is_pth(b"MThd"));
        assert!(!is_pth(&[]));
        assert!(matches!(read_state_dict(b"hello"), Err(PthError::NotPth)));
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000),
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = is_pth(&bytes);
            let _ = read_state_dict(&bytes);
            let mut with_proto = vec![PROTO, 2];
            with_proto.extend_from_slice(&bytes);
            let _ = read_state_dict(&with_proto);
            let mut zip_head = b"PK\x03\x04".to_vec();
            zip_head.extend_from_slice(&bytes);
            let _ = read_state_dict(&zip_head);
        }

        #[test]
        fn mutated_legacy_files_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut file = LEGACY.with(|f| f.clone());
            // Mutations concentrate on the pickles at the front, where the structure is.
            let head = 1600.min(file.len());
            for (i, b) in edits {
                let at = i.index(head);
                file[at] = b;
            }
            let _ = is_pth(&file);
            let _ = read_state_dict(&file);
            let _ = read_state_dict(&file[..cut.index(file.len() + 1)]);
        }

        #[test]
        fn mutated_zip_pickles_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            // The zip CRC would reject edited entries before the pickle machine saw them,
            // so the machine is fed the edited data.pkl directly.
            let (mut pkl, file) = ZIP.with(|z| z.clone());
            for (i, b) in edits {
                let at = i.index(pkl.len());
                pkl[at] = b;
            }
            let storage = &file[..];
            let _ = run_pickle(&pkl, storage);
        }

        #[test]
        fn mutated_zip_files_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let (_, mut file) = ZIP.with(|z| z.clone());
            // Archive structure lives in the local headers near the front and the central
            // directory at the end.
            let n = file.len();
            for (k, (i, b)) in edits.into_iter().enumerate() {
                let at = if k % 2 == 0 { i.index(512) } else { n - 1 - i.index(1200) };
                file[at] = b;
            }
            let _ = is_pth(&file);
            let _ = read_state_dict(&file);
        }
    }

    thread_local! {
        static LEGACY: Vec<u8> = fixture("notebook_legacy.pth");
        static ZIP: (Vec<u8>, Vec<u8>) = zip_pickle();
    }
}
