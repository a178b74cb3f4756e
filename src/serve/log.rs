//! The service's log: one line per event on stderr (journald adds the time), as text or, with
//! `--log-format json`, as one JSON object per line. Callers pass only what may be shown: task
//! ids, job names, set ids and error chains (connection strings in the configuration hold no
//! password, and tokens never reach this module).

use std::io::Write;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Log {
    pub format: LogFormat,
}

impl Log {
    /// An event: `fields` are `(key, value)` pairs shown after the message.
    pub fn event(&self, event: &str, message: &str, fields: &[(&str, &str)]) {
        let line = match self.format {
            LogFormat::Text => {
                let mut line = format!("pgveil serve: {event}: {message}");
                for (k, v) in fields {
                    line.push_str(&format!(" {k}={v}"));
                }
                line
            }
            LogFormat::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("time".into(), super::tasks::now().into());
                obj.insert("event".into(), event.into());
                obj.insert("message".into(), message.into());
                for (k, v) in fields {
                    obj.insert((*k).into(), (*v).into());
                }
                serde_json::Value::Object(obj).to_string()
            }
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}

/// An error with its causes, `a: b: c` (each cause once).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !t.is_empty() && !text.ends_with(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        source = s.source();
    }
    text
}
