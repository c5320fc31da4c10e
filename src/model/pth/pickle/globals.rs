//! The only place where a pickle can ask for code to run. Python's unpickler imports and calls
//! whatever a GLOBAL names; here the name is matched against a fixed list, and "calling" an
//! entry only records a storage or tensor reference, so nothing is ever executed. This file is
//! the security boundary, kept small and separate so that it can be reviewed on its own.

use super::{key_of, Dict, Obj, Value, Vm, VmResult};
use crate::model::pth::tensor::{DType, StorageRef, TensorRef};
use crate::model::pth::PthError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::model::pth) enum Global {
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

impl<'a> Vm<'a> {
    pub(super) fn global(&mut self, module: &str, name: &str) -> VmResult<()> {
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

    pub(super) fn reduce(&mut self, func: &Value, args: &Value) -> VmResult<Value> {
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
    pub(super) fn persistent_load(&self, pid: &Value) -> VmResult<StorageRef> {
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
    use crate::model::pth::tests::run_pickle;

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
}
