//! Data sources (`[[data]]`, `--data name=path`): rows of test data that templates
//! read as `${users.name}`.
//!
//! ```text
//!   compiler: users.csv / users.json ──load──► DataTable (one per source, in an Arc)
//!                                                └► Program::data, shared by every VU
//!   interpreter: data.row d0        picks the iteration's row of d0 into the VU's state
//!                buf.data b0 dc1    appends column dc1 of that row to b0 (no allocation)
//! ```
//!
//! # Layout: a compact column store, not a memory map
//!
//! A table keeps every cell's bytes in one arena (`bytes`, quotes and separators
//! removed, so it is never larger than the file), the start of each row in the arena
//! (`u64`) and the end of each cell relative to its row's start (`u32`). A source
//! of `R` rows and `C` columns costs its unquoted bytes plus `8R + 4C·R` bytes, read
//! once at start and never copied (the arena is reserved at the file's size, so it
//! does not grow by doubling). The rejected alternative, `memmap2` plus an offsets
//! index, keeps the file mapped rather than copied, but a quoted CSV cell (`"a ""b"""`)
//! is not its own bytes in the file: it would need a second, unescaped copy or
//! unescaping per request, and a JSON source would need its strings decoded anyway.
//! BENCHMARKS.md has the measured peak RSS of a generated large file.
//!
//! The shared cursor of a `sequential` source is an `AtomicU64` in the table: a VU
//! takes the next row with one `fetch_add`, whatever its worker thread.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Which row an iteration reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStrategy {
    /// Each iteration takes the next row, shared across VUs (the default): every row
    /// is used once before any is used twice. At the end, `wrap` starts again from
    /// the first row; otherwise the run stops (every request in flight finishes and
    /// the report is written, with `stop_reason` `data_exhausted`).
    Sequential {
        /// Start again from the first row once every row was used.
        wrap: bool,
    },
    /// Each iteration draws a row at random (uniformly, from the VU's own sequence).
    Random,
    /// VU `n` reads row `n - 1` in every iteration: one row per VU, never shared
    /// (a login per user). Lowering refuses a load with more VUs than rows.
    Unique,
}

impl DataStrategy {
    /// The name a scenario file uses.
    pub fn name(self) -> &'static str {
        match self {
            DataStrategy::Sequential { .. } => "sequential",
            DataStrategy::Random => "random",
            DataStrategy::Unique => "unique",
        }
    }
}

/// One data source, loaded: its columns and rows. Immutable but for the cursor of a
/// `sequential` source, and shared by every VU behind an `Arc`.
pub struct DataTable {
    /// The source's name (`users` in `${users.name}`).
    pub name: String,
    /// Where it was read from, for dumps.
    pub path: String,
    /// The column names, in file order.
    pub columns: Vec<String>,
    /// Which row an iteration reads.
    pub strategy: DataStrategy,
    bytes: Vec<u8>,
    /// Where each row starts in `bytes`; one entry more than there are rows.
    row_starts: Vec<u64>,
    /// Where each cell ends, relative to its row's start, row by row.
    cell_ends: Vec<u32>,
    /// The next row a `sequential` source hands out (past the end once exhausted).
    cursor: AtomicU64,
}

impl DataTable {
    /// An empty table with these columns; rows are added with [`DataTable::push_row`].
    /// `capacity` is a bound on the cells' total bytes (the file's size), reserved
    /// once so that loading never copies the arena.
    pub fn new(
        name: impl Into<String>,
        path: impl Into<String>,
        columns: Vec<String>,
        strategy: DataStrategy,
        capacity: usize,
    ) -> DataTable {
        DataTable {
            name: name.into(),
            path: path.into(),
            columns,
            strategy,
            bytes: Vec::with_capacity(capacity),
            row_starts: vec![0],
            cell_ends: Vec::new(),
            cursor: AtomicU64::new(0),
        }
    }

