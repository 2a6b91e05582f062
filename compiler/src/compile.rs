//! `compile`: [`Ir`] → [`Program`].
//!
//! Every literal is interned once in the constant pool. A template that is entirely
//! literal becomes an `Operand::Const` and costs nothing per request; one with
//! built-ins gets a buffer and a short run of `buf.*` instructions. Buffers are numbered
//! per step and reused by the next step, so `buf_count` is the widest step's need.

use std::collections::BTreeMap;

use kaioken_vm::{
    BufId, ConstId, HeaderDesc, Op, Operand, OriginId, Pc, Program, SourceLoc, StepDesc, StepId,
};

use crate::{Ir, IrLoc, Part, Template};

/// Compile validated IR to bytecode.
///
/// # Example
///
/// ```
/// use kaioken_compiler::{compile, lower, Flags, Input};
///
/// let input = Input {
///     flags: Flags { url: Some("http://127.0.0.1:8080/r/${REQUEST_ID}".into()), ..Flags::default() },
///     ..Input::default()
/// };
/// let program = compile(&lower(&input)?);
/// assert_eq!(program.steps.len(), 1);
/// assert_eq!(program.buf_count, 1);
/// Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compile(ir: &Ir) -> Program {
    let mut c = Compiler::default();
    // The foundation lowers exactly one scenario; several (weighted) scenarios add a
    // pick instruction at the entry.
    for scenario in &ir.scenarios {
        for step in &scenario.steps {
            let loc = step.loc.as_ref();
            let mut bufs = 0u16;
            let path = c.operand(&step.path, &mut bufs, loc);
            let headers = step
                .headers
                .iter()
                .map(|(name, value)| HeaderDesc {
                    name: c.intern(name.as_bytes()),
                    value: c.operand(value, &mut bufs, loc),
                })
                .collect();
            let body = step.body.as_ref().map(|b| c.operand(b, &mut bufs, loc));
            let origin = match c.origins.iter().position(|o| *o == step.origin) {
                Some(i) => OriginId::from_index(i),
                None => {
                    c.origins.push(step.origin.clone());
                    OriginId::from_index(c.origins.len() - 1)
                }
            };
            let id = StepId::from_index(c.steps.len());
            c.steps.push(StepDesc {
                name: step.name.clone(),
                method: step.method.clone(),
                origin,
                path,
                headers,
                body,
            });
            c.emit(Op::Send { step: id }, loc);
            c.buf_count = c.buf_count.max(bufs);
        }
    }
    c.emit(Op::IterEnd {}, None);
    Program {
        code: c.code,
        consts: c.consts,
        steps: c.steps,
        origins: c.origins,
        buf_count: c.buf_count,
        entry: Pc(0),
        locs: c.locs,
    }
}

#[derive(Default)]
struct Compiler {
    code: Vec<Op>,
    consts: Vec<Box<[u8]>>,
    interned: BTreeMap<Vec<u8>, ConstId>,
    steps: Vec<StepDesc>,
    origins: Vec<kaioken_vm::Origin>,
    locs: Vec<(Pc, SourceLoc)>,
    buf_count: u16,
}

impl Compiler {
    fn intern(&mut self, bytes: &[u8]) -> ConstId {
        if let Some(&id) = self.interned.get(bytes) {
            return id;
        }
        let id = ConstId::from_index(self.consts.len());
        self.consts.push(bytes.into());
        self.interned.insert(bytes.to_vec(), id);
        id
    }

    fn emit(&mut self, op: Op, loc: Option<&IrLoc>) {
        let pc = Pc::from_index(self.code.len());
        if let Some(loc) = loc {
            self.locs.push((
                pc,
                SourceLoc {
                    line: loc.line,
                    column: loc.column,
                },
            ));
        }
        self.code.push(op);
    }

    fn operand(&mut self, t: &Template, bufs: &mut u16, loc: Option<&IrLoc>) -> Operand {
        if let Some(bytes) = t.as_literal() {
            return Operand::Const(self.intern(bytes));
        }
        let buf = BufId(*bufs);
        *bufs += 1;
        self.emit(Op::BufClear { buf }, loc);
        for part in &t.parts {
            let op = match part {
                Part::Lit(bytes) => Op::PushConst {
                    buf,
                    k: self.intern(bytes),
                },
                Part::Builtin(builtin) => Op::PushBuiltin {
                    buf,
                    builtin: *builtin,
                },
            };
            self.emit(op, None);
        }
        Operand::Buf(buf)
    }
}

#[cfg(test)]
mod tests {
    use kaioken_vm::Builtin;

    use super::*;
    use crate::{Flags, Input, lower};

    fn program(flags: Flags) -> Program {
        compile(
            &lower(&Input {
                flags,
                ..Input::default()
            })
            .unwrap(),
        )
    }

    #[test]
    fn literal_request_is_one_send() {
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/".into()),
            ..Flags::default()
        });
        assert_eq!(p.code, [Op::Send { step: StepId(0) }, Op::IterEnd {}]);
        assert_eq!(p.buf_count, 0);
    }

    #[test]
    fn interpolated_parts_get_buffers() {
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/r/${REQUEST_ID}".into()),
            headers: vec!["x-ts: ${TIMESTAMP_MS}".into()],
            body: Some("vu=${VU}".into()),
            ..Flags::default()
        });
        let k = |s: &[u8]| ConstId::from_index(p.consts.iter().position(|c| &**c == s).unwrap());
        let (b0, b1, b2) = (BufId(0), BufId(1), BufId(2));
        assert_eq!(
            p.code,
            [
                Op::BufClear { buf: b0 },
                Op::PushConst {
                    buf: b0,
                    k: k(b"/r/")
                },
                Op::PushBuiltin {
                    buf: b0,
                    builtin: Builtin::RequestId
                },
                Op::BufClear { buf: b1 },
                Op::PushBuiltin {
                    buf: b1,
                    builtin: Builtin::TimestampMs
                },
                Op::BufClear { buf: b2 },
                Op::PushConst {
                    buf: b2,
                    k: k(b"vu=")
                },
                Op::PushBuiltin {
                    buf: b2,
                    builtin: Builtin::Vu
                },
                Op::Send { step: StepId(0) },
                Op::IterEnd {},
            ]
        );
        assert_eq!(p.buf_count, 3);
        assert_eq!(p.steps[0].method, "POST");
    }

    #[test]
    fn constants_are_interned_once() {
        let p = program(Flags {
            url: Some("http://127.0.0.1:8080/same".into()),
            headers: vec!["x-a: /same".into(), "x-b: /same".into()],
            ..Flags::default()
        });
        assert_eq!(p.consts.iter().filter(|c| &***c == b"/same").count(), 1);
    }
}
