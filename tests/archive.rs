//! Custom-format archive writer: rebuild archives from plain dumps and check them with the real
//! `pg_restore` against a PostgreSQL server (PGHOST/PGPORT/PGUSER). There is no silent skip: without
//! a reachable server these tests fail with a message saying so.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pgveil::dump::{DumpReader, Event};
use pgveil::sink::archive::{inspect, read_archive, read_table_data, ArchiveOptions, ArchiveSink};
use pgveil::sink::Sink;

/// Feed a plain dump through the archive sink.
fn convert(plain: &Path, out: &Path, dbname: &str, compression: i32) -> Result<(), String> {
    let spool = out.parent().unwrap().to_path_buf();
    let mut sink: Box<dyn Sink> = Box::new(
        ArchiveSink::create(
            out,
            ArchiveOptions {
                dbname: dbname.to_string(),
                compression,
                spool_dir: spool,
            },
        )
        .map_err(|e| e.to_string())?,
    );
    let mut reader = DumpReader::with_batch_bytes(BufReader::new(File::open(plain).unwrap()), 4096);
    while let Some(ev) = reader.next_event().map_err(|e| e.to_string())? {
        let r = match ev {
            Event::Preamble(p) => sink.preamble(&p),
            Event::Entry(e) => sink.entry(&e),
            Event::DataBegin(e) => sink.data_begin(&e),
            Event::CopyRows { rows, .. } => sink.data(rows),
            Event::RawData(d) => sink.data(&d),
            Event::DataEnd(t) => sink.data_end(&t),
            Event::Trailer(t) => sink.trailer(&t),
        };
        r.map_err(|e| e.to_string())?;
    }
    sink.finish().map_err(|e| e.to_string())?;
    Ok(())
}

/// Manual conversion for development: ARCHIVE_IN=plain.sql ARCHIVE_OUT=x.dump [ARCHIVE_DB=name].
#[test]
#[ignore]
fn manual_convert() {
    let input = std::env::var("ARCHIVE_IN").expect("ARCHIVE_IN");
    let output = std::env::var("ARCHIVE_OUT").expect("ARCHIVE_OUT");
    let db = std::env::var("ARCHIVE_DB").unwrap_or_else(|_| "db".into());
    let z: i32 = std::env::var("ARCHIVE_Z")
        .ok()
        .and_then(|z| z.parse().ok())
        .unwrap_or(-1);
    convert(Path::new(&input), Path::new(&output), &db, z).unwrap();
    println!("{}", inspect(Path::new(&output)).unwrap());
}

/// Compare TOC fields of two archives: ARCHIVE_A (ours) vs ARCHIVE_B (pg_dump's).
#[test]
#[ignore]
fn manual_compare() {
    let a = read_archive(Path::new(&std::env::var("ARCHIVE_A").unwrap())).unwrap();
    let b = read_archive(Path::new(&std::env::var("ARCHIVE_B").unwrap())).unwrap();
    for ea in &a.entries {
        let Some(eb) = b
            .entries
            .iter()
            .find(|e| e.desc == ea.desc && e.tag == ea.tag && e.namespace == ea.namespace)
        else {
            println!("only ours: {} {}", ea.desc, ea.tag);
            continue;
        };
        let fa = (
            &ea.drop_stmt,
            &ea.tablespace,
            &ea.tableam,
            &ea.owner,
            ea.section,
            &ea.copy_stmt,
            &ea.defn,
        );
        let fb = (
            &eb.drop_stmt,
            &eb.tablespace,
            &eb.tableam,
            &eb.owner,
            eb.section,
            &eb.copy_stmt,
            &eb.defn,
        );
        if fa != fb {
            println!(
                "DIFF {} {}:\n  ours {:?}\n  theirs {:?}",
                ea.desc,
                ea.tag,
                (fa.0, fa.1, fa.2, fa.3, fa.4, fa.5),
                (fb.0, fb.1, fb.2, fb.3, fb.4, fb.5)
            );
            if ea.defn != eb.defn {
                println!(
                    "  defn differs: {:?} vs {:?}",
                    ea.defn
                        .as_ref()
                        .map(|d| String::from_utf8_lossy(d).into_owned()),
                    eb.defn
                        .as_ref()
                        .map(|d| String::from_utf8_lossy(d).into_owned())
                );
            }
        }
    }
    for eb in &b.entries {
        if !a
            .entries
            .iter()
            .any(|e| e.desc == eb.desc && e.tag == eb.tag && e.namespace == eb.namespace)
        {
            println!("only theirs: {} {}", eb.desc, eb.tag);
        }
    }
}

/// Compare dependencies by object key: ARCHIVE_A (ours) vs ARCHIVE_B (pg_dump's).
#[test]
#[ignore]
fn manual_compare_deps() {
    let a = read_archive(Path::new(&std::env::var("ARCHIVE_A").unwrap())).unwrap();
    let b = read_archive(Path::new(&std::env::var("ARCHIVE_B").unwrap())).unwrap();
    let key = |entries: &[pgveil::sink::archive::TocEntry], id: i32| {
        entries
            .iter()
            .find(|e| e.dump_id == id)
            .map(|e| format!("{}:{}", e.desc, e.tag))
            .unwrap_or_else(|| format!("?{id}"))
    };
    for ea in &a.entries {
        let Some(eb) = b
            .entries
            .iter()
            .find(|e| e.desc == ea.desc && e.tag == ea.tag && e.namespace == ea.namespace)
        else {
            continue;
        };
        let mut da: Vec<String> = ea
            .dependencies
            .iter()
            .map(|d| key(&a.entries, *d))
            .collect();
        let mut db: Vec<String> = eb
            .dependencies
            .iter()
            .map(|d| key(&b.entries, *d))
            .collect();
        let first_a = da.first().cloned();
        let first_b = db.first().cloned();
        da.sort();
        db.sort();
        if da != db {
            let missing: Vec<_> = db.iter().filter(|d| !da.contains(d)).collect();
            let extra: Vec<_> = da.iter().filter(|d| !db.contains(d)).collect();
            println!(
                "{} {}: missing {:?} extra {:?}",
                ea.desc, ea.tag, missing, extra
            );
        }
        if ea.desc == "TABLE DATA" && first_a != first_b {
            println!(
                "TABLE DATA {} first dep {:?} vs {:?}",
                ea.tag, first_a, first_b
            );
        }
    }
}
