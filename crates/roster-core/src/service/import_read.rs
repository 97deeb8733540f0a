//! Reading an import file (JSON lines or CSV) into records, each with its line number. A
//! record that cannot be read is reported on its line and does not stop the others; only a
//! failure to read the file itself is an error. Pure parsing, so it is fuzzed on its own
//! (`fuzz/fuzz_targets/import.rs`).

use super::import::{ImportLine, UserRecord};
use std::io::{BufRead, Read};

/// The formats `import-users` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// One JSON object per line; blank lines are skipped.
    Jsonl,
    /// A header row naming [`UserRecord`] fields, then one record per row.
    Csv,
}

/// Reads every record of an import file.
pub fn read_import_lines(reader: impl Read, format: ImportFormat) -> std::io::Result<Vec<ImportLine>> {
    match format {
        ImportFormat::Jsonl => read_jsonl(reader),
        ImportFormat::Csv => read_csv(reader),
    }
}

fn read_jsonl(reader: impl Read) -> std::io::Result<Vec<ImportLine>> {
    let mut lines = Vec::new();
    let mut reader = std::io::BufReader::new(reader);
    let mut raw = Vec::new();
    let mut number = 0u64;
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        number += 1;
        // A line that is not UTF-8 is one unreadable record, not the end of the import.
        let record = match std::str::from_utf8(&raw) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => serde_json::from_str::<UserRecord>(line).map_err(|e| format!("unreadable record: {e}")),
            Err(_) => Err(String::from("unreadable record: the line is not UTF-8")),
        };
        lines.push(ImportLine { line: number, record });
    }
    Ok(lines)
}

fn read_csv(reader: impl Read) -> std::io::Result<Vec<ImportLine>> {
    let mut csv = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(reader);
    let headers = match csv.headers() {
        Ok(headers) => headers.clone(),
        Err(e) => return Err(csv_error(e, "reading the CSV header")),
    };
    let mut lines = Vec::new();
    let mut raw = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut raw) {
            Ok(false) => break,
            Ok(true) => lines.push(ImportLine {
                line: raw.position().map_or(0, |p| p.line()),
                record: raw
                    .deserialize::<UserRecord>(Some(&headers))
                    .map_err(|e| format!("unreadable record: {e}")),
            }),
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => return Err(csv_error(e, "reading")),
            Err(e) => lines.push(ImportLine {
                line: e.position().map_or(0, |p| p.line()),
                record: Err(format!("unreadable record: {e}")),
            }),
        }
    }
    Ok(lines)
}

fn csv_error(e: csv::Error, doing: &str) -> std::io::Error {
    let message = format!("{doing}: {e}");
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        _ => std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_reported_and_good_ones_kept() {
        let file = b"{\"email\":\"a@example.org\"}\n\n\xff\xfe\n{\"bogus\":1}\n{\"email\":\"b@example.org\"}";
        let lines = read_import_lines(&file[..], ImportFormat::Jsonl).unwrap_or_default();
        let numbers: Vec<u64> = lines.iter().map(|l| l.line).collect();
        assert_eq!(numbers, [1, 3, 4, 5]);
        assert!(lines[0].record.is_ok());
        assert!(lines[1].record.as_ref().is_err_and(|e| e.contains("UTF-8")));
        assert!(lines[2].record.as_ref().is_err_and(|e| e.contains("bogus")));
        assert!(lines[3].record.is_ok());
    }

    #[test]
    fn csv_rows_carry_their_line() {
        let file = "email,name\na@example.org,A\nb@example.org,B,extra\n";
        let lines = read_import_lines(file.as_bytes(), ImportFormat::Csv).unwrap_or_default();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, 2);
        assert!(lines[0].record.is_ok());
        assert!(lines[1].record.is_err());
    }
}
