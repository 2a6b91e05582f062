//! kaioken's live view: the dashboard a run shows in a terminal, drawn with ratatui.
//!
//! ```text
//!   runtime::run ── on_tick(&Snapshot), every 250 ms, controller thread
//!        │                                 (the cli sends it to its render thread)
//!        ▼
//!   View { snapshot, RunInfo (names, plan), thresholds now, Controls (keys) }
//!        │
//!        ▼
//!   draw(frame, &view) ──► ratatui Frame ──► the terminal (cli) or a TestBackend (tests)
//! ```
//!
//! This crate only draws: it opens no terminal, reads no keys and spawns no thread.
//! The cli owns the terminal (raw mode, the alternate screen, restoring both on every
//! exit), turns its key events into [`Key`]s for [`Controls::press`], and calls
//! [`draw`] at its frame rate. So every panel is tested here, on fixed snapshots, at
//! the sizes users have.
//!
//! Files by job: `view` (what a frame is drawn from), `controls` (what the keys
//! change), `theme` (colours), `draw` (layout and panels), `format` (numbers).

mod controls;
mod draw;
mod format;
mod theme;
mod view;

pub use controls::{Action, Controls, Key, SCALES};
pub use draw::{MIN_SIZE, draw, second_p99_us};
pub use format::thousands;
pub use theme::{Palette, Theme};
pub use view::{CheckInfo, RunInfo, ScenarioInfo, Stage, ThresholdLine, View};

#[cfg(test)]
mod golden_tests;
