//! Dependency inference of the custom archive on DDL built to mislead a substring search: keywords
//! the archive looks for (`ON`, `TO`, `REFERENCES`, `FROM`, `UNIQUE`, `PARTITION BY`) inside string
//! literals, quoted identifiers, comments and dollar-quoted function bodies. The archive pgveil
//! writes must record what pg_dump's own archive of the same database records (dependencies, the
//! tables each post-data entry locks, drop statements, table access methods), and `pg_restore -j 4`
//! of it must rebuild the database.

use crate::support;

use std::collections::HashMap;
use std::path::Path;

use pgveil::archive::{read_archive, TocEntry};
use support::{assert_dependencies_cover_pg_dumps, cluster, restrict_free, run_ok};

/// Every keyword the archive's inference looks for appears where it must not be taken for one.
const MISLEADING_DDL: &str = r#"
CREATE TABLE public.users (id integer PRIMARY KEY, name text);
CREATE TABLE public.real_target (id integer PRIMARY KEY);
-- A UNIQUE constraint whose quoted name reads like a key on another column.
CREATE TABLE public.other (
    id integer PRIMARY KEY,
    email text,
    CONSTRAINT "UNIQUE (id)" UNIQUE (email)
);
-- A table named "TO" with a column named "ON"; a default holding a line that starts with
-- PARTITION BY; a CHECK whose literal names another table's key.
CREATE TABLE public."TO" (
    "ON" integer PRIMARY KEY,
    note text DEFAULT E'plain\nPARTITION BY list (x)' CHECK (note <> 'REFERENCES other(id)'),
    ref_email text,
    target integer
);
CREATE TABLE public."a FROM users" (x integer, y integer);
CREATE TABLE public.log (msg text);
-- A foreign key named like a reference to users: the real one is to real_target.
ALTER TABLE public."TO" ADD CONSTRAINT "REFERENCES users(id)"
    FOREIGN KEY (target) REFERENCES public.real_target(id);
-- A foreign key to the UNIQUE (email) constraint of other.
ALTER TABLE public."TO" ADD CONSTRAINT to_email_fkey
    FOREIGN KEY (ref_email) REFERENCES public.other(email);
ALTER TABLE public."TO" ADD CONSTRAINT "chk ON users"
    CHECK (note <> 'x ON users') NOT VALID;
CREATE FUNCTION public.trg() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  -- ON users, REFERENCES x(id), TO users
  /* ALTER TABLE users /* nested */ ON users */
  PERFORM 'ON users', E'\' ON users', $q$ REFERENCES users(id) $q$;
  RETURN NEW;
END
$body$;
CREATE TRIGGER "fire ON users" BEFORE INSERT ON public."TO"
    FOR EACH ROW WHEN (new.note <> 'ALTER TABLE users') EXECUTE FUNCTION public.trg();
CREATE INDEX "idx ON users" ON public."TO" USING btree (note);
CREATE UNIQUE INDEX "UNIQUE (name)" ON public.users USING btree (id, name);
ALTER TABLE public."TO" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "pol ON users" ON public."TO" USING (note <> 'ON users');
CREATE STATISTICS public.st ON x, y FROM public."a FROM users";
CREATE RULE "r TO users" AS ON UPDATE TO public."TO"
    DO ALSO INSERT INTO public.log (msg) VALUES ('FROM public.users JOIN public.users');
CREATE VIEW public.v AS SELECT 'ALTER TABLE users' AS x, "ON" FROM public."TO";
COMMENT ON TABLE public."TO" IS 'REFERENCES users(id) ON users TO users';
COMMENT ON COLUMN public."TO"."ON" IS 'ON users -- /* TO users';
COMMENT ON CONSTRAINT "REFERENCES users(id)" ON public."TO" IS 'ON users';
COMMENT ON TRIGGER "fire ON users" ON public."TO" IS 'TO users';
INSERT INTO public.users VALUES (1, 'a'), (2, 'b');
INSERT INTO public.real_target VALUES (10), (20);
INSERT INTO public.other VALUES (1, 'one@example.org'), (2, 'two@example.org');
INSERT INTO public."TO" VALUES (1, 'first', 'one@example.org', 10), (2, 'second', NULL, 20);
INSERT INTO public."a FROM users" VALUES (1, 2);
"#;

