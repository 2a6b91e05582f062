//! `[[data]]` and `--data name=path`: data sources loaded into tables.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): each
//! source's file is read once, here, into a [`DataTable`] (see `kaioken_vm`'s
//! `data` module for its layout), so that `${users.name}` can be checked against
//! the columns (with a did-you-mean) before any load is sent, and the run reads
//! rows without touching the file again. A CSV file has a header row and RFC 4180
//! quoting (the `csv` crate); a JSON file is an array of objects, whose keys (in
//! sorted order) are the columns.

use std::io::Read;
use std::sync::Arc;

use kaioken_vm::{DataStrategy, DataTable};

use super::Lowerer;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::{Draft, DraftData};
use crate::located::Loc;

/// The file formats a source may be in, by extension.
const FORMATS: &str = "`.csv` or `.json`";

impl Lowerer<'_> {
    /// Load every source of the draft into `self.data`, reporting each problem.
    pub(super) fn data_sources(&mut self, d: &Draft) {
        for source in &d.data {
            let Some(table) = self.data_source(source) else {
                self.data_failed.insert(source.name.value.clone());
                continue;
            };
            {
                if self.data.iter().any(|t| t.name == table.name) {
                    self.conflict(
                        &source.name.loc,
                        &format!("data source `{}` is defined twice", table.name),
                    );
                    continue;
                }
                self.data.push(Arc::new(table));
            }
        }
    }

    fn data_source(&mut self, source: &DraftData) -> Option<DataTable> {
        let name = &source.name.value;
        let is_name = kaioken_grammar::is_identifier(name);
        if !is_name || name == "setup" || name == "script" {
            self.data_error(
                name,
                "a source's name is made of letters, digits and `_`, not starting with a \
                 digit, and is neither `setup` nor `script`",
                &source.name.loc,
            );
            return None;
        }
        let strategy = self.strategy(source)?;
        let Some(file) = &source.file else {
            self.data_error(name, "no `file`; write `file = \"users.csv\"`", &source.loc);
            return None;
        };
        let written = self.fold_env(file);
        let path = self.resolve_path(&written, &file.loc);
        let shown = path.display().to_string();
        let is = |ext: &str| {
            path.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(ext))
        };
        let (csv, json) = (is("csv"), is("json"));
        if !csv && !json {
            self.data_error(
                name,
                &format!("`{written}` is neither CSV nor JSON; name the file {FORMATS}"),
                &file.loc,
            );
            return None;
        }
        let opened = std::fs::File::open(&path).and_then(|f| {
            let len = f.metadata()?.len();
            Ok((f, len))
        });
        let (f, len) = match opened {
            Ok(f) => f,
            Err(e) => {
                let kind = CompileErrorKind::Io {
                    path: shown,
                    message: e.to_string(),
                };
                self.errors.push(CompileError::at(kind, &file.loc, None));
                return None;
            }
        };
        let capacity = usize::try_from(len).unwrap_or(usize::MAX);
        let loaded = if csv {
            load_csv(name, &shown, f, capacity, strategy)
        } else {
            load_json(name, &shown, f, capacity, strategy)
        };
        match loaded {
            Ok(table) if table.rows() == 0 => {
                self.data_error(name, &format!("`{written}` has no rows"), &file.loc);
                None
            }
            Ok(table) => Some(table),
            Err(message) => {
                self.data_error(name, &format!("in `{written}`: {message}"), &file.loc);
                None
            }
        }
    }

    /// `strategy` and `on_exhausted`.
    fn strategy(&mut self, source: &DraftData) -> Option<DataStrategy> {
        let name = &source.name.value;
        let wrap = match source.on_exhausted.as_ref().map(|s| (s.value.as_str(), s)) {
            None | Some(("wrap", _)) => true,
            Some(("stop", _)) => false,
            Some((other, at)) => {
                self.data_error(
                    name,
                    &format!("`on_exhausted` is `{other}`; expected `wrap` or `stop`"),
                    &at.loc,
                );
                return None;
            }
        };
        let strategy = match source.strategy.as_ref().map(|s| (s.value.as_str(), s)) {
            None | Some(("sequential", _)) => DataStrategy::Sequential { wrap },
            Some(("random", _)) => DataStrategy::Random,
            Some(("unique", _)) => DataStrategy::Unique,
            Some((other, at)) => {
                self.data_error(
                    name,
                    &format!("strategy `{other}` is not one of `sequential`, `random`, `unique`"),
                    &at.loc,
                );
                return None;
            }
        };
        if let (Some(at), false) = (
            &source.on_exhausted,
            matches!(strategy, DataStrategy::Sequential { .. }),
        ) {
            self.data_error(
                name,
                &format!(
                    "`on_exhausted` applies to a `sequential` source; a `{}` source never runs out",
                    strategy.name()
                ),
                &at.loc,
            );
            return None;
        }
        Some(strategy)
    }

    /// A `unique` source needs a row per VU: refuse a load with more VUs than rows.
    pub(super) fn check_unique(&mut self, d: &Draft, most_vus: u64) {
        for table in self.data.clone() {
            if table.strategy == DataStrategy::Unique && most_vus > table.rows() {
                let Some(source) = d.data.iter().find(|s| s.name.value == table.name) else {
                    continue;
                };
                let message = format!(
                    "`unique` gives each VU its own row, and the load has up to {most_vus} \
                     VUs for {} rows; add rows or lower the VUs",
                    table.rows()
                );
                let loc = source
                    .strategy
                    .as_ref()
                    .map_or(&source.loc, |s| &s.loc)
                    .clone();
                self.data_error(&table.name, &message, &loc);
            }
        }
    }

    fn data_error(&mut self, name: &str, message: &str, loc: &Loc) {
        let kind = CompileErrorKind::Data {
            name: name.to_owned(),
            message: message.to_owned(),
        };
        self.errors.push(CompileError::at(kind, loc, None));
    }

    /// `${source.column}`: the part, or `None` after reporting an unknown column.
    /// `None` outside when `source` names no data source.
    pub(super) fn data_column(
        &mut self,
        source: &str,
        column: &str,
        loc: &Loc,
        span: kaioken_grammar::Span,
    ) -> Option<Option<crate::Part>> {
        let table = self.data.iter().find(|t| t.name == source)?;
        if table.column(column).is_some() {
            return Some(Some(crate::Part::Data(
                source.to_owned(),
                column.to_owned(),
            )));
        }
        let kind = CompileErrorKind::UnknownColumn {
            source: source.to_owned(),
            column: column.to_owned(),
            columns: table.columns.clone(),
        };
        self.errors.push(CompileError::at(kind, loc, Some(span)));
        Some(None)
    }
}

