use crate::{
    BufId, Builtin, CheckExpr, ExtractKind, Host, Op, Program, RequestSoFar, ResponseView,
    ScriptCallId, ScriptContext, StepId, VuState,
};

/// What the VM hands back to the runtime: an effect to perform, or the end of an
/// iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Yield {
    /// Perform this step's exchange; its buffers are filled. Resume with its outcome
    /// ([`Program::resume_with`]) when it is done.
    Send(StepId),
    /// Pause this long before resuming (think time). No request is in flight.
    Sleep(std::time::Duration),
    /// Wait until this long after the VU's last exchange began, then resume
    /// (start-to-start pacing; no wait when that time has passed). No request is in
    /// flight.
    Pace(std::time::Duration),
    /// One iteration finished; the next `resume` starts the next one.
    IterationDone,
    /// The iteration was abandoned (an exchange it depended on failed); the next
    /// `resume` starts the next one.
    IterationAborted,
    /// A `sequential` data source that does not wrap has no row left: the run
    /// stops (requests in flight finish). The VU is left at its iteration's entry,
    /// nothing of the iteration sent.
    DataExhausted,
}

/// The outcome of no exchange, for resumes that carry none.
struct NoExchange;

impl ResponseView for NoExchange {
    fn completed(&self) -> bool {
        false
    }
    fn status(&self) -> u16 {
        0
    }
    fn duration(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    fn body(&self) -> &[u8] {
        &[]
    }
    fn header(&self, _: &[u8]) -> Option<&[u8]> {
        None
    }
}

impl Program {
    /// Run VU `state` until it has an effect for the runtime to perform: at the start
    /// of an iteration, or after a `Sleep`.
    ///
    /// # Example
    ///
    /// A hand-assembled program that sends step 0 with an interpolated path:
    ///
    /// ```
    /// use kaioken_vm::*;
    ///
    /// let program = Program {
    ///     code: vec![
    ///         Op::BufClear { buf: BufId(0) },
    ///         Op::PushConst { buf: BufId(0), k: ConstId(0) },
    ///         Op::PushBuiltin { buf: BufId(0), builtin: Builtin::Vu },
    ///         Op::Send { step: StepId(0) },
    ///         Op::IterEnd {},
    ///     ],
    ///     consts: vec![b"/vu/".to_vec().into()],
    ///     buf_count: 1,
    ///     ..Program::default()
    /// };
    /// let mut vu = program.create_vu_state(7);
    /// assert_eq!(program.resume(&mut vu, &mut SystemHost), Yield::Send(StepId(0)));
    /// assert_eq!(vu.buf(BufId(0)), b"/vu/7");
    /// assert_eq!(program.resume(&mut vu, &mut SystemHost), Yield::IterationDone);
    /// Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn resume(&self, state: &mut VuState, host: &mut impl Host) -> Yield {
        self.run(state, host, &NoExchange)
    }

    /// Resume VU `state` after the exchange it yielded with `Send`, with `last`, its
    /// outcome: the step's checks and extractors judge it, and the compiled failure
    /// policy decides whether the iteration goes on.
    #[inline]
    pub fn resume_with(
        &self,
        state: &mut VuState,
        host: &mut impl Host,
        last: &impl ResponseView,
    ) -> Yield {
        self.run(state, host, last)
    }

