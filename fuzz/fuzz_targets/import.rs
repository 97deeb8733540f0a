//! The import parsers (`roster import-users`): any file, read as JSON lines or CSV, gives one
//! report entry per record, each record either validated or refused with a reason; then the
//! records go through the import's validation and conflict look-up as a dry run (which writes
//! nothing) against the fuzz fixture's database.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_core::service::{ImportFormat, ImportOptions, OnConflict, read_import_lines};
use roster_core::time::Duration;
use roster_fuzz::{fixture, runtime};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        ImportFormat::Jsonl
    } else {
        ImportFormat::Csv
    };
    let on_conflict = match (selector >> 1) % 3 {
        0 => OnConflict::Skip,
        1 => OnConflict::Update,
        _ => OnConflict::Fail,
    };
    let lines = match read_import_lines(file, format) {
        Ok(lines) => lines,
        // Only a file that cannot be read at all (a CSV header that is not text) fails whole.
        Err(e) => {
            assert_eq!(format, ImportFormat::Csv, "JSON lines never fail whole: {e}");
            return;
        }
    };
    if format == ImportFormat::Jsonl {
        let mut last = 0;
        for line in &lines {
            assert!(line.line > last, "line numbers increase");
            last = line.line;
        }
    }
    let count = lines.len();
    let fixture = fixture();
    let options = ImportOptions {
        on_conflict,
        dry_run: true,
        link_expires_in: Duration::days(7),
    };
    let report = runtime()
        .block_on(
            fixture
                .core
                .import_users(fixture.core.operator(), lines, &options, &|_| {}),
        )
        .expect("a dry run over readable records does not fail as a whole");
    assert_eq!(report.records.len(), count, "one outcome per record");
    assert!(report.dry_run);
});
