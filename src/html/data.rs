//! The CSV files a report reads, as tables of text with typed accessors whose errors name the
//! file, the line and the column.

use std::fs;
use std::io;
use std::path::Path;

use super::ReportError;

/// One CSV file: its header and rows (the line of each, 1-based, the header being line 1).
#[derive(Debug, Clone)]
pub struct Table {
    /// The file's name as the report cites it (relative to the directory).
    pub file: String,
    header: Vec<String>,
    rows: Vec<(u64, csv::StringRecord)>,
}

/// One row of a [`Table`].
#[derive(Clone, Copy)]
pub struct Row<'a> {
    table: &'a Table,
    line: u64,
    record: &'a csv::StringRecord,
}

impl Table {
    /// Read `dir/rel` if it exists, checking that its header has every column of `required`.
    ///
    /// # Errors
    /// The file cannot be read, is not CSV (file and line), or lacks a column.
    pub fn read_opt(
        dir: &Path,
        rel: &str,
        required: &[&str],
    ) -> Result<Option<Table>, ReportError> {
        let path = dir.join(rel);
        let bytes = match fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ReportError::Io {
                    path: path.display().to_string(),
                    error: e.to_string(),
                })
            }
            Ok(b) => b,
        };
        Table::parse(rel, &bytes, required).map(Some)
    }

    /// Read `dir/rel`, which must exist.
    ///
    /// # Errors
    /// As [`read_opt`](Self::read_opt), or the file is missing.
    pub fn read(dir: &Path, rel: &str, required: &[&str]) -> Result<Table, ReportError> {
        Table::read_opt(dir, rel, required)?.ok_or_else(|| ReportError::Io {
            path: dir.join(rel).display().to_string(),
            error: "missing".into(),
        })
    }

    /// Parse CSV bytes named `file`.
    ///
    /// # Errors
    /// Not UTF-8 CSV with a header, rows of another width than the header, or a required
    /// column missing.
    pub fn parse(file: &str, bytes: &[u8], required: &[&str]) -> Result<Table, ReportError> {
        let bad = |line: u64, message: String| ReportError::Csv {
            file: file.to_string(),
            line,
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .from_reader(bytes);
        let mut header = None;
        let mut rows = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i as u64 + 1;
            let rec = rec.map_err(|e| {
                let line = e.position().map_or(line, |p| p.line());
                let msg = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("{len} fields, the header has {expected_len}"),
                    csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
                    _ => e.to_string(),
                };
                bad(line, msg)
            })?;
            if header.is_none() {
                header = Some(rec.iter().map(str::to_string).collect::<Vec<_>>());
            } else {
                rows.push((line, rec));
            }
        }
        let header = header.ok_or_else(|| bad(1, "empty file: no header".into()))?;
        for c in required {
            if !header.iter().any(|h| h == c) {
                return Err(bad(
                    1,
                    format!("no column {c:?} in the header {}", header.join(",")),
                ));
            }
        }
        Ok(Table {
            file: file.to_string(),
            header,
            rows,
        })
    }

    /// The header's columns.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |(line, record)| Row {
            table: self,
            line: *line,
            record,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|h| h == column)
    }
}

impl<'a> Row<'a> {
    /// The line of the file this row is on.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn error(&self, column: &str, message: String) -> ReportError {
        ReportError::Csv {
            file: self.table.file.clone(),
            line: self.line,
            message: format!("column {column:?}: {message}"),
        }
    }

    /// The text of `column` ("" when the file has no such column).
    pub fn str(&self, column: &str) -> &'a str {
        self.table
            .index(column)
            .and_then(|i| self.record.get(i))
            .unwrap_or("")
    }

    /// `column` as a number; `None` when blank.
    ///
    /// # Errors
    /// Neither blank nor a finite number.
    pub fn opt_f64(&self, column: &str) -> Result<Option<f64>, ReportError> {
        let s = self.str(column);
        if s.is_empty() {
            return Ok(None);
        }
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(self.error(column, format!("{s:?} is not a number"))),
        }
    }

    /// `column` as a number, which must be there.
    ///
    /// # Errors
    /// Blank or not a number.
    pub fn f64(&self, column: &str) -> Result<f64, ReportError> {
        self.opt_f64(column)?
            .ok_or_else(|| self.error(column, "blank, a number is needed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_line_and_column() {
        let t = Table::parse("x.csv", b"a,b\n1,2\n3,oops\n", &["a", "b"]).unwrap();
        let rows: Vec<Row> = t.rows().collect();
        assert_eq!(rows[0].f64("b").unwrap(), 2.0);
        let e = rows[1].f64("b").unwrap_err().to_string();
        assert_eq!(e, "x.csv: line 3: column \"b\": \"oops\" is not a number");
        let e = Table::parse("x.csv", b"a,b\n1,2,3\n", &[])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "x.csv: line 2: 3 fields, the header has 2");
        let e = Table::parse("x.csv", b"a\n", &["a", "b"])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "x.csv: line 1: no column \"b\" in the header a");
        let e = Table::parse("x.csv", b"", &[]).unwrap_err().to_string();
        assert_eq!(e, "x.csv: line 1: empty file: no header");
        assert!(Table::parse("x.csv", b"a\n\xff\n", &[]).is_err());
    }
}
