//! pgveil's own connection to PostgreSQL (tokio-postgres) for the direct read: the `--dbname`
//! connection string or URI as [`ConnInfo`] parsed it, completed as libpq completes it (the `PG*`
//! variables, the password file), and the session settings pg_dump uses, so that a `COPY … TO
//! STDOUT` here gives the bytes pg_dump's gives.
//!
//! TLS is rustls ([`super::tls`]) with libpq's `sslmode` meanings. What libpq would do and this
//! client cannot (a service file, client certificates, GSSAPI: asked for, or the server's
//! authentication method) is [`DirectError::Unsupported`]: the caller reads
//! through pg_dump instead, which does it. A connection that fails is [`DirectError::Connect`]
//! carrying the server's (or the network's) own message.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::{SslMode, TargetSessionAttrs};
use tokio_postgres::{Client, Config};

use super::tls::{self, RustlsConnect, Verify};
use super::DirectError;
use crate::input::conninfo::ConnInfo;

/// Where libpq looks for the server's socket when no host is given (Debian's and PGDG's builds).
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// Connection parameters pgveil's client honours; any other parameter (or its variable) sends
/// the read through pg_dump. Parameters without effect on what is read are accepted.
const SUPPORTED: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "options",
    "application_name",
    "fallback_application_name",
    "connect_timeout",
    "sslmode",
    "sslrootcert",
    "sslsni",
    "client_encoding",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "target_session_attrs",
    "passfile",
    "gssencmode",
    "sslcompression",
];

/// Variables that make libpq do something this client does not.
const UNSUPPORTED_VARS: &[&str] = &["PGSERVICE", "PGSSLCERT", "PGSSLKEY", "PGREQUIREPEER"];

/// A connection target: the tokio-postgres configuration and a description for messages.
#[derive(Clone)]
pub struct Target {
    pub config: Config,
    pub describe: String,
    tls: RustlsConnect,
}