/// A CSV file with a header row. A row of another width than the header is an
/// error naming its line, and so is a quoted field that is never closed.
fn load_csv(
    name: &str,
    path: &str,
    file: std::fs::File,
    capacity: usize,
    strategy: DataStrategy,
) -> Result<DataTable, String> {
    // The csv crate ends a quoted field that is never closed at the end of the file,
    // without an error: the rest of the file becomes one value. The record that
    // holds it is the last one read, so that record (or one whose width is wrong) is
    // read again from its start by `unclosed_quote`. This second handle shares the
    // file's offset, so it is only moved once the reader is done with the file.
    let mut again = file.try_clone().map_err(|e| e.to_string())?;
    let mut last = csv::Position::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 16, file));
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_owned)
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err("the header row is empty; the first line names the columns".into());
    }
    if let Some(dup) = headers
        .iter()
        .enumerate()
        .find(|(i, h)| headers[..*i].contains(h))
    {
        return Err(format!("the header names column `{}` twice", dup.1));
    }
    let mut table = DataTable::new(name, path, headers, strategy, capacity);
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        let at = record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        // A blank line ends no row (the csv crate skips it); a lone empty field in
        // a one-column file is a row of one empty value.
        if let Err(e) = table.push_row(record.iter()) {
            unclosed_quote(&mut again, &at)?;
            return Err(format!("line {}: {e}", at.line()));
        }
        last = at;
    }
    unclosed_quote(&mut again, &last)?;
    table.shrink();
    Ok(table)
}

