//! `pgveil config`: `check` of `pgveil serve` configurations (a summary with the next runs, or
//! every problem as FILE:LINE), `example` (accepted by `check`), `systemd` (units that
//! `systemd-analyze verify` accepts), `completions` and `man`. These need no database.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The pgveil binary, without the test cluster's environment (none of this needs a database) and
/// without tokens from the environment unless a test sets them.
fn pgveil() -> Command {
    let bin = std::env::var_os("PGVEIL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pgveil")));
    let mut cmd = Command::new(bin);
    cmd.env_remove("PGVEIL_TOKENS");
    cmd
}

fn bin_path() -> PathBuf {
    let p = std::env::var_os("PGVEIL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pgveil")));
    std::path::absolute(p).unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn check(path: &Path) -> Output {
    support::run(
        pgveil().args(["config", "check", "--config"]).arg(path),
        None,
    )
}

/// A folder with `pgveil.toml` holding `text`.
fn config_with(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pgveil.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

const JOB: &str = r#"[[job]]
name = "shop"
dbname = "postgresql://backup@db.internal/shop"
out_dir = "/var/backups/pgveil"
schedule = "0 0 3 * * *"
timezone = "Europe/Berlin"
"#;

/// `check` fails (exit 1) and its stderr holds `want` (with FILE replaced by the path).
fn assert_refused(text: &str, want: &str) -> String {
    let (_dir, path) = config_with(text);
    let out = check(&path);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let want = want.replace("FILE", &path.display().to_string());
    assert!(
        err.contains(&want),
        "stderr should contain {want:?}:\n{err}"
    );
    err
}

#[test]
fn the_example_passes_check_and_shows_the_next_runs() {
    let out = support::run_ok(pgveil().args(["config", "example"]), None, "config example");
    let example = stdout(&out);
    assert!(example.contains("[[job]]") && example.contains("[server]"));
    let (_dir, path) = config_with(&example);
    let out = check(&path);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("OK, 1 job(s)"), "{text}");
    assert!(text.contains("server: listen 127.0.0.1:8432"), "{text}");
    assert!(
        text.contains("job shop: database postgresql://backup@db.internal/shop"),
        "{text}"
    );
    assert!(
        text.contains("schedule \"0 0 3 * * *\" in Europe/Berlin; next runs:"),
        "{text}"
    );
    // Three runs at 03:00 Berlin time, i.e. 01:00 or 02:00 UTC.
    let runs: Vec<&str> = text.lines().filter(|l| l.starts_with("    ")).collect();
    assert_eq!(runs.len(), 3, "{text}");
    for r in runs {
        assert!(r.contains(" 03:00:00 CE"), "{r}");
        assert!(r.contains("T01:00:00Z") || r.contains("T02:00:00Z"), "{r}");
    }
}

#[test]
fn a_typo_in_a_key_names_its_line() {
    assert_refused(
        &format!("{JOB}keep_locl = 3\n"),
        "FILE:7: unknown field `keep_locl`",
    );
    assert_refused(
        &format!("[server]\nlisten = \"127.0.0.1:1\"\nstat = \"x\"\n{JOB}"),
        "FILE:3: unknown field `stat`",
    );
}

#[test]
fn a_bad_cron_expression_names_its_line() {
    let text = JOB.replace("0 0 3 * * *", "0 3 * * *");
    assert_refused(
        &text,
        "FILE:5: job \"shop\": schedule: not a cron expression with seconds",
    );
    let text = JOB.replace("0 0 3 * * *", "0 0 27 * * *");
    assert_refused(&text, "FILE:5: job \"shop\": schedule:");
}

#[test]
fn a_bad_time_zone_names_its_line() {
    let text = JOB.replace("Europe/Berlin", "Europe/Berlim");
    assert_refused(
        &text,
        "FILE:6: job \"shop\": timezone: unknown time zone \"Europe/Berlim\"",
    );
}

