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

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::rc::Rc;

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

// ---------------------------------------------------------------------------------------
// Containers

/// `0x1950a86a20f9469cfc6c`, the legacy format's magic number, as LONG1 stores it.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_PROTOCOL: i64 = 1001;

fn open_zip(bytes: &[u8]) -> Result<zip::ZipArchive<Cursor<&[u8]>>, PthError> {
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
fn find_pickle(ar: &zip::ZipArchive<Cursor<&[u8]>>) -> Option<String> {
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
fn read_entry(
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

fn read_zip(bytes: &[u8]) -> Result<Vec<(String, RawTensor)>, PthError> {
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

fn read_legacy(bytes: &[u8]) -> Result<Vec<(String, RawTensor)>, PthError> {
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

fn key_of(v: &Value) -> Option<Rc<str>> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string().into()),
        _ => None,
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

// ---------------------------------------------------------------------------------------
// Tensors

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DType {
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
    fn from_storage(name: &str) -> Option<DType> {
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

    fn size(self) -> usize {
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
struct StorageRef {
    key: Rc<str>,
    dtype: DType,
    /// Elements to skip and the number of elements visible, for legacy storage views.
    view: Option<(usize, usize)>,
}

#[derive(Clone, Debug)]
struct TensorRef {
    storage: StorageRef,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// Gathers a tensor's elements from its storage bytes, honouring offset and strides.
fn materialise(
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

// ---------------------------------------------------------------------------------------
// The pickle machine

const PROTO: u8 = 0x80;

#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// LONG1/LONG4 values too wide for i64, as little-endian two's complement bytes.
    BigInt(Rc<[u8]>),
    /// Floats appear only in metadata tms ignores.
    Float,
    Str(Rc<str>),
    /// An index into `Vm::objs`: containers live in one arena so that memo references
    /// share them as Python does, copies are cheap, and dropping is never recursive.
    Obj(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    RebuildParameterWithState,
    Storage(DType),
}

impl Global {
    fn lookup(module: &str, name: &str) -> Option<Global> {
        match (module, name) {
            ("collections", "OrderedDict") => Some(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
            ("torch._utils", "_rebuild_tensor") => Some(Global::RebuildTensor),
            ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
            ("torch._utils", "_rebuild_parameter_with_state") => {
                Some(Global::RebuildParameterWithState)
            }
            ("torch", storage) => DType::from_storage(storage).map(Global::Storage),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Dict {
    items: Vec<(Value, Value)>,
    /// Position of each string key, so a repeated key replaces its value in place (as a
    /// Python dict does) without a quadratic scan.
    by_str: HashMap<Rc<str>, usize>,
}

impl Dict {
    fn set(&mut self, k: Value, v: Value) {
        if let Value::Str(s) = &k {
            if let Some(&i) = self.by_str.get(s) {
                self.items[i].1 = v;
                return;
            }
            self.by_str.insert(s.clone(), self.items.len());
        }
        self.items.push((k, v));
    }
}

/// The heap bytes a dict's tables take.
fn dict_bytes(d: &Dict) -> usize {
    d.items.capacity() * std::mem::size_of::<(Value, Value)>()
        + d.by_str.capacity() * (std::mem::size_of::<(Rc<str>, usize)>() + 1)
}

#[derive(Debug)]
enum Obj {
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Dict),
    Bytes,
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    /// Where the current opcode started, for error messages.
    op_at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    objs: Vec<Obj>,
    /// Heap bytes held by strings and container contents (the stack, memo and arena are
    /// measured by their capacities instead).
    heap: usize,
    /// The most bytes `footprint` may reach.
    budget: usize,
    /// The size of the file, for the message.
    file: usize,
}

type VmResult<T> = Result<T, PthError>;

impl<'a> Vm<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Vm {
            data,
            pos,
            op_at: pos,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            objs: Vec::new(),
            heap: 0,
            budget: 0,
            file: 0,
        }
        .for_file(data.len())
    }

    /// Sets the budget from the size of the file the pickle came from (a zip's `data.pkl`
    /// is only part of it).
    fn for_file(mut self, len: usize) -> Self {
        self.file = len;
        // Five times the file: a vector that doubles just under the budget can then still
        // not pass ten. A small floor, so tiny pickles of tests and headers always run.
        self.budget = len.saturating_mul(5).saturating_add(1 << 20);
        self
    }

    /// Roughly the bytes this machine holds: what its budget limits.
    fn footprint(&self) -> usize {
        use std::mem::size_of;
        self.stack.capacity() * size_of::<Value>()
            + self.marks.capacity() * size_of::<usize>()
            + self.objs.capacity() * size_of::<Obj>()
            + self.memo.capacity() * (size_of::<(u32, Value)>() + 1)
            + self.heap
    }

    fn check_budget(&self) -> VmResult<()> {
        if self.footprint() > self.budget {
            return Err(PthError::TooManyObjects {
                at: self.op_at,
                file: self.file,
            });
        }
        Ok(())
    }

    fn obj(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.objs.get(*i),
            _ => None,
        }
    }

    fn dict_get(&self, d: &Value, key: &str) -> Option<&Value> {
        match self.obj(d)? {
            Obj::Dict(d) => d.by_str.get(key).map(|&i| &d.items[i].1),
            _ => None,
        }
    }

    fn malformed(&self, what: &'static str) -> PthError {
        PthError::Malformed {
            at: self.op_at,
            what,
        }
    }

    fn take(&mut self, n: usize) -> VmResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or(PthError::Truncated(self.data.len()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> VmResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> VmResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> VmResult<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> VmResult<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn length(&self, n: u64) -> VmResult<usize> {
        usize::try_from(n).map_err(|_| PthError::Truncated(self.data.len()))
    }

    fn line(&mut self) -> VmResult<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PthError::Truncated(self.data.len()))?;
        let line = self.take(n + 1)?;
        std::str::from_utf8(&line[..n]).map_err(|_| self.malformed("text is not utf-8"))
    }

    fn string(&mut self, n: usize) -> VmResult<Value> {
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| self.malformed("string is not utf-8"))?;
        self.heap += 16 + s.len();
        Ok(Value::Str(s.into()))
    }

    fn push_obj(&mut self, o: Obj) {
        if let Obj::Tuple(v) | Obj::List(v) = &o {
            self.heap += v.capacity() * std::mem::size_of::<Value>();
        }
        self.objs.push(o);
        self.stack.push(Value::Obj(self.objs.len() - 1));
    }

    fn pop(&mut self) -> VmResult<Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    fn top(&self) -> VmResult<&Value> {
        self.stack
            .last()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    fn pop_mark(&mut self) -> VmResult<Vec<Value>> {
        let mark = self.marks.pop().ok_or_else(|| self.malformed("no mark"))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn memo_put(&mut self, key: u32) -> VmResult<()> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> VmResult<()> {
        let v = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.malformed("unknown memo key"))?;
        self.stack.push(v);
        Ok(())
    }

    fn int_from_le(&self, b: &[u8]) -> Value {
        if b.len() <= 8 {
            let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                0xff
            } else {
                0
            };
            let mut a = [fill; 8];
            a[..b.len()].copy_from_slice(b);
            Value::Int(i64::from_le_bytes(a))
        } else {
            Value::BigInt(b.into())
        }
    }

    /// The container a SETITEM/APPEND-style opcode adds to: the value just below the mark
    /// (or the top of the stack) must be a dict or list.
    fn target(&self, below: usize) -> VmResult<usize> {
        match below.checked_sub(1).and_then(|i| self.stack.get(i)) {
            Some(Value::Obj(i)) => Ok(*i),
            _ => Err(self.malformed("nothing to add items to")),
        }
    }

    fn set_items(&mut self, items: Vec<Value>, dict_at: usize) -> VmResult<()> {
        if !items.len().is_multiple_of(2) {
            return Err(self.malformed("odd number of dict items"));
        }
        let idx = self.target(dict_at)?;
        let Some(Obj::Dict(d)) = self.objs.get_mut(idx) else {
            return Err(self.malformed("items added to a non-dict"));
        };
        let before = dict_bytes(d);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.set(k, v);
        }
        self.heap += dict_bytes(d).saturating_sub(before);
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>, list_at: usize) -> VmResult<()> {
        let idx = self.target(list_at)?;
        let Some(Obj::List(l)) = self.objs.get_mut(idx) else {
            return Err(self.malformed("items appended to a non-list"));
        };
        let before = l.capacity();
        l.extend(items);
        self.heap += (l.capacity() - before) * std::mem::size_of::<Value>();
        Ok(())
    }

    /// Runs one pickle from `pos` to its STOP and returns the value it built.
    fn run(&mut self) -> VmResult<Value> {
        loop {
            // Checked before each opcode, so no single one can overshoot by much: the largest
            // (a string, a tuple of the stack) is bounded by the file itself.
            self.check_budget()?;
            self.op_at = self.pos;
            let op = self.byte()?;
            match op {
                PROTO => {
                    self.byte()?;
                }
                0x95 => {
                    // FRAME: a length hint for buffered readers; everything is in memory.
                    self.u64()?;
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(v as i64));
                }
                b'K' => {
                    let v = self.byte()?;
                    self.stack.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v as i64));
                }
                0x8a => {
                    let n = self.byte()? as usize;
                    let b = self.take(n)?;
                    let v = self.int_from_le(b);
                    self.stack.push(v);
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    let v = self.int_from_le(b);
                    self.stack.push(v);
                }
                b'I' => {
                    let line = self.line()?;
                    let v = match line {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        s => Value::Int(s.parse().map_err(|_| self.malformed("bad INT"))?),
                    };
                    self.stack.push(v);
                }
                b'G' => {
                    self.take(8)?;
                    self.stack.push(Value::Float);
                }
                b'F' => {
                    let line = self.line()?;
                    line.parse::<f64>()
                        .map_err(|_| self.malformed("bad FLOAT"))?;
                    self.stack.push(Value::Float);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8c | b'U' => {
                    let n = self.byte()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.u64()?;
                    let n = self.length(n)?;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                b'B' | b'C' | 0x8e => {
                    // Bytes are never part of a state_dict's tensors; keep only that they exist.
                    let n = match op {
                        b'B' => self.u32()? as u64,
                        b'C' => self.byte()? as u64,
                        _ => self.u64()?,
                    };
                    let n = self.length(n)?;
                    self.take(n)?;
                    self.push_obj(Obj::Bytes);
                }
                b'}' => self.push_obj(Obj::Dict(Dict::default())),
                b']' => self.push_obj(Obj::List(Vec::new())),
                b')' => self.push_obj(Obj::Tuple(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Dict(Dict::default()));
                    let at = self.stack.len();
                    self.set_items(items, at)?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::List(items));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err(self.malformed("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push_obj(Obj::Tuple(items));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let at = self.stack.len();
                    self.set_items(vec![k, v], at)?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let at = self.stack.len();
                    self.set_items(items, at)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    let at = self.stack.len();
                    self.append(vec![v], at)?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let at = self.stack.len();
                    self.append(items, at)?;
                }
                b'q' => {
                    let k = self.byte()? as u32;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.memo_put(k)?;
                }
                b'p' => {
                    let line = self.line()?;
                    let k = line.parse().map_err(|_| self.malformed("bad PUT"))?;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.byte()? as u32;
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k)?;
                }
                b'g' => {
                    let line = self.line()?;
                    let k = line.parse().map_err(|_| self.malformed("bad GET"))?;
                    self.memo_get(k)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.global(&m, &n)?,
                        _ => return Err(self.malformed("STACK_GLOBAL needs two strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.reduce(&func, &args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    // BUILD sets object state; the only state these files carry is the
                    // OrderedDict's `_metadata` (module versions), which tms has no use for.
                    self.pop()?;
                    self.top()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = self.persistent_load(&pid)?;
                    self.push_obj(Obj::Storage(storage));
                }
                _ => return Err(PthError::Opcode { op, at: self.op_at }),
            }
        }
    }

    fn global(&mut self, module: &str, name: &str) -> VmResult<()> {
        let g = Global::lookup(module, name)
            .ok_or_else(|| PthError::Global(format!("{module}.{name}")))?;
        self.push_obj(Obj::Global(g));
        Ok(())
    }

    fn int(&self, v: &Value, what: &'static str) -> VmResult<usize> {
        match v {
            Value::Int(i) => usize::try_from(*i).map_err(|_| self.malformed(what)),
            _ => Err(self.malformed(what)),
        }
    }

    fn ints(&self, v: &Value, what: &'static str) -> VmResult<Vec<usize>> {
        match self.obj(v) {
            // PyTorch allows at most 64 dimensions; the limit also keeps a shared huge
            // tuple from being copied into every tensor.
            Some(Obj::Tuple(items)) if items.len() <= 64 => {
                items.iter().map(|i| self.int(i, what)).collect()
            }
            _ => Err(self.malformed(what)),
        }
    }

    fn reduce(&mut self, func: &Value, args: &Value) -> VmResult<Value> {
        let Some(Obj::Global(g)) = self.obj(func) else {
            return Err(self.malformed("REDUCE of something not callable"));
        };
        let g = *g;
        let Some(Obj::Tuple(args)) = self.obj(args) else {
            return Err(self.malformed("REDUCE arguments are not a tuple"));
        };
        // Every known callable takes at most 7 arguments; checking first keeps a huge
        // tuple from being copied on each call.
        if args.len() > 7 {
            return Err(self.malformed("unexpected call"));
        }
        let args = args.clone();
        match g {
            Global::OrderedDict if args.is_empty() => {
                self.objs.push(Obj::Dict(Dict::default()));
                Ok(Value::Obj(self.objs.len() - 1))
            }
            Global::RebuildTensorV2 | Global::RebuildTensor
                if (g == Global::RebuildTensor && args.len() == 4)
                    || (g == Global::RebuildTensorV2 && (6..=7).contains(&args.len())) =>
            {
                let Some(Obj::Storage(storage)) = self.obj(&args[0]) else {
                    return Err(self.malformed("tensor without a storage"));
                };
                let storage = storage.clone();
                let offset = self.int(&args[1], "bad tensor offset")?;
                let shape = self.ints(&args[2], "bad tensor shape")?;
                let stride = self.ints(&args[3], "bad tensor stride")?;
                if shape.len() != stride.len() {
                    return Err(self.malformed("tensor shape and stride differ in length"));
                }
                self.objs.push(Obj::Tensor(TensorRef {
                    storage,
                    offset,
                    shape,
                    stride,
                }));
                Ok(Value::Obj(self.objs.len() - 1))
            }
            Global::RebuildParameter | Global::RebuildParameterWithState
                if (3..=4).contains(&args.len()) =>
            {
                match self.obj(&args[0]) {
                    Some(Obj::Tensor(_)) => Ok(args[0].clone()),
                    _ => Err(self.malformed("parameter without a tensor")),
                }
            }
            _ => Err(self.malformed("unexpected call")),
        }
    }

    /// `('storage', torch.FloatStorage, key, location, numel[, view_metadata])`.
    fn persistent_load(&self, pid: &Value) -> VmResult<StorageRef> {
        let Some(Obj::Tuple(t)) = self.obj(pid) else {
            return Err(self.malformed("persistent id is not a tuple"));
        };
        if t.len() < 5 || !matches!(&t[0], Value::Str(s) if &**s == "storage") {
            return Err(self.malformed("persistent id is not a storage"));
        }
        let Some(Obj::Global(Global::Storage(dtype))) = self.obj(&t[1]) else {
            return Err(self.malformed("unknown storage type"));
        };
        let key = key_of(&t[2]).ok_or_else(|| self.malformed("bad storage key"))?;
        let view = match t.get(5) {
            None | Some(Value::None) => None,
            // Pre-1.0 files name slices of a shared storage as (view_key, offset, size).
            Some(v) => match self.obj(v) {
                Some(Obj::Tuple(m)) if m.len() == 3 => Some((
                    self.int(&m[1], "bad storage view")?,
                    self.int(&m[2], "bad storage view")?,
                )),
                _ => return Err(self.malformed("bad storage view")),
            },
        };
        Ok(StorageRef {
            key,
            dtype: *dtype,
            view,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
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
    fn tensor_pickle(storage: &str, offset: u8, shape: &[u8], stride: &[u8]) -> Vec<u8> {
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

    #[test]
    fn object_bombs_are_refused_within_ten_times_the_file() {
        let mut p = vec![PROTO, 2];
        p.resize(4 << 20, b'}');
        p.push(b'.');
        let mut vm = Vm::new(&p, 0);
        let e = vm.run().unwrap_err();
        assert!(
            matches!(e, PthError::TooManyObjects { .. }),
            "{e}: the bomb must hit the budget"
        );
        assert!(
            vm.footprint() <= 10 * p.len() + (2 << 20),
            "{}",
            vm.footprint()
        );
        assert!(e.to_string().starts_with("the pickle at byte "), "{e}");
    }

    fn run_pickle(p: &[u8], storage: &[u8]) -> Result<Vec<(String, RawTensor)>, PthError> {
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

    #[test]
    fn unknown_globals_are_refused_by_name() {
        let p = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsR.";
        let err = run_pickle(p, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to load `os.system`: a state_dict holds only tensors"
        );
        let p = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
        let err = run_pickle(p, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to load `builtins.eval`: a state_dict holds only tensors"
        );
    }

    #[test]
    fn unknown_opcodes_name_byte_and_offset() {
        let err = run_pickle(b"\x80\x02}\x81.", &[]).unwrap_err();
        assert_eq!(err.to_string(), "unsupported pickle opcode 0x81 at byte 3");
    }

    #[test]
    fn malformed_pickles_are_errors() {
        for p in [
            &b"."[..],
            b"(t.",
            b"s.",
            b"}K\x01s.",
            b"h\x05.",
            b"K\x01K\x02u.",
            b"}(K\x01u.",
        ] {
            assert!(run_pickle(p, &[]).is_err(), "{p:?}");
        }
        // A mark hides what is below it from TUPLE2.
        assert!(run_pickle(b"K\x01(K\x02\x86.", &[]).is_err());
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

    #[test]
    fn every_truncation_of_the_legacy_file_fails_cleanly() {
        let file = fixture("notebook_legacy.pth");
        // The head holds all the pickles; past it every cut lands in tensor data.
        for cut in (0..2000).chain((2000..file.len()).step_by(997)) {
            assert!(read_state_dict(&file[..cut]).is_err(), "cut at {cut}");
        }
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