impl Target {
    /// The TLS connector (libpq's `sslmode` and root file).
    pub fn tls(&self) -> &RustlsConnect {
        &self.tls
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The configuration libpq would build from `conn` (None: the `PG*` defaults alone).
pub fn target(conn: Option<&ConnInfo>) -> Result<Target, DirectError> {
    let params: Vec<(&str, &str)> = conn.map(ConnInfo::params).unwrap_or_default();
    for (k, _) in &params {
        if !SUPPORTED.contains(k) {
            return Err(DirectError::Unsupported(format!(
                "the connection parameter `{k}`"
            )));
        }
    }
    for v in UNSUPPORTED_VARS {
        if env(v).is_some() {
            return Err(DirectError::Unsupported(format!("the variable {v}")));
        }
    }
    if conn.is_some_and(ConnInfo::has_sslpassword) {
        return Err(DirectError::Unsupported("an sslpassword".into()));
    }
    let param = |key: &str| -> Option<String> {
        params
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty())
    };
    let get = |key: &str, var: &str| param(key).or_else(|| env(var));
    let rootcert = get("sslrootcert", "PGSSLROOTCERT").or_else(tls::default_rootcert);
    let client_cert =
        env("HOME").map(|h| PathBuf::from(h).join(".postgresql").join("postgresql.crt"));
    if client_cert.is_some_and(|c| c.is_file()) {
        return Err(DirectError::Unsupported(
            "a client certificate (~/.postgresql/postgresql.crt)".into(),
        ));
    }
    // Without a root file libpq checks no certificate in the modes below verify-ca; with one it
    // checks the chain.
    let weak = if rootcert.is_some() {
        Verify::Chain
    } else {
        Verify::Nothing
    };
    let (mode, verify) = match get("sslmode", "PGSSLMODE").as_deref() {
        Some("disable") => (SslMode::Disable, Verify::Nothing),
        None | Some("allow" | "prefer") => (SslMode::Prefer, weak),
        Some("require") => (SslMode::Require, weak),
        Some("verify-ca") => (SslMode::Require, Verify::Chain),
        Some("verify-full") => (SslMode::Require, Verify::ChainAndName),
        Some(other) => return Err(DirectError::Invalid(format!("invalid sslmode {other:?}"))),
    };
    let tls = tls::connector(verify, rootcert.as_deref())?;
    if get("gssencmode", "PGGSSENCMODE").as_deref() == Some("require") {
        return Err(DirectError::Unsupported("gssencmode=require".into()));
    }
    let mut config = Config::new();
    config.ssl_mode(mode);
    let hosts: Vec<String> = get("host", "PGHOST")
        .map(|h| h.split(',').map(str::to_string).collect())
        .unwrap_or_else(|| vec![String::new()]);
    let hostaddrs: Vec<String> = get("hostaddr", "PGHOSTADDR")
        .map(|h| h.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let ports: Vec<u16> = match get("port", "PGPORT") {
        None => vec![5432],
        Some(p) => p
            .split(',')
            .map(|p| match p.trim() {
                "" => Ok(5432),
                p => p.parse::<u16>(),
            })
            .collect::<Result<_, _>>()
            .map_err(|_| DirectError::Invalid("the port is not a number".into()))?,
    };
    let mut described = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let addr = hostaddrs.get(i).filter(|a| !a.is_empty());
        let host = if host.is_empty() && addr.is_none() {
            DEFAULT_SOCKET_DIR.to_string()
        } else {
            host.clone()
        };
        if host.starts_with('/') {
            config.host_path(&host);
        } else if !host.is_empty() {
            config.host(&host);
        }
        if let Some(a) = addr {
            let ip = a
                .parse()
                .map_err(|_| DirectError::Invalid(format!("hostaddr {a:?} is not an address")))?;
            if host.is_empty() {
                config.host(a);
            }
            config.hostaddr(ip);
        }
        // With a hostaddr alone, libpq names (and looks the password file up by) the address.
        described.push(match addr {
            Some(a) if host.is_empty() => a.clone(),
            _ => host,
        });
    }
    let ports = match ports.len() {
        1 => vec![ports[0]; hosts.len()],
        n if n == hosts.len() => ports,
        _ => {
            return Err(DirectError::Invalid(
                "the number of ports does not match the number of hosts".into(),
            ))
        }
    };
    for p in &ports {
        config.port(*p);
    }
    let user = get("user", "PGUSER").unwrap_or_else(os_user);
    let dbname = get("dbname", "PGDATABASE").unwrap_or_else(|| user.clone());
    config.user(&user).dbname(&dbname);
    if let Some(o) = get("options", "PGOPTIONS") {
        config.options(o);
    }
    config.application_name(
        get("application_name", "PGAPPNAME")
            .or_else(|| param("fallback_application_name"))
            .unwrap_or_else(|| "pgveil".into()),
    );
    if let Some(t) = get("connect_timeout", "PGCONNECT_TIMEOUT") {
        let secs: u64 = t
            .trim()
            .parse()
            .map_err(|_| DirectError::Invalid("connect_timeout is not a number".into()))?;
        if secs > 0 {
            config.connect_timeout(Duration::from_secs(secs.max(2)));
        }
    }
    match get("target_session_attrs", "PGTARGETSESSIONATTRS").as_deref() {
        None | Some("any") => {}
        Some("read-write") => {
            config.target_session_attrs(TargetSessionAttrs::ReadWrite);
        }
        Some(other) => {
            return Err(DirectError::Unsupported(format!(
                "target_session_attrs={other}"
            )))
        }
    }
    let password = conn
        .and_then(ConnInfo::given_password)
        .map(str::to_string)
        .or_else(|| env("PGPASSWORD"))
        .or_else(|| {
            let file = get("passfile", "PGPASSFILE")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
            let host = described.first().cloned().unwrap_or_default();
            passfile_lookup(&file, &host, ports[0], &dbname, &user)
        });
    if let Some(pw) = password {
        config.password(pw);
    }
    let describe = format!(
        "database {dbname:?} as {user:?} on {}",
        described
            .iter()
            .zip(&ports)
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(Target {
        config,
        describe,
        tls,
    })
}

/// The operating system's user name, as libpq takes it (the effective user's passwd entry).
fn os_user() -> String {
    // SAFETY: geteuid has no preconditions; getpwuid returns a pointer into static storage (or
    // null), read at once on this thread.
    let name = unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*pw).pw_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    name.or_else(|| env("USER")).unwrap_or_default()
}

/// libpq's password file lookup: `host:port:database:user:password` lines, `*` matching anything,
/// `\` escaping `:` and `\`; a socket directory matches `localhost`. A file readable by group or
/// others is ignored, as libpq ignores it.
fn passfile_lookup(
    file: &std::path::Path,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let host = if host.is_empty() || host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_passfile_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |f: &str, v: &str| f == "*" || f == v;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], dbname)
            && matches(&fields[3], user)
        {
            return Some(fields[4..].join(":")).filter(|p| !p.is_empty());
        }
    }
    None
}