    /// The interpreter loop: one `match` per instruction, no `.await`, no allocation
    /// once the VU's buffers have grown to their working size. Judging instructions
    /// read `last`.
    fn run(&self, state: &mut VuState, host: &mut impl Host, last: &impl ResponseView) -> Yield {
        loop {
            let op = self.code[state.pc.index()];
            state.pc.0 += 1;
            match op {
                Op::BufClear { buf } => state.bufs[buf].clear(),
                Op::PushConst { buf, k } => state.bufs[buf].extend_from_slice(&self.consts[k]),
                Op::PushBuiltin { buf, builtin } => push_builtin(state, buf, builtin, host),
                Op::PushSlot { buf, slot } => {
                    let (bufs, slots) = (&mut state.bufs, &state.slots);
                    bufs[buf].extend_from_slice(&slots[slot]);
                }
                Op::PushSlotEncoded { buf, slot } => {
                    let (bufs, slots) = (&mut state.bufs, &state.slots);
                    crate::push_url_encoded(&mut bufs[buf], &slots[slot]);
                }
                Op::PushSlotUrl { buf, slot } => {
                    let (bufs, slots) = (&mut state.bufs, &state.slots);
                    crate::push_target_encoded(&mut bufs[buf], &slots[slot]);
                }
                Op::DataRow { data } => {
                    let table = &self.data[data];
                    let row = match table.strategy {
                        crate::DataStrategy::Sequential { wrap } => table.next_sequential(wrap),
                        crate::DataStrategy::Random => {
                            Some(state.next_random() % table.rows().max(1))
                        }
                        crate::DataStrategy::Unique => {
                            Some(u64::from(state.vu.saturating_sub(1)) % table.rows().max(1))
                        }
                    };
                    match row {
                        Some(row) => state.rows[data] = row,
                        None => {
                            state.pc = self.entry;
                            return Yield::DataExhausted;
                        }
                    }
                }
                Op::PushData { buf, col } => {
                    let c = self.data_columns[col];
                    let cell = self.data[c.data].cell(state.rows[c.data], c.column);
                    state.bufs[buf].extend_from_slice(cell);
                }
                Op::PushDataUrl { buf, col } => {
                    let c = self.data_columns[col];
                    let cell = self.data[c.data].cell(state.rows[c.data], c.column);
                    crate::push_target_encoded(&mut state.bufs[buf], cell);
                }
                Op::PushDataEncoded { buf, col } => {
                    let c = self.data_columns[col];
                    let cell = self.data[c.data].cell(state.rows[c.data], c.column);
                    crate::push_url_encoded(&mut state.bufs[buf], cell);
                }
                Op::Send { step } => {
                    state.requests += 1;
                    return Yield::Send(step);
                }
                Op::PushRandom { buf, range } => {
                    let (lo, hi) = self.ranges[range];
                    // The span as u128 so `i64::MIN..=i64::MAX` does not overflow.
                    let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
                    let draw = (u128::from(state.next_random()) % span) as i128 + i128::from(lo);
                    let mut int = itoa::Buffer::new();
                    state.bufs[buf].extend_from_slice(int.format(draw as i64).as_bytes());
                }
                Op::Sleep { micros } => {
                    return Yield::Sleep(std::time::Duration::from_micros(u64::from(micros)));
                }
                Op::Pace { micros } => {
                    return Yield::Pace(std::time::Duration::from_micros(u64::from(micros)));
                }
                Op::Pick { table } => {
                    let table = &self.picks[table];
                    let draw = state.next_random();
                    state.pc = table.target(draw % table.total().max(1));
                }
                Op::Check { check } => {
                    let passed = last.completed()
                        && match self.checks[check].expr {
                            CheckExpr::Script(f) => self.runner().check(f, self.ctx(state), last),
                            ref expr => expr.eval(last),
                        };
                    host.checked(check, passed);
                }
                Op::Extract { x } => {
                    let extractor = &self.extractors[x];
                    let found = match extractor.kind {
                        _ if !last.completed() => {
                            state.slot_mut(extractor.slot).clear();
                            false
                        }
                        ExtractKind::Script(f) => {
                            // The slot is taken out while the script reads the
                            // VU's other variables, and put back (capacity kept).
                            let mut slot = std::mem::take(state.slot_mut(extractor.slot));
                            let found = self.runner().extract(f, self.ctx(state), last, &mut slot);
                            *state.slot_mut(extractor.slot) = slot;
                            found
                        }
                        _ => extractor.extract(last, state.slot_mut(extractor.slot)),
                    };
                    host.extracted(x, found);
                }
                Op::PushScript { buf, call } => self.push_script(state, buf, call),
                Op::JumpIfFailed { to } => {
                    if !last.completed() {
                        state.pc = to;
                    }
                }
                Op::IterEnd {} => {
                    state.pc = self.entry;
                    state.iteration += 1;
                    return Yield::IterationDone;
                }
                Op::IterAbort {} => {
                    state.pc = self.entry;
                    // An abandoned iteration had its number: the next one has the
                    // next, so `${ITERATION}` never repeats.
                    state.iteration += 1;
                    return Yield::IterationAborted;
                }
            }
        }
    }
}

