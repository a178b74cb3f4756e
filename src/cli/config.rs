//! `pgveil config`: tooling around `pgveil serve`'s configuration and packaging. `check` (validate a
//! configuration, show each job's next runs), `example` (a commented starting point), `systemd`
//! (a hardened unit for the service, or a oneshot service + timer running `pgveil dump` for one
//! job), `completions` (shell completions) and `man` (a man page), the last two generated from the
//! clap definitions.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use pgveil::serve::config::{JobConfig, ServeConfig, DEFAULT_STATE, EXAMPLE};

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check a `pgveil serve` configuration: exit 0 with a summary (jobs, their next 3 runs), or
    /// exit 1 with every problem as FILE:LINE: what.
    Check {
        /// The configuration file (TOML).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print a commented configuration to start from (`pgveil config example > pgveil.toml`).
    Example,
    /// Print a systemd unit running `pgveil serve` for a configuration (or, with --timer, a oneshot
    /// service and a timer running `pgveil dump` for one of its jobs, without the service).
    Systemd(SystemdArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print pgveil's man page (roff), e.g. `pgveil config man > /usr/local/share/man/man1/pgveil.1`.
    Man,
}

#[derive(Debug, clap::Args)]
pub struct SystemdArgs {
    /// The service's configuration (checked; its state and out_dir folders become writable).
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// The pgveil binary the unit runs (default: this one).
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// The dedicated user (and group) the unit runs as.
    #[arg(long, default_value = "pgveil")]
    user: String,
    /// A oneshot service + timer running `pgveil dump` for one job, instead of the service.
    #[arg(long)]
    timer: bool,
    /// The job of --timer (default: the configuration's only job).
    #[arg(long, requires = "timer")]
    job: Option<String>,
    /// The timer's OnCalendar= (default: the job's schedule, translated).
    #[arg(long, requires = "timer", value_name = "SPEC")]
    on_calendar: Option<String>,
    /// Write the unit files into this folder (printing their paths) instead of printing them.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,
}

pub fn run(cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Check { config } => check(&config),
        ConfigCommand::Example => {
            print!("{EXAMPLE}");
            Ok(())
        }
        ConfigCommand::Systemd(args) => systemd(&args),
        ConfigCommand::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = super::Cli::command();
            clap_complete::generate(shell, &mut cmd, "pgveil", &mut std::io::stdout());
            Ok(())
        }
        ConfigCommand::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(super::Cli::command())
                .render(&mut std::io::stdout())
                .context("writing the man page")
        }
    }
}

fn check(path: &Path) -> anyhow::Result<()> {
    let config = ServeConfig::load(path)?;
    let now = jiff::Timestamp::now();
    let mut out = String::new();
    let server = &config.server;
    let tokens = match &server.tokens {
        None => "no tokens (loopback only, no authentication)".to_string(),
        Some(t) => {
            let (read, admin) = t.counts();
            let from = match &server.tokens_file {
                Some(f) => f.display().to_string(),
                None => pgveil::serve::auth::TOKENS_ENV.to_string(),
            };
            format!("{read} read and {admin} admin token(s) from {from}")
        }
    };
    writeln!(out, "{}: OK, {} job(s)", path.display(), config.jobs.len())?;
    writeln!(
        out,
        "server: listen {}, {tokens}, state {}",
        server.listen,
        server.state.display()
    )?;
    for job in &config.jobs {
        writeln!(out, "job {}: {}", job.name, describe_job(job))?;
        match &job.schedule {
            None => writeln!(out, "  no schedule (runs when triggered through the API)")?,
            Some(s) => {
                writeln!(
                    out,
                    "  schedule {:?} in {}; next runs:",
                    s.expression(),
                    s.zone_name()
                )?;
                for run in s.next_runs(now, 3) {
                    writeln!(
                        out,
                        "    {} ({})",
                        run.strftime("%Y-%m-%d %H:%M:%S %Z"),
                        run.timestamp()
                    )?;
                }
            }
        }
    }
    print!("{out}");
    Ok(())
}

