//! The `Program` validator: the invariants the interpreter and the engines rely on,
//! checked once after compiling (and by the runtime before a run), so that a compiler
//! bug is an internal error with a message, never an index out of bounds or a VU that
//! spins without yielding.

use std::fmt;

use crate::{Op, Operand, Pc, Program};

/// A broken invariant of a [`Program`]: a compiler bug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidProgram {
    /// The instruction at fault, if one is.
    pub pc: Option<Pc>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InvalidProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pc {
            Some(pc) => write!(f, "invalid program at {pc}: {}", self.message),
            None => write!(f, "invalid program: {}", self.message),
        }
    }
}

impl std::error::Error for InvalidProgram {}

impl Program {
    /// Check the program's invariants:
    ///
    /// - every id an instruction or step names is in its table's range;
    /// - control only moves forward within an iteration (jumps and pick targets point
    ///   past the instruction), and the code ends with `iter.end` or `iter.abort`, so
    ///   every `resume` reaches a yield and every path reaches the end of the
    ///   iteration;
    /// - judging instructions (`check`, `extract`, `jump.failed`) follow a `send` with
    ///   no yield between, so they always read that send's outcome.
    ///
    /// # Errors
    ///
    /// The first broken invariant.
    pub fn validate(&self) -> Result<(), InvalidProgram> {
        let fail = |pc: Option<usize>, message: String| InvalidProgram {
            pc: pc.map(Pc::from_index),
            message,
        };
        let len = self.code.len();
        match self.code.last() {
            Some(Op::IterEnd {} | Op::IterAbort {}) => {}
            _ => {
                return Err(fail(
                    len.checked_sub(1),
                    "the code does not end the iteration".into(),
                ));
            }
        }
        if self.entry.index() >= len {
            return Err(fail(None, format!("entry {} is past the code", self.entry)));
        }
        let in_range = |what: &str, id: usize, table: usize, pc: usize| {
            if id < table {
                Ok(())
            } else {
                Err(fail(
                    Some(pc),
                    format!("{what} {id} is out of range (the table has {table})"),
                ))
            }
        };
        let forward = |to: Pc, pc: usize| {
            if to.index() > pc && to.index() < len {
                Ok(())
            } else {
                Err(fail(
                    Some(pc),
                    format!("target {to} is not a later instruction"),
                ))
            }
        };
        let script_in_range = |f: crate::ScriptId, pc: usize| match &self.scripts {
            Some(runner) => in_range("script", f.index(), runner.functions(), pc),
            None => Err(fail(
                Some(pc),
                "a script instruction in a program without scripts".into(),
            )),
        };
        let bufs = usize::from(self.buf_count);
        let slots = usize::from(self.slot_count);
        let mut judging = false;
        for (pc, op) in self.code.iter().enumerate() {
            match *op {
                Op::BufClear { buf } => in_range("buffer", buf.index(), bufs, pc)?,
                Op::PushConst { buf, k } => {
                    in_range("buffer", buf.index(), bufs, pc)?;
                    in_range("constant", k.index(), self.consts.len(), pc)?;
                }
                Op::PushBuiltin { buf, .. } => in_range("buffer", buf.index(), bufs, pc)?,
                Op::PushSlot { buf, slot }
                | Op::PushSlotEncoded { buf, slot }
                | Op::PushSlotUrl { buf, slot } => {
                    in_range("buffer", buf.index(), bufs, pc)?;
                    in_range("slot", slot.index(), slots, pc)?;
                }
                Op::DataRow { data } => in_range("data source", data.index(), self.data.len(), pc)?,
                Op::PushData { buf, col }
                | Op::PushDataUrl { buf, col }
                | Op::PushDataEncoded { buf, col } => {
                    in_range("buffer", buf.index(), bufs, pc)?;
                    in_range("data column", col.index(), self.data_columns.len(), pc)?;
                    let c = self.data_columns[col];
                    in_range("data source", c.data.index(), self.data.len(), pc)?;
                    let table = &self.data[c.data];
                    in_range("column", c.column as usize, table.columns.len(), pc)?;
                    if table.rows() == 0 {
                        return Err(fail(
                            Some(pc),
                            format!("data source {} has no rows", c.data),
                        ));
                    }
                }
                Op::PushRandom { buf, range } => {
                    in_range("buffer", buf.index(), bufs, pc)?;
                    in_range("range", range.index(), self.ranges.len(), pc)?;
                }
                Op::Send { step } => {
                    in_range("step", step.index(), self.steps.len(), pc)?;
                    judging = true;
                    continue;
                }
                Op::Check { check } => {
                    in_range("check", check.index(), self.checks.len(), pc)?;
                    if let crate::CheckExpr::Script(f) = self.checks[check].expr {
                        script_in_range(f, pc)?;
                    }
                }
                Op::Extract { x } => {
                    in_range("extractor", x.index(), self.extractors.len(), pc)?;
                    let slot = self.extractors[x].slot;
                    in_range("slot", slot.index(), slots, pc)?;
                    if let crate::ExtractKind::Script(f) = self.extractors[x].kind {
                        script_in_range(f, pc)?;
                    }
                }
                Op::PushScript { buf, call } => {
                    in_range("buffer", buf.index(), bufs, pc)?;
                    in_range("script call", call.index(), self.script_calls.len(), pc)?;
                    let c = self.script_calls[call];
                    in_range("step", c.step.index(), self.steps.len(), pc)?;
                    script_in_range(c.script, pc)?;
                }
                Op::JumpIfFailed { to } => forward(to, pc)?,
                Op::Pick { table } => {
                    in_range("pick table", table.index(), self.picks.len(), pc)?;
                    for &(_, to) in &self.picks[table].entries {
                        forward(to, pc)?;
                    }
                }
                Op::Sleep { .. } | Op::Pace { .. } | Op::IterEnd {} | Op::IterAbort {} => {}
            }
            let judges = matches!(
                op,
                Op::Check { .. } | Op::Extract { .. } | Op::JumpIfFailed { .. }
            );
            if judges && !judging {
                return Err(fail(
                    Some(pc),
                    format!("`{}` does not follow a send", op.mnemonic()),
                ));
            }
            judging &= judges;
        }
        for (i, step) in self.steps.iter().enumerate() {
            let step_fail = |message: String| fail(None, format!("step s{i}: {message}"));
            if step.origin.index() >= self.origins.len() {
                return Err(step_fail(format!("origin {} is out of range", step.origin)));
            }
            let operands = std::iter::once(step.path)
                .chain(
                    step.headers
                        .iter()
                        .flat_map(|h| [Operand::Const(h.name), h.value]),
                )
                .chain(step.body);
            for operand in operands {
                let ok = match operand {
                    Operand::Const(k) => k.index() < self.consts.len(),
                    Operand::Buf(b) => b.index() < bufs,
                };
                if !ok {
                    return Err(step_fail(format!("operand {operand:?} is out of range")));
                }
            }
            let speaks = match step.kind {
                crate::StepKind::Http => {
                    matches!(
                        step.protocol,
                        crate::Protocol::Http1 | crate::Protocol::Http2 | crate::Protocol::Http3
                    )
                }
                crate::StepKind::WebSocket(_) => step.protocol == crate::Protocol::WebSocket,
                crate::StepKind::Grpc(call) => {
                    if call.method as usize >= self.grpc_methods.len() {
                        return Err(step_fail(format!(
                            "gRPC method {} is out of range",
                            call.method
                        )));
                    }
                    step.protocol == crate::Protocol::Grpc
                }
            };
            if !speaks {
                return Err(step_fail(format!(
                    "a {:?} step cannot be sent with {}",
                    step.kind,
                    step.protocol.name()
                )));
            }
            if step.protocol == crate::Protocol::Http3
                && self.origins[step.origin].scheme != crate::Scheme::Https
            {
                return Err(step_fail(
                    "an h3 step needs an https origin (QUIC is always TLS)".into(),
                ));
            }
            if usize::from(step.scenario) >= self.scenarios.len().max(1) {
                return Err(step_fail(format!(
                    "scenario {} is out of range",
                    step.scenario
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckId, ConstId, Origin, Reads, Scheme, StepDesc, StepId};

    fn program(code: Vec<Op>) -> Program {
        Program {
            code,
            steps: vec![StepDesc {
                name: "s".into(),
                method: crate::Method::Get,
                origin: crate::OriginId(0),
                protocol: crate::Protocol::Http1,
                path: Operand::Const(ConstId(0)),
                path_from_value: false,
                headers: Vec::new(),
                body: None,
                reads: Reads::default(),
                scenario: 0,
                expected: crate::ExpectedStatus::default(),
                kind: crate::StepKind::Http,
            }],
            consts: vec![b"/".to_vec().into()],
            origins: vec![Origin {
                scheme: Scheme::Http,
                host: "127.0.0.1".into(),
                port: 80,
                authority: "127.0.0.1".into(),
            }],
            ..Program::default()
        }
    }

    #[test]
    fn accepts_a_judged_send() {
        let p = program(vec![
            Op::Send { step: StepId(0) },
            Op::JumpIfFailed { to: Pc(3) },
            Op::IterEnd {},
            Op::IterAbort {},
        ]);
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn rejects_what_would_break_the_interpreter() {
        let cases: Vec<(Vec<Op>, &str)> = vec![
            (
                vec![Op::Send { step: StepId(0) }],
                "does not end the iteration",
            ),
            (
                vec![Op::Send { step: StepId(1) }, Op::IterEnd {}],
                "step 1 is out of range",
            ),
            (
                vec![
                    Op::Send { step: StepId(0) },
                    Op::JumpIfFailed { to: Pc(0) },
                    Op::IterEnd {},
                ],
                "not a later instruction",
            ),
            (
                vec![Op::Check { check: CheckId(0) }, Op::IterEnd {}],
                "check 0 is out of range",
            ),
            (
                vec![
                    Op::Send { step: StepId(0) },
                    Op::Sleep { micros: 1 },
                    Op::JumpIfFailed { to: Pc(3) },
                    Op::IterEnd {},
                ],
                "does not follow a send",
            ),
        ];
        for (code, want) in cases {
            let err = program(code.clone()).validate().unwrap_err();
            assert!(err.to_string().contains(want), "{code:?}: {err}");
        }
    }
}