#[test]
fn a_non_loopback_listen_address_needs_tokens() {
    let text = format!("[server]\nlisten = \"0.0.0.0:8432\"\n{JOB}");
    assert_refused(
        &text,
        "FILE:2: server.listen: 0.0.0.0:8432 is not a loopback address: it needs tokens",
    );
    // With PGVEIL_TOKENS in the environment, accepted.
    let (_dir, path) = config_with(&text);
    let out = support::run(
        pgveil()
            .args(["config", "check", "--config"])
            .arg(&path)
            .env(
                "PGVEIL_TOKENS",
                "read r-0123456789abcdef; admin a-0123456789abcdef",
            ),
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 read and 1 admin token(s) from PGVEIL_TOKENS"));

    // With a tokens file: refused while others may read it, accepted at 0600; never quoted.
    let (dir, path) = config_with(&format!(
        "[server]\nlisten = \"0.0.0.0:8432\"\ntokens_file = \"tokens\"\n{JOB}"
    ));
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "# ops\nadmin a-secret-0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check(&path);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:3: server.tokens_file:", path.display())),
        "{err}"
    );
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = check(&path);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(
        &tokens,
        "admin a-secret-0123456789abcdef\nwriter x-secret-0123456789abcdef\n",
    )
    .unwrap();
    let out = check(&path);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:2: unknown role", tokens.display())),
        "{err}"
    );
    assert!(!err.contains("secret-0123"), "{err}");
}

#[test]
fn a_duplicate_job_names_both_lines() {
    assert_refused(
        &format!("{JOB}\n{JOB}"),
        "FILE:9: job \"shop\": a second job of this name (the first is on line 2)",
    );
}

#[test]
fn a_password_inline_is_refused_and_not_repeated() {
    let text = JOB.replace("backup@db", "backup:hunter2-pw@db");
    let err = assert_refused(&text, "FILE:3: job \"shop\": dbname: holds a password");
    assert!(!err.contains("hunter2-pw"), "{err}");
    let text = format!("{JOB}restore_targets = [\"dbname=dev password=hunter2-pw\"]\n");
    let err = assert_refused(
        &text,
        "FILE:7: job \"shop\": restore_targets: holds a password",
    );
    assert!(!err.contains("hunter2-pw"), "{err}");
}

#[test]
fn several_problems_are_reported_together() {
    let text = format!(
        "{}keep_local = 0\nrules = [\"missing.toml\"]\n",
        JOB.replace("Europe/Berlin", "Nowhere")
    );
    let err = assert_refused(&text, "FILE:6: job \"shop\": timezone");
    assert!(
        err.contains("pgveil.toml:7: job \"shop\": keep_local: must be at least 1"),
        "{err}"
    );
    assert!(
        err.contains("pgveil.toml:8: job \"shop\": rules: no such file"),
        "{err}"
    );
}

/// Runs `systemd-analyze verify` on unit files; a machine without it fails the test (`.ci/test`
/// installs systemd).
fn systemd_verify(files: &[PathBuf]) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze is needed for this test (apt install systemd): {e}")
        });
    let err = stderr(&out);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{err}"
    );
    // verify reports some problems as warnings with status 0: none may concern our units.
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(
            !err.contains(&*name),
            "systemd-analyze verify complains:\n{err}"
        );
    }
}