fn describe_job(job: &JobConfig) -> String {
    let outputs: Vec<&str> = job.outputs.iter().map(|o| o.as_str()).collect();
    let mut places = Vec::new();
    if let Some(d) = &job.out_dir {
        let keep = job
            .keep_local
            .map(|k| format!(", keep {k}"))
            .unwrap_or_default();
        places.push(format!("{}{keep}", d.display()));
    }
    if let Some(u) = &job.upload {
        let keep = job
            .keep_remote
            .map(|k| format!(", keep {k}"))
            .unwrap_or_default();
        places.push(format!("{u}{keep}"));
    }
    let mut s = format!(
        "database {}; {} to {}",
        job.dbname,
        outputs.join(", "),
        places.join(" and ")
    );
    if let Some(days) = job.freeze_after_days {
        write!(
            s,
            "; local copies freed after {days} day(s) once verified remotely"
        )
        .ok();
    }
    if job.backup_on_start {
        s.push_str("; a backup at start");
    }
    if !job.restore_targets.is_empty() {
        write!(s, "; {} restore target(s)", job.restore_targets.len()).ok();
    }
    s
}

/// One argument of an `ExecStart=` line: quoted when needed; `%` and `$` escaped (systemd would
/// expand specifiers and variables).
fn exec_arg(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@+-".contains(c));
    let quoted = if plain {
        arg.to_string()
    } else {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    };
    quoted.replace('%', "%%").replace('$', "$$")
}

fn path_arg(p: &Path) -> String {
    exec_arg(&p.display().to_string())
}

/// Hardening shared by the service and the timer's oneshot service.
fn hardening(user: &str, writable: &[PathBuf], state_dir: bool) -> String {
    let mut s = String::new();
    writeln!(s, "# A dedicated user: useradd --system --home-dir /var/lib/pgveil --shell /usr/sbin/nologin {user}").ok();
    writeln!(s, "User={user}\nGroup={user}").ok();
    writeln!(s, "# Passwords: the user's ~/.pgpass, or PGPASSFILE / PGPASSWORD here (Environment=, EnvironmentFile=);\n# tokens (PGVEIL_TOKENS), masking key (PGVEIL_KEY) and AWS credentials likewise.").ok();
    writeln!(s, "EnvironmentFile=-/etc/pgveil/environment").ok();
    writeln!(s, "UMask=0077").ok();
    if state_dir {
        writeln!(
            s,
            "# /var/lib/pgveil, created and owned by User= (the state database)."
        )
        .ok();
        writeln!(s, "StateDirectory=pgveil").ok();
    }
    if !writable.is_empty() {
        writeln!(
            s,
            "# The only writable places (create them first, owned by {user})."
        )
        .ok();
        let list: Vec<String> = writable.iter().map(|p| path_arg(p)).collect();
        writeln!(s, "ReadWritePaths={}", list.join(" ")).ok();
    }
    s.push_str(
        "ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
",
    );
    s
}

fn service_unit(config: &ServeConfig, binary: &Path, user: &str) -> String {
    let state = &config.server.state;
    let state_dir = state.starts_with(Path::new(DEFAULT_STATE).parent().expect("has a folder"));
    let mut writable: Vec<PathBuf> = Vec::new();
    if !state_dir {
        writable.push(state.parent().unwrap_or(Path::new("/")).to_path_buf());
    }
    for job in &config.jobs {
        if let Some(d) = &job.out_dir {
            if !writable.contains(d) {
                writable.push(d.clone());
            }
        }
    }
    let config_path = std::path::absolute(&config.path).unwrap_or_else(|_| config.path.clone());
    format!(
        "# pgveil serve: scheduled backups and their REST API (printed by `pgveil config systemd`).
[Unit]
Description=pgveil backup service
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart={} serve --config {}
Restart=on-failure
RestartSec=10s
# SIGTERM cancels running tasks cleanly (uploads aborted, partial files removed): give it time.
KillMode=mixed
TimeoutStopSec=5min
{}
[Install]
WantedBy=multi-user.target
",
        path_arg(binary),
        path_arg(&config_path),
        hardening(user, &writable, state_dir),
    )
}