fn pg_restore(args: &[&str], archive: &Path) -> Vec<u8> {
    run_ok(
        cluster().command("pg_restore").args(args).arg(archive),
        None,
        &format!("pg_restore {args:?}"),
    )
    .stdout
}

/// The fields of each entry that come from reading its definition, by (desc, namespace, tag).
fn inferred_fields(archive: &Path) -> HashMap<(String, Option<String>, String), String> {
    let a = read_archive(archive).unwrap();
    a.entries
        .iter()
        .filter(|e| e.dump_id > 0 && !matches!(e.desc.as_str(), "DATABASE" | "ENCODING"))
        .map(|e: &TocEntry| {
            (
                (e.desc.to_string(), e.namespace.clone(), e.tag.clone()),
                format!(
                    "drop {:?} tableam {:?} tablespace {:?} section {:?}",
                    e.drop_stmt, e.tableam, e.tablespace, e.section
                ),
            )
        })
        .collect()
}

#[test]
fn misleading_ddl_gets_pg_dumps_dependencies() {
    let db = cluster().create_db("arch_deps");
    cluster().psql(&db, MISLEADING_DDL);
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        support::pgveil()
            .args(["dump", "--dbname", &db, "--name", "deps", "--out-dir"])
            .arg(dir.path()),
        None,
        "pgveil dump",
    );
    let ours = dir.path().join("deps.dump");

    // Dependencies, and the tables each post-data entry locks, as in pg_dump's own archive
    // (written by the helper to pg_dump-own.dump).
    assert_dependencies_cover_pg_dumps(&ours, &db, dir.path());
    let theirs = dir.path().join("pg_dump-own.dump");

    // Drop statements, access methods, tablespaces and sections, entry by entry.
    let (a, b) = (inferred_fields(&ours), inferred_fields(&theirs));
    let mut differ: Vec<String> = b
        .iter()
        .filter(|(k, v)| a.get(*k).is_some_and(|ours| ours != *v))
        .map(|(k, v)| format!("{k:?}:\n  ours   {}\n  theirs {v}", a[k]))
        .collect();
    differ.sort();
    assert!(differ.is_empty(), "entries differ:\n{}", differ.join("\n"));

    // `pg_restore -c` drops what it drops with pg_dump's own archive, in the same order.
    let drops = |archive: &Path| -> Vec<String> {
        String::from_utf8_lossy(&pg_restore(&["-c", "--if-exists", "-f", "-"], archive))
            .lines()
            .filter(|l| l.starts_with("DROP ") || (l.starts_with("ALTER ") && l.contains(" DROP ")))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        drops(&ours),
        drops(&theirs),
        "the drop statements of pg_restore -c"
    );

    // `pg_restore -j 4` into a fresh database gives the source's schema and data.
    let restored = cluster().create_db("arch_deps_j");
    pg_restore(&["--exit-on-error", "-j", "4", "-d", &restored], &ours);
    let dump = |db: &str| String::from_utf8(restrict_free(&cluster().pg_dump(db, &[]))).unwrap();
    let (source, copy) = (dump(&db), dump(&restored));
    if source != copy {
        let line = source
            .lines()
            .zip(copy.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        panic!(
            "pg_restore -j 4: the restored database differs at line {}:\n  source:   {:?}\n  restored: {:?}",
            line + 1,
            source.lines().nth(line),
            copy.lines().nth(line)
        );
    }
    cluster().drop_db(&restored);
    cluster().drop_db(&db);
}

/// `pgveil inspect` names the archive once in its error (the reader's error carries the path; the
/// command adds no context repeating it).
#[test]
fn inspect_names_the_archive_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.dump");
    let not_archive = dir.path().join("plain.dump");
    std::fs::write(&not_archive, "SELECT 1;\n").unwrap();
    for (path, cause) in [
        (&missing, "No such file or directory"),
        (&not_archive, "not a custom-format archive"),
    ] {
        let out = support::run(support::pgveil().arg("inspect").arg(path), None);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = path.display().to_string();
        assert_eq!(stderr.matches(&shown).count(), 1, "{stderr}");
        assert_eq!(stderr.matches(cause).count(), 1, "{stderr}");
    }
}