fn split_passfile_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one field").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

/// Connect; the connection's task runs on the current runtime. A failure carries the server's
/// message (bad password, unknown database) or the network's (no such host, refused).
pub async fn connect(target: &Target) -> Result<Client, DirectError> {
    let (client, connection) = target
        .config
        .connect(target.tls.clone())
        .await
        .map_err(|e| failure(target, e))?;
    tokio::spawn(async move {
        // An error here also fails the client's next request, which reports it.
        let _ = connection.await;
    });
    Ok(client)
}

/// A connection's failure as pgveil reports it: the server's own message (without tokio-postgres's
/// "db error" before it), or the network's.
pub fn failure(target: &Target, e: tokio_postgres::Error) -> DirectError {
    // GSSAPI, SSPI and Kerberos authentication, which libpq's clients do.
    if e.to_string() == "authentication error"
        && std::error::Error::source(&e)
            .is_some_and(|s| s.to_string() == "unsupported authentication method")
    {
        return DirectError::Unsupported(
            "the server's authentication method (GSSAPI, SSPI or Kerberos)".into(),
        );
    }
    DirectError::Connect {
        target: target.describe.clone(),
        source: if e.as_db_error().is_some() {
            e.into_source().expect("a db error has its source")
        } else {
            Box::new(e)
        },
    }
}

/// The session pg_dump sets up (its `setup_connection`), so that COPY output matches pg_dump's:
/// the dump's client encoding, ISO dates, Postgres intervals, every float digit, no synchronized
/// seq scans (each scan starts at block 0: rows in block order), no row security, no timeouts and
/// an empty search_path (regclass values print schema-qualified as in pg_dump's COPY).
pub async fn setup_session(client: &Client, encoding: &str) -> Result<(), DirectError> {
    let sql = format!(
        "SET client_encoding TO '{}'; SET DATESTYLE = ISO; SET INTERVALSTYLE = POSTGRES; \
         SET extra_float_digits TO 3; SET synchronize_seqscans TO off; \
         SET statement_timeout = 0; SET lock_timeout = 0; \
         SET idle_in_transaction_session_timeout = 0; SET row_security = off; \
         SELECT pg_catalog.set_config('search_path', '', false);",
        encoding.replace('\'', "''")
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(|source| DirectError::Query {
            what: "setting up the session".into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a `hostaddr` and no `host`, the password file's line for the address applies (as in
    /// libpq), and messages name the address.
    #[test]
    fn a_hostaddr_alone_is_the_host_of_the_password_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pgpass");
        std::fs::write(&f, "localhost:*:*:*:wrong\n10.1.2.3:6543:db:u:right\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        if std::env::var_os("PGHOST").is_some() || std::env::var_os("PGPASSWORD").is_some() {
            return; // the environment decides the host or the password
        }
        let conn = ConnInfo::parse(&format!(
            "hostaddr=10.1.2.3 port=6543 dbname=db user=u passfile={}",
            f.display()
        ))
        .unwrap();
        let t = target(Some(&conn)).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"right"[..]));
        assert!(t.describe.contains("10.1.2.3:6543"), "{}", t.describe);
    }

    #[test]
    fn password_file_lines() {
        assert_eq!(
            split_passfile_line(r"h:5432:d\:b:u:p\\w:x"),
            vec!["h", "5432", "d:b", "u", r"p\w:x"]
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pgpass");
        std::fs::write(
            &f,
            "# c\nother:*:*:*:no\nlocalhost:5433:*:u:yes\n*:*:*:*:any\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            passfile_lookup(&f, "/tmp/sock", 5433, "db", "u").as_deref(),
            Some("yes")
        );
        assert_eq!(
            passfile_lookup(&f, "h", 1, "db", "v").as_deref(),
            Some("any")
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(passfile_lookup(&f, "h", 1, "db", "v"), None);
    }
}
