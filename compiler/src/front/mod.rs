//! Front ends: each reads one kind of input into a located [`crate::draft::Draft`].

pub mod flags;
pub(crate) mod toml;