impl Program {
    /// The script runner, which every script instruction's program has
    /// ([`Program::validate`] checks it).
    #[inline]
    fn runner(&self) -> &dyn crate::ScriptRunner {
        match &self.scripts {
            Some(runner) => &**runner,
            None => unreachable!("validate() refuses script instructions without a runner"),
        }
    }

    #[inline]
    fn ctx<'a>(&'a self, state: &'a VuState) -> ScriptContext<'a> {
        ScriptContext {
            program: self,
            state,
        }
    }

    /// `buf.script`: the buffer is taken out while the script reads the request
    /// built so far and the VU's variables, then put back with the value appended.
    fn push_script(&self, state: &mut VuState, buf: BufId, call: ScriptCallId) {
        let call = self.script_calls[call];
        let step = &self.steps[call.step];
        let mut out = std::mem::take(&mut state.bufs[buf]);
        let request = RequestSoFar {
            method: step.method.as_str(),
            path: call.sees_path.then(|| self.bytes(state, step.path)),
            body: if call.sees_body {
                step.body.map(|b| self.bytes(state, b))
            } else {
                None
            },
        };
        let len = out.len();
        self.runner()
            .value(call.script, self.ctx(state), request, &mut out);
        if call.url && !out[len..].iter().all(|&b| crate::target_allows(b)) {
            let value = out.split_off(len);
            crate::push_target_encoded(&mut out, &value);
        }
        state.bufs[buf] = out;
    }
}

#[inline]
fn push_builtin(state: &mut VuState, buf: crate::BufId, builtin: Builtin, host: &mut impl Host) {
    let mut int = itoa::Buffer::new();
    let out = &mut state.bufs[buf];
    match builtin {
        Builtin::RequestId => {
            out.extend_from_slice(int.format(state.vu).as_bytes());
            out.push(b'-');
            out.extend_from_slice(int.format(state.requests).as_bytes());
        }
        Builtin::TimestampMs => out.extend_from_slice(int.format(host.unix_ms()).as_bytes()),
        Builtin::Vu => out.extend_from_slice(int.format(state.vu).as_bytes()),
        Builtin::Iteration => out.extend_from_slice(int.format(state.iteration).as_bytes()),
        Builtin::Uuid => {
            let (a, b) = (state.next_random(), state.next_random());
            write_uuid(&mut state.bufs[buf], a, b);
        }
    }
}

