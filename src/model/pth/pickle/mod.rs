//! The pickle machine's state: values, the object arena, stack, memo and budget. Pickle is a
//! program, and Python's own unpickler would run whatever it names, so tms interprets it itself
//! (see the parent module for why it must read pickles at all). This file holds what keeps the
//! machine safe on any input: reads that are checked against the bytes present, and a budget
//! that keeps its objects proportional to the file. The opcodes it understands are in
//! `opcodes` and the few callables a pickle may name in `globals`, so each list can be read
//! on its own.

mod globals;
mod opcodes;

use std::collections::HashMap;
use std::rc::Rc;

use self::globals::Global;
use super::tensor::{StorageRef, TensorRef};
use super::PthError;

pub(super) const PROTO: u8 = 0x80;

#[derive(Clone, Debug)]
pub(super) enum Value {
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

#[derive(Debug, Default)]
pub(super) struct Dict {
    pub(super) items: Vec<(Value, Value)>,
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
pub(super) enum Obj {
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Dict),
    Bytes,
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

pub(super) struct Vm<'a> {
    data: &'a [u8],
    pub(super) pos: usize,
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
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
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
    pub(super) fn for_file(mut self, len: usize) -> Self {
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

    pub(super) fn obj(&self, v: &Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.objs.get(*i),
            _ => None,
        }
    }

    pub(super) fn dict_get(&self, d: &Value, key: &str) -> Option<&Value> {
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
}

pub(super) fn key_of(v: &Value) -> Option<Rc<str>> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string().into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