    /// Append a row of exactly one cell per column.
    ///
    /// # Errors
    ///
    /// A row of another width (the message says both counts), or one longer than
    /// 4 GiB.
    pub fn push_row<'a>(
        &mut self,
        cells: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), String> {
        let start = self.bytes.len();
        let mut n = 0;
        for cell in cells {
            self.bytes.extend_from_slice(cell);
            let end = u32::try_from(self.bytes.len() - start)
                .map_err(|_| "a row is longer than 4 GiB".to_owned())?;
            self.cell_ends.push(end);
            n += 1;
        }
        if n != self.columns.len() {
            self.bytes.truncate(start);
            self.cell_ends.truncate(self.cell_ends.len() - n);
            return Err(format!(
                "the row has {n} field{}, the header has {}",
                if n == 1 { "" } else { "s" },
                self.columns.len()
            ));
        }
        self.row_starts.push(self.bytes.len() as u64);
        Ok(())
    }

    /// How many rows there are.
    #[inline]
    pub fn rows(&self) -> u64 {
        (self.row_starts.len() - 1) as u64
    }

    /// The bytes of column `column` in row `row`.
    ///
    /// # Panics
    ///
    /// When either is out of range; the interpreter only asks for rows it picked
    /// below [`DataTable::rows`] and columns [`crate::Program::validate`] checked.
    #[inline]
    pub fn cell(&self, row: u64, column: u32) -> &[u8] {
        let start = self.row_starts[row as usize] as usize;
        let at = row as usize * self.columns.len() + column as usize;
        let end = self.cell_ends[at] as usize;
        let begin = if column == 0 {
            0
        } else {
            self.cell_ends[at - 1] as usize
        };
        &self.bytes[start + begin..start + end]
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<u32> {
        self.columns
            .iter()
            .position(|c| c == name)
            .map(|i| i as u32)
    }

    /// The next row of a `sequential` source, shared across VUs; `None` once every
    /// row was handed out and the source does not wrap (or it has no rows).
    #[inline]
    pub fn next_sequential(&self, wrap: bool) -> Option<u64> {
        let rows = self.rows();
        if rows == 0 {
            return None;
        }
        let n = self.cursor.fetch_add(1, Ordering::Relaxed);
        if wrap {
            Some(n % rows)
        } else if n < rows {
            Some(n)
        } else {
            // Keep the cursor from creeping towards wrapping round u64 when many VUs
            // keep asking after the end.
            self.cursor.store(rows, Ordering::Relaxed);
            None
        }
    }

    /// How many rows a `sequential` source handed out so far (at most every row).
    pub fn consumed(&self) -> u64 {
        self.cursor.load(Ordering::Relaxed).min(self.rows())
    }

    /// The bytes the cells and their index take in memory.
    pub fn memory(&self) -> usize {
        self.bytes.capacity() + self.row_starts.capacity() * 8 + self.cell_ends.capacity() * 4
    }

    /// Give back what the arena reserved beyond the cells (the file's quotes and
    /// separators). A no-op copy-free shrink for most allocators' large blocks.
    pub fn shrink(&mut self) {
        self.bytes.shrink_to_fit();
        self.row_starts.shrink_to_fit();
        self.cell_ends.shrink_to_fit();
    }
}

/// A table prints as its shape, never its rows (a source may hold a million).
impl fmt::Debug for DataTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataTable")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("columns", &self.columns)
            .field("rows", &self.rows())
            .field("strategy", &self.strategy)
            .finish()
    }
}

/// Two tables are equal when they hold the same rows under the same names (the
/// cursor is run state, not part of the table).
impl PartialEq for DataTable {
    fn eq(&self, other: &DataTable) -> bool {
        self.name == other.name
            && self.columns == other.columns
            && self.strategy == other.strategy
            && self.bytes == other.bytes
            && self.row_starts == other.row_starts
            && self.cell_ends == other.cell_ends
    }
}

/// Where a `buf.data` instruction reads: a source and one of its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataColumn {
    /// The source.
    pub data: crate::DataId,
    /// The column's index in the source.
    pub column: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(strategy: DataStrategy) -> DataTable {
        let mut t = DataTable::new(
            "users",
            "u.csv",
            vec!["name".into(), "pw".into()],
            strategy,
            64,
        );
        t.push_row([&b"ann"[..], b"1"]).unwrap();
        t.push_row([&b""[..], b"two words"]).unwrap();
        t.push_row([&b"cy"[..], b""]).unwrap();
        t
    }

    #[test]
    fn cells_come_back_as_pushed() {
        let t = table(DataStrategy::Random);
        assert_eq!(t.rows(), 3);
        assert_eq!(t.cell(0, 0), b"ann");
        assert_eq!(t.cell(0, 1), b"1");
        assert_eq!(t.cell(1, 0), b"");
        assert_eq!(t.cell(1, 1), b"two words");
        assert_eq!(t.cell(2, 0), b"cy");
        assert_eq!(t.cell(2, 1), b"");
        assert_eq!(t.column("pw"), Some(1));
        assert_eq!(t.column("nope"), None);
    }

    #[test]
    fn a_ragged_row_is_refused_and_leaves_the_table_as_it_was() {
        let mut t = table(DataStrategy::Random);
        assert_eq!(
            t.push_row([&b"x"[..]]).unwrap_err(),
            "the row has 1 field, the header has 2"
        );
        assert_eq!(t.rows(), 3);
        t.push_row([&b"d"[..], b"4"]).unwrap();
        assert_eq!(t.cell(3, 1), b"4");
    }

    #[test]
    fn sequential_hands_out_each_row_once_then_stops_or_wraps() {
        let t = table(DataStrategy::Sequential { wrap: false });
        let got: Vec<_> = (0..5).map(|_| t.next_sequential(false)).collect();
        assert_eq!(got, [Some(0), Some(1), Some(2), None, None]);
        assert_eq!(t.consumed(), 3);
        let t = table(DataStrategy::Sequential { wrap: true });
        let got: Vec<_> = (0..7).map(|_| t.next_sequential(true)).collect();
        assert_eq!(
            got,
            [
                Some(0),
                Some(1),
                Some(2),
                Some(0),
                Some(1),
                Some(2),
                Some(0)
            ]
        );
    }
}