#[test]
fn the_systemd_units_verify() {
    let (dir, path) = config_with(&format!(
        "[server]\nstate = \"/var/lib/pgveil/state.db\"\n{JOB}upload = \"s3://b/db/\"\nkeep_local = 3\npg_dump_args = [\"--exclude-table-data=audit 100%\"]\n"
    ));
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let out = support::run_ok(
        pgveil()
            .args(["config", "systemd", "--config"])
            .arg(&path)
            .arg("--binary")
            .arg(bin_path())
            .arg("--write")
            .arg(&units),
        None,
        "config systemd",
    );
    let service = units.join("pgveil.service");
    assert_eq!(stdout(&out).trim(), service.display().to_string());
    let text = std::fs::read_to_string(&service).unwrap();
    for want in [
        &format!(
            "ExecStart={} serve --config {}",
            bin_path().display(),
            path.display()
        ),
        "User=pgveil",
        "ProtectSystem=strict",
        "StateDirectory=pgveil",
        "ReadWritePaths=/var/backups/pgveil",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "TimeoutStopSec=5min",
    ] {
        assert!(text.contains(want), "{want:?} missing in:\n{text}");
    }
    systemd_verify(&[service]);

    let out = support::run_ok(
        pgveil()
            .args(["config", "systemd", "--timer", "--config"])
            .arg(&path)
            .arg("--binary")
            .arg(bin_path())
            .arg("--write")
            .arg(&units),
        None,
        "config systemd --timer",
    );
    let written: Vec<PathBuf> = stdout(&out).lines().map(PathBuf::from).collect();
    assert_eq!(
        written,
        [
            units.join("pgveil-dump-shop.service"),
            units.join("pgveil-dump-shop.timer")
        ]
    );
    let service = std::fs::read_to_string(&written[0]).unwrap();
    assert!(service.contains("Type=oneshot"), "{service}");
    assert!(
        service.contains(&format!(
            "ExecStart={} dump --dbname postgresql://backup@db.internal/shop --name shop --set --out-dir /var/backups/pgveil --upload s3://b/db/ --keep-local 3 --outputs plain,anon,custom --custom-data full -- \"--exclude-table-data=audit 100%%\"",
            bin_path().display()
        )),
        "{service}"
    );
    let timer = std::fs::read_to_string(&written[1]).unwrap();
    assert!(
        timer.contains("OnCalendar=*-*-* 03:00:00 Europe/Berlin"),
        "{timer}"
    );
    systemd_verify(&written);

    // A schedule with lists, ranges, steps and names translates to an OnCalendar= systemd takes;
    // one it cannot say (the last day of the month) is refused, naming --on-calendar.
    let (dir, path) = config_with(&JOB.replace("0 0 3 * * *", "30 */15 1-5 * JAN,jul MON-FRI"));
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let out = support::run_ok(
        pgveil()
            .args(["config", "systemd", "--timer", "--job", "shop", "--config"])
            .arg(&path)
            .arg("--binary")
            .arg(bin_path())
            .arg("--write")
            .arg(&units),
        None,
        "config systemd --timer (ranges)",
    );
    let written: Vec<PathBuf> = stdout(&out).lines().map(PathBuf::from).collect();
    let timer = std::fs::read_to_string(&written[1]).unwrap();
    assert!(
        timer.contains("OnCalendar=Mon..Fri *-01,07-* 01..05:00/15:30 Europe/Berlin"),
        "{timer}"
    );
    systemd_verify(&written);
    let (_dir, path) = config_with(&JOB.replace("0 0 3 * * *", "0 0 3 L * *"));
    let out = support::run(
        pgveil()
            .args(["config", "systemd", "--timer", "--config"])
            .arg(&path),
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("give --on-calendar"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_and_man_page() {
    let out = support::run_ok(
        pgveil().args(["config", "completions", "bash"]),
        None,
        "config completions bash",
    );
    let text = stdout(&out);
    for sub in [
        "dump", "restore", "verify", "backups", "config", "check", "systemd",
    ] {
        assert!(text.contains(sub), "bash completions lack {sub}");
    }
    let out = support::run_ok(pgveil().args(["config", "man"]), None, "config man");
    let text = stdout(&out);
    // roff's definition of the apostrophe string (`.ie`/`.el`, two lines) comes first, then the title.
    let first = text
        .lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .unwrap_or_default();
    assert!(
        first.starts_with(".TH pgveil 1"),
        "{}",
        &text[..300.min(text.len())]
    );
    assert!(text.contains("SUBCOMMANDS"), "no subcommands section");
}

/// The timer's oneshot service runs a `pgveil dump` that works: its ExecStart=, run by hand against
/// a real database, writes a complete backup set into the job's out_dir.
#[test]
fn the_timer_service_runs_a_working_dump() {
    let cluster = support::cluster();
    let db = cluster.create_db("serve_timer");
    cluster.psql(
        &db,
        "CREATE TABLE t (id int PRIMARY KEY, email text); INSERT INTO t SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 50) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("backups");
    let path = dir.path().join("pgveil.toml");
    std::fs::write(
        &path,
        format!(
            "[[job]]\nname = \"timed\"\ndbname = \"{db}\"\nout_dir = \"backups\"\nkeep_local = 2\nschedule = \"0 0 3 * * *\"\n"
        ),
    )
    .unwrap();
    let out = support::run_ok(
        pgveil()
            .args(["config", "systemd", "--timer", "--config"])
            .arg(&path)
            .arg("--binary")
            .arg(bin_path()),
        None,
        "config systemd --timer",
    );
    let units = stdout(&out);
    let exec = units
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart= line");
    // Nothing in this job needs quoting, so the words are the arguments.
    assert!(!exec.contains('"'), "{exec}");
    let words: Vec<&str> = exec.split(' ').collect();
    assert_eq!(Path::new(words[0]), bin_path());
    assert!(
        exec.contains(&format!("--out-dir {}", out_dir.display())),
        "{exec}"
    );
    let mut cmd = support::pgveil();
    cmd.args(&words[1..]);
    support::run_ok(&mut cmd, None, "the timer's pgveil dump");
    // One set NAME/STAMP/ with its manifest last and the three artifacts.
    let sets: Vec<PathBuf> = std::fs::read_dir(out_dir.join("timed"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sets.len(), 1, "{sets:?}");
    let mut files: Vec<String> = std::fs::read_dir(&sets[0])
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "timed.anon.gz",
            "timed.dump",
            "timed.gz",
            "timed.manifest.json"
        ]
    );
}
