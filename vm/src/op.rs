//! The instruction set, listed once in [`for_each_op!`].

use std::fmt;

use crate::{
    BufId, Builtin, CheckId, ColumnId, ConstId, DataId, ExtractorId, Pc, PickId, RangeId,
    ScriptCallId, SlotId, StepId,
};

/// Calls `$mac!` with every instruction: its doc, name, fields and mnemonic. The `Op`
/// enum, the mnemonic table and the operand printer are all generated from this one
/// list, so adding an instruction is one line here plus its arm in the interpreter.
macro_rules! for_each_op {
    ($mac:ident) => {
        $mac! {
            /// Empty buffer `buf`, keeping its capacity.
            BufClear { buf: BufId } => "buf.clear";
            /// Append constant `k` to buffer `buf`.
            PushConst { buf: BufId, k: ConstId } => "buf.push";
            /// Append the current value of a built-in to buffer `buf`.
            PushBuiltin { buf: BufId, builtin: Builtin } => "buf.builtin";
            /// Append the value extracted into `slot` to buffer `buf`.
            PushSlot { buf: BufId, slot: SlotId } => "buf.slot";
            /// Append the value extracted into `slot`, percent-encoded, to `buf`.
            PushSlotEncoded { buf: BufId, slot: SlotId } => "buf.slotenc";
            /// Append the value extracted into `slot` to `buf`, percent-encoding what a
            /// URL's path and query cannot carry (`push_target_encoded`): a value from a
            /// response never puts a space or a line break into the request line.
            PushSlotUrl { buf: BufId, slot: SlotId } => "buf.sloturl";
            /// Append a random integer from the program's range `range` to `buf`.
            PushRandom { buf: BufId, range: RangeId } => "buf.random";
            /// Append what script call `call` returns (`${script:name}`) to `buf`:
            /// the program's runner runs the function with the VU's variables and
            /// the step's request as far as it is built.
            PushScript { buf: BufId, call: ScriptCallId } => "buf.script";
            /// Pick this iteration's row of data source `data` (`[[data]]`) by its
            /// strategy into the VU's state; `buf.data` reads it. An exhausted
            /// `sequential` source that does not wrap yields `DataExhausted`.
            DataRow { data: DataId } => "data.row";
            /// Append column `col` of the iteration's row of its source to `buf`.
            PushData { buf: BufId, col: ColumnId } => "buf.data";
            /// Append column `col` of the iteration's row to `buf`, percent-encoding
            /// what a URL's path and query cannot carry (as `buf.sloturl`).
            PushDataUrl { buf: BufId, col: ColumnId } => "buf.dataurl";
            /// Append column `col` of the iteration's row to `buf`, percent-encoded
            /// (`${URLENCODE(source.column)}`, as `buf.slotenc`).
            PushDataEncoded { buf: BufId, col: ColumnId } => "buf.dataenc";
            /// Yield `Send(step)`: the step's buffers are ready. The runtime performs the
            /// exchange and resumes with its outcome, which the judging instructions
            /// after it (`check`, `extract`, `jump.failed`) read.
            Send { step: StepId } => "send";
            /// Judge the last outcome by check `check` and report pass or fail to the
            /// host. An exchange without a complete response fails every check.
            Check { check: CheckId } => "check";
            /// Run extractor `x` on the last outcome into its slot and report whether it
            /// found a value (the slot is emptied when it did not).
            Extract { x: ExtractorId } => "extract";
            /// Jump to `to` when the last exchange got no complete response: the rest of
            /// the iteration may depend on it (the failure policy, compiled).
            JumpIfFailed { to: Pc } => "jump.failed";
            /// Yield `Sleep`: the VU pauses `micros` microseconds (think time).
            Sleep { micros: u32 } => "sleep";
            /// Yield `Pace`: the VU waits until `micros` microseconds after its last
            /// exchange began (a WebSocket connection's message interval); no wait when
            /// that time has passed or there was no exchange yet.
            Pace { micros: u32 } => "pace";
            /// Jump to a scenario drawn by weight from pick table `table`.
            Pick { table: PickId } => "pick";
            /// Yield `IterationDone` and go back to the iteration's entry.
            IterEnd {} => "iter.end";
            /// Yield `IterationAborted` and go back to the iteration's entry without
            /// counting the iteration as completed (it keeps its number: the next
            /// iteration has the next).
            IterAbort {} => "iter.abort";
        }
    };
}

macro_rules! define_ops {
    ($( $(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* } => $mnemonic:literal; )*) => {
        /// One instruction.
        ///
        /// # Encoding
        ///
        /// `#[repr(u16)]`: a 2-byte tag, then the fields in declaration order. Every
        /// variant fits in 8 bytes (a `u16` tag, a `u16` and a `u32` operand at most);
        /// a compile-time assertion below keeps it so. Hence the widths: ids of
        /// per-VU things (buffers, slots) are `u16`, ids of program tables (constants,
        /// steps, checks, extractors, picks, ranges) are `u32`, and jump targets are
        /// absolute [`Pc`]s (`u32`). An instruction that needs a table id *and* a jump
        /// target keeps the pair in a side table of the `Program` and names its index.
        // Operand fields are named after their id types (`buf`, `k`, `step`); the
        // variant's doc says what they mean.
        #[allow(missing_docs)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u16)]
        pub enum Op {
            $( $(#[$doc])* $name { $($field: $ty),* }, )*
        }

        impl Op {
            /// The instruction's mnemonic, as printed by `--dump bytecode`.
            pub fn mnemonic(&self) -> &'static str {
                match self { $( Op::$name { .. } => $mnemonic, )* }
            }

            /// Write the operands, space-separated, as `b0 k3`.
            pub fn write_operands(&self, f: &mut dyn fmt::Write) -> fmt::Result {
                match self {
                    $( Op::$name { $($field),* } => {
                        let mut _first = true;
                        $(
                            if !_first { f.write_char(' ')?; }
                            write!(f, "{}", $field)?;
                            _first = false;
                        )*
                        Ok(())
                    } )*
                }
            }
        }
    };
}

for_each_op!(define_ops);

// If this fails, an operand got wider than a u16 + u32 pair: move it into a side table
// of the `Program` and refer to it by id, or reorder fields so the u16 comes first.
const _: () = assert!(std::mem::size_of::<Op>() == 8);

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut operands = String::new();
        self.write_operands(&mut operands)?;
        if operands.is_empty() {
            f.write_str(self.mnemonic())
        } else {
            write!(f, "{:<12}{}", self.mnemonic(), operands)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_is_eight_bytes() {
        // See the assertion above for how to fix a failure.
        assert_eq!(std::mem::size_of::<Op>(), 8);
    }

    #[test]
    fn display() {
        let op = Op::PushConst {
            buf: BufId(1),
            k: ConstId(7),
        };
        assert_eq!(op.to_string(), "buf.push    b1 k7");
        assert_eq!(Op::IterEnd {}.to_string(), "iter.end");
        let op = Op::PushBuiltin {
            buf: BufId(0),
            builtin: Builtin::RequestId,
        };
        assert_eq!(op.to_string(), "buf.builtin b0 REQUEST_ID");
    }
}
