use crate::{BufId, Pc, Program};

/// One VU's mutable state: its buffers, counters and program counter.
///
/// Made once per VU by [`Program::create_vu_state`] and reused for the whole run:
/// buffers are cleared, never dropped, so after the first iteration they have the
/// capacity they need and interpolation allocates nothing.
#[derive(Debug, Clone)]
pub struct VuState {
    pub(crate) pc: Pc,
    pub(crate) bufs: Vec<Vec<u8>>,
    /// Extracted values, by [`SlotId`]; reused like the buffers.
    pub(crate) slots: Vec<Vec<u8>>,
    pub(crate) vu: u32,
    pub(crate) iteration: u64,
    pub(crate) requests: u64,
    /// xorshift64 state for scenario picks: seeded from the VU number, so a run is
    /// reproducible VU by VU.
    pub(crate) rng: u64,
    /// The iteration's row of each data source, by [`crate::DataId`].
    pub(crate) rows: Vec<u64>,
}

impl VuState {
    pub(crate) fn new(program: &Program, vu: u32) -> VuState {
        let mut slots = vec![Vec::with_capacity(64); usize::from(program.slot_count)];
        if let Some(runner) = &program.scripts {
            for (slot, key) in &program.seeds {
                slots[*slot] = runner.setup_value(key).unwrap_or_default();
            }
        }
        VuState {
            pc: program.entry,
            bufs: vec![Vec::with_capacity(64); usize::from(program.buf_count)],
            slots,
            vu,
            iteration: 0,
            requests: 0,
            rows: vec![0; program.data.len()],
            // splitmix64 of the VU number: distinct, never zero.
            rng: {
                let mut z = u64::from(vu).wrapping_add(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) | 1
            },
        }
    }

    /// The contents of buffer `b`.
    #[inline(always)]
    pub fn buf(&self, b: BufId) -> &[u8] {
        &self.bufs[b]
    }

    /// Iterations finished so far, completed or abandoned: the number of the one
    /// under way (`${ITERATION}`).
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The next number of the VU's random sequence (xorshift64: a few cycles, no
    /// allocation; scenario picks, `${RANDOM}` and `${UUID}` draw from it).
    pub(crate) fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// The value in slot `slot`.
    pub fn slot(&self, slot: crate::SlotId) -> &[u8] {
        &self.slots[slot]
    }

    /// The slot to write an extracted value into.
    pub fn slot_mut(&mut self, slot: crate::SlotId) -> &mut Vec<u8> {
        &mut self.slots[slot]
    }

    /// Whether the next `resume` begins a new iteration.
    pub fn is_at_entry(&self, program: &Program) -> bool {
        self.pc == program.entry
    }

    /// Start over at the iteration entry, for instance after the runtime abandoned an
    /// iteration whose request failed. Buffers keep their capacity.
    pub fn restart_iteration(&mut self, program: &Program) {
        self.pc = program.entry;
    }
}
