//! The instruction set, one arm per opcode that `torch.save` writes. It stands on its own so
//! that the whole of what the machine accepts can be read (and audited) in one place: an
//! opcode missing here is refused with its byte and offset, never guessed at.

use super::{Dict, Obj, Value, Vm, VmResult, PROTO};
use crate::model::pth::PthError;

impl<'a> Vm<'a> {
    /// Runs one pickle from `pos` to its STOP and returns the value it built.
    pub(in crate::model::pth) fn run(&mut self) -> VmResult<Value> {
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
}

#[cfg(test)]
mod tests {
    use crate::model::pth::tests::run_pickle;

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
}