/// Write a version-4 UUID made of `hi` and `lo`: 8-4-4-4-12 lowercase hex digits, with
/// the version and variant bits set.
fn write_uuid(out: &mut Vec<u8>, hi: u64, lo: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
    let bytes = (u128::from(hi) << 64) | u128::from(lo);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push(b'-');
        }
        out.push(HEX[((bytes >> (124 - 4 * i)) & 0xF) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BufId, ConstId};

    struct FixedClock(u64);
    impl Host for FixedClock {
        fn unix_ms(&mut self) -> u64 {
            self.0
        }
        fn checked(&mut self, _: crate::CheckId, _: bool) {}
        fn extracted(&mut self, _: crate::ExtractorId, _: bool) {}
    }

    fn program() -> Program {
        Program {
            code: vec![
                Op::BufClear { buf: BufId(0) },
                Op::PushConst {
                    buf: BufId(0),
                    k: ConstId(0),
                },
                Op::PushBuiltin {
                    buf: BufId(0),
                    builtin: Builtin::RequestId,
                },
                Op::PushConst {
                    buf: BufId(0),
                    k: ConstId(1),
                },
                Op::PushBuiltin {
                    buf: BufId(0),
                    builtin: Builtin::TimestampMs,
                },
                Op::Send { step: StepId(0) },
                Op::BufClear { buf: BufId(0) },
                Op::PushBuiltin {
                    buf: BufId(0),
                    builtin: Builtin::Iteration,
                },
                Op::Send { step: StepId(1) },
                Op::IterEnd {},
            ],
            consts: vec![b"/r/".to_vec().into(), b"?t=".to_vec().into()],
            buf_count: 1,
            ..Program::default()
        }
    }

    #[test]
    fn interpolates_builtins_and_loops() {
        let p = program();
        let mut vu = p.create_vu_state(3);
        let mut clock = FixedClock(1_700_000_000_123);
        assert_eq!(p.resume(&mut vu, &mut clock), Yield::Send(StepId(0)));
        assert_eq!(vu.buf(BufId(0)), b"/r/3-0?t=1700000000123");
        assert_eq!(p.resume(&mut vu, &mut clock), Yield::Send(StepId(1)));
        assert_eq!(vu.buf(BufId(0)), b"0");
        assert_eq!(p.resume(&mut vu, &mut clock), Yield::IterationDone);
        assert_eq!(vu.iteration(), 1);
        // Second iteration: REQUEST_ID moved on by the two requests of the first.
        assert_eq!(p.resume(&mut vu, &mut clock), Yield::Send(StepId(0)));
        assert_eq!(vu.buf(BufId(0)), b"/r/3-2?t=1700000000123");
        assert_eq!(p.resume(&mut vu, &mut clock), Yield::Send(StepId(1)));
        assert_eq!(vu.buf(BufId(0)), b"1");
    }

    /// `pace` yields its interval and resumes at the next instruction: the `send`
    /// it paces.
    #[test]
    fn pace_yields_its_interval_then_the_send() {
        let p = Program {
            code: vec![
                Op::Pace { micros: 50_000 },
                Op::Send { step: StepId(0) },
                Op::IterEnd {},
            ],
            ..Program::default()
        };
        let mut vu = p.create_vu_state(1);
        let clock = &mut FixedClock(0);
        for _ in 0..2 {
            assert_eq!(
                p.resume(&mut vu, clock),
                Yield::Pace(std::time::Duration::from_millis(50))
            );
            assert_eq!(p.resume(&mut vu, clock), Yield::Send(StepId(0)));
            assert_eq!(p.resume(&mut vu, clock), Yield::IterationDone);
        }
    }

    #[test]
    fn pick_follows_the_weights() {
        // Scenario A (weight 3) sends s0, scenario B (weight 1) sends s1.
        let p = Program {
            code: vec![
                Op::Pick {
                    table: crate::PickId(0),
                },
                Op::Send { step: StepId(0) },
                Op::IterEnd {},
                Op::Send { step: StepId(1) },
                Op::IterEnd {},
            ],
            picks: vec![crate::PickTable {
                entries: vec![(3, crate::Pc(1)), (4, crate::Pc(3))],
            }],
            ..Program::default()
        };
        let mut counts = [0u32; 2];
        for vu in 1..=4 {
            let mut state = p.create_vu_state(vu);
            for _ in 0..10_000 {
                let Yield::Send(step) = p.resume(&mut state, &mut FixedClock(0)) else {
                    panic!("expected a send")
                };
                counts[step.index()] += 1;
                assert_eq!(
                    p.resume(&mut state, &mut FixedClock(0)),
                    Yield::IterationDone
                );
            }
        }
        let share = f64::from(counts[0]) / 40_000.0;
        assert!(
            (share - 0.75).abs() < 0.01,
            "scenario A got {share} of the iterations"
        );
        // Reproducible: the same VU number draws the same sequence.
        let draw = |vu| {
            let mut state = p.create_vu_state(vu);
            (0..20)
                .map(|_| p.resume(&mut state, &mut FixedClock(0)))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn restart_goes_back_to_entry() {
        let p = program();
        let mut vu = p.create_vu_state(1);
        let mut clock = FixedClock(0);
        assert_eq!(p.resume(&mut vu, &mut clock), Yield::Send(StepId(0)));
        vu.restart_iteration(&p);
        assert_eq!(p.resume(&mut vu, &mut clock), Yield::Send(StepId(0)));
    }

    /// Judges what it is given: a status and a body, or no response at all.
    struct Given(Option<(u16, &'static [u8])>);

    impl ResponseView for Given {
        fn completed(&self) -> bool {
            self.0.is_some()
        }
        fn status(&self) -> u16 {
            self.0.map_or(0, |r| r.0)
        }
        fn duration(&self) -> std::time::Duration {
            std::time::Duration::from_millis(1)
        }
        fn body(&self) -> &[u8] {
            self.0.map_or(&[], |r| r.1)
        }
        fn header(&self, _: &[u8]) -> Option<&[u8]> {
            None
        }
    }

    /// Records every judgement.
    #[derive(Default)]
    struct Recorder {
        checks: Vec<(crate::CheckId, bool)>,
        extractions: Vec<(crate::ExtractorId, bool)>,
    }

    impl Host for Recorder {
        fn unix_ms(&mut self) -> u64 {
            0
        }
        fn checked(&mut self, check: crate::CheckId, passed: bool) {
            self.checks.push((check, passed));
        }
        fn extracted(&mut self, x: crate::ExtractorId, found: bool) {
            self.extractions.push((x, found));
        }
    }

    /// `send s0; check c0; extract x0; jump.failed @6; send s1; ...`: the judging
    /// instructions read the outcome `resume_with` carries, and the failure policy
    /// abandons the iteration without counting it.
    #[test]
    fn judges_the_outcome_it_resumes_with() {
        use crate::{CheckExpr, CheckId, CompiledCheck, CompiledExtractor, ExtractKind};
        use crate::{ExtractorId, Pc, SlotId};
        let p = Program {
            code: vec![
                Op::Send { step: StepId(0) },
                Op::Check { check: CheckId(0) },
                Op::Extract { x: ExtractorId(0) },
                Op::JumpIfFailed { to: Pc(6) },
                Op::Send { step: StepId(1) },
                Op::IterEnd {},
                Op::IterAbort {},
            ],
            checks: vec![CompiledCheck {
                name: "ok".into(),
                text: "status == 200".into(),
                expr: CheckExpr::Status(crate::CmpOp::Eq, 200),
            }],
            extractors: vec![CompiledExtractor {
                var: "all".into(),
                slot: SlotId(0),
                spec: "body".into(),
                kind: ExtractKind::Body,
            }],
            slot_count: 1,
            ..Program::default()
        };
        let mut vu = p.create_vu_state(1);
        let mut host = Recorder::default();
        assert_eq!(p.resume(&mut vu, &mut host), Yield::Send(StepId(0)));
        let ok = Given(Some((200, b"token")));
        assert_eq!(
            p.resume_with(&mut vu, &mut host, &ok),
            Yield::Send(StepId(1))
        );
        assert_eq!(vu.slot(SlotId(0)), b"token");
        assert_eq!(p.resume_with(&mut vu, &mut host, &ok), Yield::IterationDone);
        assert_eq!(vu.iteration(), 1);
        // A 500 fails the check but is a response: the iteration goes on.
        assert_eq!(p.resume(&mut vu, &mut host), Yield::Send(StepId(0)));
        let bad = Given(Some((500, b"")));
        assert_eq!(
            p.resume_with(&mut vu, &mut host, &bad),
            Yield::Send(StepId(1))
        );
        assert_eq!(
            p.resume_with(&mut vu, &mut host, &bad),
            Yield::IterationDone
        );
        // No response: the check fails, the slot empties, the iteration is abandoned.
        assert_eq!(p.resume(&mut vu, &mut host), Yield::Send(StepId(0)));
        assert_eq!(
            p.resume_with(&mut vu, &mut host, &Given(None)),
            Yield::IterationAborted
        );
        assert_eq!(vu.slot(SlotId(0)), b"");
        assert_eq!(vu.iteration(), 3, "an abandoned iteration has its number");
        assert!(vu.is_at_entry(&p));
        let (c, x) = (CheckId(0), ExtractorId(0));
        assert_eq!(host.checks, [(c, true), (c, false), (c, false)]);
        assert_eq!(host.extractions, [(x, true), (x, true), (x, false)]);
    }
}
