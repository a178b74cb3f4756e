//! Connecting with pgveil's own client (the direct read, and `rules check/init --dbname`) to a
//! cluster that wants what production servers want: TLS with a certificate for `localhost` signed by
//! a test CA, SCRAM passwords, and a pg_hba.conf that admits TCP connections only over TLS with a
//! password (`support::tls_cluster()`). Contract under test, with the real pgveil binary:
//! - a wrong password fails with the server's own message, the one pg_dump shows for the same
//!   conninfo, and leaves no artifact;
//! - the right password from a PGPASSFILE, or in the conninfo (never on a child's command line),
//!   connects, and the direct read's artifacts are the pg_dump read's;
//! - `sslmode=verify-full` checks the CA and the host name, each failure named; `sslmode=disable`
//!   gets the server's "no encryption" refusal; `sslmode=require` without a CA connects;
//! - `rules check` and `rules init` read the same database over the same client, and what that
//!   client cannot honour (a client certificate) goes through psql, said under `-v`.

use crate::fail_closed_restore::{client_wrappers, CmdlineWatch};
use crate::support;

use std::path::Path;
use std::process::Command;

use support::{
    assert_same_text, cluster, gunzip, ok, pg_restore_script, pgveil, restrict_free, run,
    tls_cluster,
};

/// pgveil with a home of its own (no `~/.pgpass`, no `~/.postgresql/`): what it knows of the
/// server is what each test gives it.
fn veil(home: &Path) -> Command {
    let mut cmd = pgveil();
    cmd.env("HOME", home);
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// `pgveil dump --read direct` and `pgveil anonymize --read direct` of `conn` both fail, saying
/// `needle`, writing no artifact and no row; the stderr of the dump.
fn both_fail(conn: &str, needle: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = run(
        veil(home.path())
            .args(["dump", "--read", "direct", "--dbname", conn, "--out-dir"])
            .arg(dir.path())
            .args(["--name", "x"]),
        None,
    );
    assert!(!dump.status.success(), "dump of {conn} succeeded");
    let stderr = text(&dump.stderr);
    assert!(stderr.contains(needle), "dump of {conn}: {stderr}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
    let anonymize = run(
        veil(home.path()).args(["anonymize", "--read", "direct", "--dbname", conn]),
        None,
    );
    assert!(!anonymize.status.success(), "anonymize of {conn} succeeded");
    assert!(
        text(&anonymize.stderr).contains(needle),
        "anonymize of {conn}: {}",
        text(&anonymize.stderr)
    );
    assert!(anonymize.stdout.is_empty(), "anonymize wrote rows");
    stderr
}

/// `pgveil anonymize --read direct` of `conn` succeeds: the masked stream.
fn anonymize_ok(conn: &str, env: &[(&str, &Path)]) -> Vec<u8> {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = veil(home.path());
    cmd.args([
        "anonymize",
        "--read",
        "direct",
        "--jobs",
        "2",
        "--dbname",
        conn,
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = ok(run(&mut cmd, None), &format!("anonymize of {conn}"));
    assert!(
        !text(&out.stderr).contains("read through pg_dump"),
        "{conn}: the direct read fell back: {}",
        text(&out.stderr)
    );
    out.stdout
}

/// A password file (mode 0600) with the role's line.
fn passfile(dir: &Path, password: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let t = tls_cluster();
    let path = dir.join("pgpass");
    std::fs::write(
        &path,
        format!(
            "# other servers first\nelsewhere:*:*:*:nope\nlocalhost:{}:{}:{}:{}\n",
            t.cluster.port(),
            t.db,
            t.user,
            password.replace('\\', "\\\\").replace(':', "\\:")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn verify_full() -> String {
    let t = tls_cluster();
    t.conninfo(&format!(
        "sslmode=verify-full sslrootcert={}",
        t.ca.display()
    ))
}

fn with_password(conn: &str, password: &str) -> String {
    format!("{conn} password='{}'", password.replace('\'', "\\'"))
}

#[test]
fn a_wrong_password_fails_with_the_servers_message_like_pg_dump() {
    let t = tls_cluster();
    let conn = with_password(&verify_full(), "not-the-password");
    let expected = format!("password authentication failed for user \"{}\"", t.user);
    let stderr = both_fail(&conn, &expected);
    // The target, never the password.
    assert!(
        stderr.contains(&t.db) && stderr.contains("localhost"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    // pg_dump says the same of the same conninfo.
    let home = tempfile::tempdir().unwrap();
    let pg_dump = run(
        cluster()
            .command("pg_dump")
            .env("HOME", home.path())
            .args(["-d", &conn]),
        None,
    );
    assert!(!pg_dump.status.success());
    assert!(
        text(&pg_dump.stderr).contains(&expected),
        "{}",
        text(&pg_dump.stderr)
    );
    // A wrong password from the password file: the same.
    let dir = tempfile::tempdir().unwrap();
    let file = passfile(dir.path(), "also-not-it");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        veil(home.path())
            .env("PGPASSFILE", &file)
            .args(["dump", "--read", "direct", "--dbname", &verify_full()])
            .arg("--out-dir")
            .arg(out_dir.path()),
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );
    assert!(files_in(out_dir.path()).is_empty());
}

/// The right password from PGPASSFILE: the direct read's artifacts (dump) and masked stream
/// (anonymize) are the pg_dump read's.
#[test]
fn the_right_password_from_a_passfile_gives_the_pg_dump_reads_artifacts() {
    let t = tls_cluster();
    let dir = tempfile::tempdir().unwrap();
    let file = passfile(dir.path(), &t.password);
    let home = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let conn = verify_full();
    for (name, read) in [("ref", "pg-dump"), ("direct", "direct")] {
        let out = ok(
            run(
                veil(home.path())
                    .env("PGPASSFILE", &file)
                    .args(["dump", "--read", read, "--jobs", "2", "--dbname", &conn])
                    .arg("--out-dir")
                    .arg(out_dir.path())
                    .args(["--name", name]),
                None,
            ),
            &format!("dump --read {read}"),
        );
        assert!(
            !text(&out.stderr).contains("read through pg_dump"),
            "{}",
            text(&out.stderr)
        );
    }
    let p = |name: &str, ext: &str| out_dir.path().join(format!("{name}{ext}"));
    let read = |path: std::path::PathBuf| std::fs::read(path).unwrap();
    let plain = restrict_free(&gunzip(&read(p("ref", ".gz"))));
    assert!(
        text(&plain).contains("COPY public.users"),
        "the dump has the fixture's data"
    );
    assert_same_text(
        &plain,
        &restrict_free(&gunzip(&read(p("direct", ".gz")))),
        "NAME.gz",
    );
    assert_same_text(
        &restrict_free(&gunzip(&read(p("ref", ".anon.gz")))),
        &restrict_free(&gunzip(&read(p("direct", ".anon.gz")))),
        "NAME.anon.gz",
    );
    assert_same_text(
        &pg_restore_script(cluster(), &p("ref", ".dump")),
        &pg_restore_script(cluster(), &p("direct", ".dump")),
        "NAME.dump",
    );
    let direct = anonymize_ok(&conn, &[("PGPASSFILE", &file)]);
    let through_pg_dump = ok(
        run(
            veil(home.path()).env("PGPASSFILE", &file).args([
                "anonymize",
                "--read",
                "pg-dump",
                "--dbname",
                &conn,
            ]),
            None,
        ),
        "anonymize --read pg-dump",
    );
    assert_same_text(
        &restrict_free(&through_pg_dump.stdout),
        &restrict_free(&direct),
        "the masked stream",
    );
}

/// `password=` in the conninfo: every run connects, and no child (pg_dump, psql) has the password
/// on its command line: they get it through PGPASSWORD.
#[test]
fn a_password_in_the_conninfo_reaches_no_child_command_line() {
    let t = tls_cluster();
    let conn = with_password(&verify_full(), &t.password);
    let wrappers = tempfile::tempdir().unwrap();
    let log = wrappers.path().join("calls.log");
    client_wrappers(wrappers.path(), &log);
    let path = format!(
        "{}:{}",
        wrappers.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let rules = out_dir.path().join("rules.toml");
    let watch = CmdlineWatch::start(&t.password);
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "dump",
            vec![
                "dump",
                "--read",
                "direct",
                "--dbname",
                &conn,
                "--out-dir",
                out_dir.path().to_str().unwrap(),
            ],
        ),
        (
            "anonymize",
            vec!["anonymize", "--read", "direct", "--dbname", &conn],
        ),
        ("rules init", vec!["rules", "init", "--dbname", &conn]),
        (
            "rules check",
            vec![
                "rules",
                "check",
                "--dbname",
                &conn,
                "--rules",
                rules.to_str().unwrap(),
            ],
        ),
    ];
    let mut outputs = Vec::new();
    for (what, args) in runs {
        let out = run(veil(home.path()).env("PATH", &path).args(args), None);
        if what == "rules init" {
            // The rule file it writes is the one `rules check` reads next.
            std::fs::write(&rules, &out.stdout).unwrap();
        }
        outputs.push((what, out));
    }
    let (hits, seen) = watch.finish();
    assert!(seen, "the poller never saw pgveil run");
    assert!(
        hits.is_empty(),
        "command lines with the password: {hits:#?}"
    );
    for (what, out) in outputs {
        assert!(!text(&out.stderr).contains(&t.password), "{what}");
        assert!(!text(&out.stdout).contains(&t.password), "{what}");
        ok(out, what);
    }
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains(&format!("ENV pg_dump {}\n", t.password)),
        "pg_dump did not get PGPASSWORD: {calls}"
    );
    for l in calls.lines().filter(|l| l.starts_with("ARGV ")) {
        assert!(!l.contains(&t.password), "password on a command line: {l}");
    }
    // rules check/init ran no psql: pgveil's own client read the catalog.
    assert!(
        !calls.contains("ARGV psql"),
        "rules check/init ran psql: {calls}"
    );
}

#[test]
fn verify_full_checks_the_ca_and_the_host_name() {
    let t = tls_cluster();
    let pw = |conn: String| with_password(&conn, &t.password);
    // The CA that signed the certificate, the name it names: connects.
    let stream = anonymize_ok(&pw(verify_full()), &[]);
    assert!(text(&stream).contains("COPY public.users"));
    // The same as a URI, the password percent-encoded.
    let uri = format!(
        "postgresql://{}:{}@localhost:{}/{}?sslmode=verify-full&sslrootcert={}",
        t.user,
        t.password.replace(' ', "%20").replace('+', "%2B"),
        t.cluster.port(),
        t.db,
        t.ca.display()
    );
    assert!(
        restrict_free(&anonymize_ok(&uri, &[])) == restrict_free(&stream),
        "the URI reads another stream"
    );
    // Another CA: the chain is refused, and the message says so.
    let stderr = both_fail(
        &pw(t.conninfo(&format!(
            "sslmode=verify-full sslrootcert={}",
            t.other_ca.display()
        ))),
        "certificate",
    );
    assert!(
        stderr.contains("not signed by a certificate authority in")
            && stderr.contains("other-ca.crt"),
        "{stderr}"
    );
    // verify-full to 127.0.0.1, the certificate names localhost only.
    let conn = pw(format!(
        "host=127.0.0.1 port={} dbname={} user={} sslmode=verify-full sslrootcert={}",
        t.cluster.port(),
        t.db,
        t.user,
        t.ca.display()
    ));
    let stderr = both_fail(&conn, "127.0.0.1");
    assert!(stderr.contains("localhost"), "{stderr}");
    assert!(stderr.contains("does not match"), "{stderr}");
    // verify-ca to 127.0.0.1: the chain alone is checked, and it holds.
    anonymize_ok(
        &pw(format!(
            "host=127.0.0.1 port={} dbname={} user={} sslmode=verify-ca sslrootcert={}",
            t.cluster.port(),
            t.db,
            t.user,
            t.ca.display()
        )),
        &[],
    );
    // No TLS against a TLS-only pg_hba.conf: the server's refusal.
    both_fail(
        &pw(t.conninfo("sslmode=disable")),
        "no pg_hba.conf entry for host \"127.0.0.1\"",
    );
    let stderr = both_fail(&pw(t.conninfo("sslmode=disable")), "no encryption");
    assert!(!stderr.contains(&t.password), "{stderr}");
    // require without a CA: any certificate, TLS all the same.
    anonymize_ok(&pw(t.conninfo("sslmode=require")), &[]);
    // prefer (libpq's default) takes TLS when offered.
    anonymize_ok(&pw(t.conninfo("")), &[]);
}

/// `rules check` and `rules init` over the password + TLS connection read what they read from the
/// same fixture on the trusted test cluster (through its socket): the same rule file, the same
/// report. A wrong password fails with the server's message.
#[test]
fn rules_check_and_init_read_the_tls_cluster_with_pgveils_client() {
    let t = tls_cluster();
    let home = tempfile::tempdir().unwrap();
    let conn = with_password(&verify_full(), &t.password);
    let reference_db = cluster().load_fixture("rules_tools");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("init.toml");
    let rules = rules.to_str().unwrap();
    for args in [
        vec!["rules", "init", "-v"],
        vec!["rules", "check", "-v", "--rules", rules],
        vec!["rules", "check", "--json", "--rules", rules],
    ] {
        let tls = ok(
            run(
                veil(home.path()).args(&args).args(["--dbname", &conn]),
                None,
            ),
            &format!("{args:?} over TLS"),
        );
        assert!(
            !text(&tls.stderr).contains("psql"),
            "{args:?}: {}",
            text(&tls.stderr)
        );
        let reference = ok(
            run(pgveil().args(&args).args(["--dbname", &reference_db]), None),
            &format!("{args:?} on the test cluster"),
        );
        assert!(
            text(&tls.stdout).contains("Secret Note"),
            "{}",
            text(&tls.stdout)
        );
        assert_eq!(text(&reference.stdout), text(&tls.stdout), "{args:?}");
        if args[1] == "init" {
            std::fs::write(rules, &tls.stdout).unwrap();
        }
    }
    let expected = format!("password authentication failed for user \"{}\"", t.user);
    for args in [
        vec!["rules", "init"],
        vec!["rules", "check", "--rules", rules],
    ] {
        let out = run(
            veil(home.path())
                .args(&args)
                .args(["--dbname", &with_password(&verify_full(), "wrong-one")]),
            None,
        );
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(&expected),
            "{}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
}

/// What pgveil's client cannot honour (here a client certificate, `sslcert`) is read through psql,
/// which does; `-v` says so, and the rule file is the same.
#[test]
fn rules_init_reads_through_psql_what_the_client_cannot_honour() {
    let t = tls_cluster();
    let home = tempfile::tempdir().unwrap();
    let conn = with_password(&verify_full(), &t.password);
    let direct = ok(
        run(
            veil(home.path()).args(["rules", "init", "-v", "--dbname", &conn]),
            None,
        ),
        "rules init",
    );
    // libpq sends no certificate when the file does not exist; pgveil's client never does.
    let with_cert = format!("{conn} sslcert={}", home.path().join("none.crt").display());
    let via_psql = ok(
        run(
            veil(home.path()).args(["rules", "init", "-v", "--dbname", &with_cert]),
            None,
        ),
        "rules init with sslcert",
    );
    let stderr = text(&via_psql.stderr);
    assert!(
        stderr.contains("read through psql") && stderr.contains("sslcert"),
        "{stderr}"
    );
    assert_eq!(text(&direct.stdout), text(&via_psql.stdout));
    // Without -v, nothing is said.
    let quiet = ok(
        run(
            veil(home.path()).args(["rules", "init", "--dbname", &with_cert]),
            None,
        ),
        "rules init with sslcert",
    );
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet.stderr));
    assert_eq!(text(&direct.stdout), text(&quiet.stdout));
}

/// A server asking for GSSAPI (pgveil's client has none): the direct read goes through pg_dump and
/// `rules init` through psql, which try it (and fail here, with libpq's own message: there are no
/// Kerberos credentials), never pgveil's "unsupported authentication method".
#[test]
fn gssapi_authentication_goes_through_libpq() {
    let t = tls_cluster();
    let home = tempfile::tempdir().unwrap();
    let conn = format!(
        "host=localhost port={} dbname={} user=veil_gss_user sslmode=require",
        t.cluster.port(),
        t.db
    );
    let init = run(
        veil(home.path()).args(["rules", "init", "-v", "--dbname", &conn]),
        None,
    );
    let stderr = text(&init.stderr);
    assert!(!init.status.success(), "{stderr}");
    assert!(
        stderr.contains("read through psql") && stderr.contains("GSSAPI"),
        "{stderr}"
    );
    assert!(!stderr.contains("unsupported authentication"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let dump = run(
        veil(home.path())
            .args([
                "dump",
                "--read",
                "direct",
                "-v",
                "--dbname",
                &conn,
                "--out-dir",
            ])
            .arg(dir.path()),
        None,
    );
    let stderr = text(&dump.stderr);
    assert!(!dump.status.success(), "{stderr}");
    assert!(stderr.contains("GSSAPI"), "{stderr}");
    assert!(!stderr.contains("unsupported authentication"), "{stderr}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

/// pgveil's client and psql read the same catalog and the same samples: `rules init` and `rules
/// check --json` print the same through both (psql taken by naming a client certificate file, which
/// libpq ignores on a unix socket), on fixtures with quoted names, odd types and odd values.
#[test]
fn rules_read_the_same_through_pgveils_client_as_through_psql() {
    let c = cluster();
    let home = tempfile::tempdir().unwrap();
    let cert = home.path().join("none.crt");
    for fixture in [
        "edge_cases",
        "kitchen_sink",
        "classification",
        "rules_tools",
    ] {
        let db = c.load_fixture(fixture);
        let via_psql = format!("dbname={db} sslcert={}", cert.display());
        for args in [vec!["rules", "init"], vec!["rules", "check", "--json"]] {
            let client = run(
                veil(home.path()).args(&args).args(["-v", "--dbname", &db]),
                None,
            );
            let psql = run(
                veil(home.path())
                    .args(&args)
                    .args(["-v", "--dbname", &via_psql]),
                None,
            );
            assert!(
                text(&psql.stderr).contains("read through psql"),
                "{}",
                text(&psql.stderr)
            );
            assert!(
                !text(&client.stderr).contains("psql"),
                "{}",
                text(&client.stderr)
            );
            assert_eq!(
                client.status.code(),
                psql.status.code(),
                "{fixture} {args:?}"
            );
            assert!(!client.stdout.is_empty(), "{fixture} {args:?}");
            assert_eq!(
                text(&client.stdout),
                text(&psql.stdout),
                "{fixture} {args:?}"
            );
        }
    }
}