/// An error naming the line and column of a quoted field that opens in the record
/// starting at `at` and is still open at the end of the file; `Ok` when every
/// quoted field of that record closes. It follows the csv crate's reading (its
/// default settings): a field is quoted when it starts with `"`, `""` inside one is
/// a quote, and a record ends at `\n` or `\r` outside quotes. Lines count `\n`, as
/// the crate's positions do; columns count characters from 1.
fn unclosed_quote(file: &mut std::fs::File, at: &csv::Position) -> Result<(), String> {
    use std::io::{BufRead, Seek, SeekFrom};

    #[derive(PartialEq)]
    enum State {
        StartRecord,
        StartField,
        InField,
        Quoted,
        QuoteInQuoted,
    }
    let io = |e: std::io::Error| e.to_string();
    file.seek(SeekFrom::Start(at.byte())).map_err(io)?;
    let mut input = std::io::BufReader::with_capacity(1 << 16, file);
    let (mut line, mut column) = (at.line(), 0u64);
    let mut opened = (0, 0);
    let mut state = State::StartRecord;
    let mut first = at.byte() == 0;
    loop {
        let chunk = input.fill_buf().map_err(io)?;
        if chunk.is_empty() {
            break;
        }
        let mut bytes = chunk;
        // The csv crate skips a byte order mark at the start of the file.
        if std::mem::take(&mut first) {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        for &b in bytes {
            if b == b'\n' {
                (line, column) = (line + 1, 0);
            } else if b & 0xc0 != 0x80 {
                column += 1;
            }
            let end = b == b'\n' || b == b'\r';
            state = match state {
                State::StartRecord if end => State::StartRecord,
                State::StartRecord | State::StartField if b == b'"' => {
                    opened = (line, column);
                    State::Quoted
                }
                State::Quoted if b == b'"' => State::QuoteInQuoted,
                State::Quoted => State::Quoted,
                State::QuoteInQuoted if b == b'"' => State::Quoted,
                _ if end => return Ok(()),
                _ if b == b',' => State::StartField,
                _ => State::InField,
            };
        }
        let n = chunk.len();
        input.consume(n);
    }
    if state == State::Quoted {
        return Err(format!(
            "line {} column {}: this quoted field is never closed",
            opened.0, opened.1
        ));
    }
    Ok(())
}

fn csv_error(e: csv::Error) -> String {
    match (e.position(), e.kind()) {
        (Some(p), csv::ErrorKind::Utf8 { err, .. }) => {
            format!("line {}: the header is not UTF-8 ({err})", p.line())
        }
        _ => e.to_string(),
    }
}

/// A JSON array of objects. Values that are strings are used as they are; numbers,
/// booleans, `null`, arrays and objects as their JSON text in the file, without the
/// whitespace between tokens (`kaioken_vm::push_json_text`, the extractors' rule):
/// `19.90` stays `19.90` and a 30-digit id stays whole, where a parsed
/// `serde_json::Value` would round them through an `f64`. Every object has the first
/// one's keys, no more and no fewer.
fn load_json(
    name: &str,
    path: &str,
    mut file: std::fs::File,
    capacity: usize,
    strategy: DataStrategy,
) -> Result<DataTable, String> {
    use serde_json::value::RawValue;
    let mut text = String::with_capacity(capacity);
    file.read_to_string(&mut text).map_err(|e| e.to_string())?;
    // Checked whole first, so that a syntax error is located in the file.
    // serde_json's column is 0 at a line's start (the end of the file after a
    // line break); a column here counts from 1.
    let value: &RawValue = serde_json::from_str(&text).map_err(|e| {
        let message = crate::compile_error::without_position(&e.to_string()).to_owned();
        format!("line {} column {}: {message}", e.line(), e.column().max(1))
    })?;
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(value.get()) else {
        return Err("expected an array of objects, `[{\"name\": \"ann\"}, …]`".into());
    };
    let mut table: Option<DataTable> = None;
    let mut cell = Vec::new();
    for (i, item) in items.iter().enumerate() {
        // Sorted keys, the last of repeated ones winning, as a parsed object has them.
        let Ok(object) =
            serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(item.get())
        else {
            return Err(format!("item {i} is not an object"));
        };
        let t = table.get_or_insert_with(|| {
            let columns = object.keys().cloned().collect();
            DataTable::new(name, path, columns, strategy, capacity / 2)
        });
        if let Some(key) = object.keys().find(|k| t.column(k).is_none()) {
            return Err(format!(
                "item {i} has key `{key}`, which item 0 does not have"
            ));
        }
        let mut cells = Vec::with_capacity(t.columns.len());
        for column in &t.columns {
            let Some(v) = object.get(column) else {
                return Err(format!("item {i} has no key `{column}`"));
            };
            cell.clear();
            if v.get().starts_with('"') {
                let s: String = serde_json::from_str(v.get()).map_err(|e| e.to_string())?;
                cell.extend_from_slice(s.as_bytes());
            } else {
                kaioken_vm::push_json_text(&mut cell, v.get());
            }
            cells.push(cell.clone());
        }
        t.push_row(cells.iter().map(Vec::as_slice))?;
    }
    let mut table = table.unwrap_or_else(|| DataTable::new(name, path, vec![], strategy, 0));
    table.shrink();
    Ok(table)
}