/// The `pgveil dump` command line of a job, for the timer's oneshot service.
fn dump_command(binary: &Path, job: &JobConfig) -> String {
    let mut args: Vec<String> = vec![
        binary.display().to_string(),
        "dump".into(),
        "--dbname".into(),
        job.dbname.clone(),
        "--name".into(),
        job.name.clone(),
        "--set".into(),
    ];
    if let Some(d) = &job.out_dir {
        args.extend(["--out-dir".into(), d.display().to_string()]);
    }
    if let Some(u) = &job.upload {
        args.extend(["--upload".into(), u.clone()]);
    }
    if let Some(e) = &job.endpoint_url {
        args.extend(["--endpoint-url".into(), e.clone()]);
    }
    if let Some(k) = job.keep_local {
        args.extend(["--keep-local".into(), k.to_string()]);
    }
    if let Some(k) = job.keep_remote {
        args.extend(["--keep-remote".into(), k.to_string()]);
    }
    for r in &job.rules {
        args.extend(["--rules".into(), r.display().to_string()]);
    }
    if let Some(k) = &job.key_file {
        args.extend(["--key-file".into(), k.display().to_string()]);
    }
    if job.labels {
        args.push("--labels".into());
    }
    let outputs: Vec<&str> = job.outputs.iter().map(|o| o.as_str()).collect();
    args.extend(["--outputs".into(), outputs.join(",")]);
    args.extend(["--custom-data".into(), job.custom_data.as_str().into()]);
    if !job.pg_dump_args.is_empty() {
        args.push("--".into());
        args.extend(job.pg_dump_args.iter().cloned());
    }
    args.iter()
        .map(|a| exec_arg(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn timer_units(job: &JobConfig, binary: &Path, user: &str, on_calendar: &str) -> (String, String) {
    let writable: Vec<PathBuf> = job.out_dir.iter().cloned().collect();
    let freeze = if job.freeze_after_days.is_some() {
        "# freeze_after_days is applied by `pgveil serve` only.\n"
    } else {
        ""
    };
    let service = format!(
        "# pgveil dump of job {name}, run by pgveil-dump-{name}.timer (printed by `pgveil config systemd --timer`).
[Unit]
Description=pgveil dump of {name}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
{freeze}ExecStart={cmd}
# SIGTERM undoes what the run had started (no partial files, uploads aborted).
TimeoutStopSec=5min
{hardening}",
        name = job.name,
        cmd = dump_command(binary, job),
        hardening = hardening(user, &writable, false),
    );
    let timer = format!(
        "# Starts pgveil-dump-{name}.service (printed by `pgveil config systemd --timer`).
[Unit]
Description=pgveil dump of {name}, on schedule

[Timer]
OnCalendar={on_calendar}
# Runs missed while the machine was off are not made up (as `pgveil serve`).
Persistent=false
AccuracySec=1s

[Install]
WantedBy=timers.target
",
        name = job.name,
    );
    (service, timer)
}

fn systemd(args: &SystemdArgs) -> anyhow::Result<()> {
    let config = ServeConfig::load(&args.config)?;
    let binary = match &args.binary {
        Some(b) => std::path::absolute(b).context("the --binary path")?,
        None => std::env::current_exe().context("finding this program's path")?,
    };
    let files: Vec<(String, String)> = if args.timer {
        let job = match &args.job {
            Some(name) => config
                .job(name)
                .with_context(|| format!("no job {name:?} in {}", args.config.display()))?,
            None if config.jobs.len() == 1 => &config.jobs[0],
            None => {
                let names: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
                bail!("--timer needs --job: one of {}", names.join(", "));
            }
        };
        let on_calendar = match (&args.on_calendar, &job.schedule) {
            (Some(spec), _) => spec.clone(),
            (None, Some(s)) => on_calendar(s.expression(), s.zone_name()).with_context(|| {
                format!(
                    "the schedule {:?} of job {} has no OnCalendar= equivalent pgveil can write: give --on-calendar",
                    s.expression(),
                    job.name
                )
            })?,
            (None, None) => bail!("job {} has no schedule: give --on-calendar", job.name),
        };
        let (service, timer) = timer_units(job, &binary, &args.user, &on_calendar);
        vec![
            (format!("pgveil-dump-{}.service", job.name), service),
            (format!("pgveil-dump-{}.timer", job.name), timer),
        ]
    } else {
        vec![(
            "pgveil.service".to_string(),
            service_unit(&config, &binary, &args.user),
        )]
    };
    match &args.write {
        Some(dir) => {
            for (name, text) in &files {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", path.display());
            }
        }
        None => {
            let many = files.len() > 1;
            for (name, text) in &files {
                if many {
                    println!("# ---- {name}");
                }
                print!("{text}");
            }
        }
    }
    Ok(())
}

/// A cron expression with seconds as systemd's `OnCalendar=` (`DOW YYYY-MM-DD HH:MM:SS ZONE`), for
/// the fields both can say: `*`, numbers, lists, ranges and `*/N` steps; weekday and month names.
/// `None` for the rest (L, W, #, stepped ranges, day-of-month and day-of-week both restricted, which
/// cron ORs and systemd ANDs).
pub fn on_calendar(expression: &str, zone: &str) -> Option<String> {
    let expanded = match expression.trim() {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 0",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        other => other,
    };
    let f: Vec<&str> = expanded.split_whitespace().collect();
    let [sec, min, hour, dom, month, dow] = f[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let month_num = |s: &str| -> Option<String> {
        match MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s)) {
            Some(i) => Some(format!("{:02}", i + 1)),
            None => s.parse::<u8>().ok().map(|n| format!("{n:02}")),
        }
    };
    let num = |s: &str| s.parse::<u8>().ok().map(|n| format!("{n:02}"));
    let field = |s: &str, first: &str, one: &dyn Fn(&str) -> Option<String>| -> Option<String> {
        if s == "*" || s == "?" {
            return Some("*".into());
        }
        let items: Option<Vec<String>> = s
            .split(',')
            .map(|item| {
                if let Some(step) = item.strip_prefix("*/") {
                    let n: u8 = step.parse().ok()?;
                    return Some(format!("{first}/{n}"));
                }
                match item.split_once('-') {
                    Some((a, b)) => Some(format!("{}..{}", one(a)?, one(b)?)),
                    None => one(item),
                }
            })
            .collect();
        Some(items?.join(","))
    };
    let day_name = |s: &str| -> Option<String> {
        let i = match DAYS.iter().position(|d| d.eq_ignore_ascii_case(s)) {
            Some(i) => i,
            None => usize::from(s.parse::<u8>().ok().filter(|n| *n <= 7)?) % 7,
        };
        let d = DAYS[i];
        Some(format!("{}{}", &d[..1], d[1..].to_ascii_lowercase()))
    };
    let dom_restricted = !(dom == "*" || dom == "?");
    let dow_restricted = !(dow == "*" || dow == "?");
    if dom_restricted && dow_restricted {
        return None;
    }
    let weekdays = if dow_restricted {
        if dow.contains('/') {
            return None;
        }
        format!("{} ", field(dow, "", &day_name)?)
    } else {
        String::new()
    };
    Some(format!(
        "{weekdays}*-{}-{} {}:{}:{} {zone}",
        field(month, "01", &month_num)?,
        field(dom, "01", &num)?,
        field(hour, "00", &num)?,
        field(min, "00", &num)?,
        field(sec, "00", &num)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::on_calendar;

    #[test]
    fn cron_to_on_calendar() {
        let t = |e: &str| on_calendar(e, "Europe/Berlin");
        assert_eq!(t("0 0 3 * * *").unwrap(), "*-*-* 03:00:00 Europe/Berlin");
        assert_eq!(
            t("30 */15 1-5 * JAN,jul MON-FRI").unwrap(),
            "Mon..Fri *-01,07-* 01..05:00/15:30 Europe/Berlin"
        );
        assert_eq!(t("0 0 0 1 * *").unwrap(), "*-*-01 00:00:00 Europe/Berlin");
        assert_eq!(t("@weekly").unwrap(), "Sun *-*-* 00:00:00 Europe/Berlin");
        assert_eq!(
            t("0 0 0 * * 7").unwrap(),
            "Sun *-*-* 00:00:00 Europe/Berlin"
        );
        assert!(t("0 0 0 L * *").is_none());
        assert!(t("0 0 0 1 * MON").is_none());
        assert!(t("0 0 0 * * 5#2").is_none());
        assert!(t("0 0 1-10/2 * * *").is_none());
    }
}
