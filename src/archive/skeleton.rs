//! The entries of a database dump announced before it runs: `pg_dump -Fc` of the same snapshot
//! and arguments writes its whole table of contents before any data, so pgveil reads that TOC
//! (and stops pg_dump there), gives each data entry an empty block, and has `pg_restore -f -`
//! print it: the plain text `pg_dump -Fp` prints for the same TOC (it runs the same code), minus
//! the rows. Read with the dump reader, it announces every entry of the real pass — the data
//! entries (TABLE DATA, SEQUENCE SET, BLOBS, materialized view data) and everything after them —
//! exactly as the pass will show them, which the schema-only dump cannot.
//!
//! Only with a snapshot shared with the data dump (`--snapshot`), and only for options whose
//! effect pg_restore reproduces; otherwise there is no announcement (the archive is spooled).

use std::io::{BufReader, Read, Write};
use std::process::Stdio;

use super::announce::Announced;
use super::format::{put_int, BLK_BLOBS, BLK_DATA};
use super::reader::{read_toc_from, InspectError};
use crate::input::client::{Client, ClientError, ClientProgram};
use crate::input::conninfo::ConnInfo;
use crate::input::{PgDumpArgs, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum SkeletonError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("reading the table of contents of pg_dump -Fc")]
    Toc(#[source] InspectError),
    #[error("writing the table of contents to pg_restore")]
    Feed(#[source] std::io::Error),
    #[error("reading pg_restore's rendering of the table of contents")]
    Render(#[source] crate::dump::DumpError),
}

/// Options that change what pg_dump prints from its TOC, passed to pg_restore as well (pg_dump
/// -Fp passes them to the same printing code).
const RENDER_FLAGS: [&str; 16] = [
    "clean",
    "if-exists",
    "create",
    "no-owner",
    "no-privileges",
    "no-tablespaces",
    "disable-triggers",
    "use-set-session-authorization",
    "no-comments",
    "no-publications",
    "no-security-labels",
    "no-subscriptions",
    "data-only",
    "schema-only",
    "no-table-access-method",
    "enable-row-security",
];

/// Options whose rendering is not reproduced here: no announcement. (`--verbose` prints dump ids,
/// which a plain and a custom-format run hand out in different orders; pg_restore has no
/// `--quote-all-identifiers` for the statements it makes itself (`ALTER … OWNER TO`); several
/// `--section`s; binary upgrades; newer pg_dump's data and statistics switches.)
const UNSUPPORTED: [&str; 12] = [
    "verbose",
    "quote-all-identifiers",
    "binary-upgrade",
    "section",
    "no-schema",
    "no-data",
    "with-data",
    "statistics-only",
    "no-statistics",
    "sequence-data",
    "no-policies",
    "filter",
];

/// The announcement of the dump `args` will produce (see the module doc), or `None` when it
/// cannot be made exactly.
pub fn announce_database(args: &PgDumpArgs) -> Result<Option<Announced>, SkeletonError> {
    let options = args.options()?;
    if !options.has("snapshot") || UNSUPPORTED.iter().any(|o| options.has(o)) {
        return Ok(None);
    }
    let conn = ConnInfo::parse_opt(args.dbname.as_deref()).map_err(SourceError::from)?;

    // pg_dump -Fc, uncompressed (the empty blocks below are then plain chunks).
    let mut pg_dump = Client::new(ClientProgram::PgDump);
    pg_dump
        .args(["--format=custom", "--compress=0"])
        .connect(conn.as_ref(), "--dbname")
        .args(options.to_args_without(&["format", "compress", "file", "verbose"]))
        .stdout(Stdio::piped());
    let mut running = pg_dump.spawn()?;
    let stdout = running.stdout().expect("piped stdout");
    let read = read_toc_from(BufReader::new(stdout), "pg_dump -Fc");
    // Its TOC is all that is wanted: stop it before it sends the data.
    let (_, entries, mut archive) = match read {
        Ok(toc) => {
            running.kill();
            toc
        }
        Err(e) => {
            // pg_dump's own message says why (it failed before its TOC).
            running.wait()?;
            return Err(SkeletonError::Toc(e));
        }
    };
    for e in entries.iter().filter(|e| e.had_dumper) {
        let blobs = e.desc == super::toc::Kind::Blobs;
        archive.push(if blobs { BLK_BLOBS } else { BLK_DATA });
        put_int(&mut archive, e.dump_id);
        if !blobs {
            // The end of COPY data, as pg_dump writes it.
            let end = b"\\.\n\n\n";
            put_int(&mut archive, end.len() as i32);
            archive.extend_from_slice(end);
        }
        put_int(&mut archive, 0);
    }

    let mut pg_restore = Client::new(ClientProgram::PgRestore);
    pg_restore.args(["--format=custom", "--file=-"]);
    for flag in RENDER_FLAGS {
        if options.has(flag) {
            pg_restore.arg(format!("--{flag}"));
        }
    }
    if let Some(superuser) = options.value("superuser") {
        let mut a = std::ffi::OsString::from("--superuser=");
        a.push(superuser);
        pg_restore.arg(a);
    }
    pg_restore.piped_stdin().stdout(Stdio::piped());
    let mut running = pg_restore.spawn()?;
    let mut stdin = running.stdin().expect("piped stdin");
    let feeder = std::thread::spawn(move || stdin.write_all(&archive));
    let mut text = Vec::new();
    let read = running
        .stdout()
        .expect("piped stdout")
        .read_to_end(&mut text);
    let fed = feeder.join().unwrap_or(Ok(()));
    running.wait()?;
    fed.map_err(SkeletonError::Feed)?;
    read.map_err(SkeletonError::Feed)?;
    let announced = Announced::scan(
        &text[..],
        "pg_dump -Fc's table of contents of the same snapshot",
    )
    .map_err(SkeletonError::Render)?;
    Ok(Some(announced))
}
