//! Backup schedules of `pgveil serve`: a cron expression with seconds, evaluated in a named time
//! zone, and the run times it gives after an instant.
//!
//! Expressions have six fields, `second minute hour day-of-month month day-of-week` (croner's
//! syntax: ranges, steps, names, `L`, `W`, `#`; or a nickname such as `@daily`). Time zones are
//! IANA names looked up in the system's tz database (`/usr/share/zoneinfo`, kept current by the
//! system's updates), or in the copy bundled into pgveil where a system has none.
//!
//! Daylight saving time is handled as croner does on the wall clock: a time that does not exist
//! (02:30 on a spring-forward day in Europe/Berlin) runs at the first instant after the gap
//! (03:00 CEST), once; a time that happens twice (02:30 on a fall-back day) runs once, at its first
//! occurrence (CEST). The unit tests below pin both.

use croner::parser::{CronParser, Seconds};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The expression does not parse; the message is croner's reason.
    #[error("not a cron expression with seconds (second minute hour day-of-month month day-of-week): {reason}")]
    Cron { reason: String },
    #[error("unknown time zone {name:?} (an IANA name such as \"Europe/Berlin\" or \"UTC\")")]
    TimeZone { name: String },
    /// The expression parses but matches no time (e.g. 30 February).
    #[error("the expression matches no time")]
    NeverRuns,
}

/// A parsed schedule: when a job runs.
#[derive(Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
    zone_name: String,
    zone: TimeZone,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schedule({:?} in {})", self.expression, self.zone_name)
    }
}

/// Parse a cron expression with seconds (six fields, or a nickname such as `@daily`).
pub fn parse_cron(expression: &str) -> Result<Cron, ScheduleError> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(expression.trim())
        .map_err(|e| ScheduleError::Cron {
            reason: e.to_string(),
        })
}

/// Look up an IANA time zone name.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, ScheduleError> {
    TimeZone::get(name).map_err(|_| ScheduleError::TimeZone {
        name: name.to_string(),
    })
}

impl Schedule {
    /// A schedule from its expression and time zone name; an expression that never matches is an
    /// error too (found by asking for the next run after now).
    pub fn new(expression: &str, zone_name: &str) -> Result<Schedule, ScheduleError> {
        let schedule = Schedule {
            expression: expression.trim().to_string(),
            cron: parse_cron(expression)?,
            zone_name: zone_name.to_string(),
            zone: parse_time_zone(zone_name)?,
        };
        if schedule.next_after(Timestamp::now()).is_none() {
            return Err(ScheduleError::NeverRuns);
        }
        Ok(schedule)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The first run strictly after `after` (`None` if the expression matches no later time).
    pub fn next_after(&self, after: Timestamp) -> Option<Zoned> {
        let start = after.to_zoned(self.zone.clone());
        self.cron.find_next_occurrence(&start, false).ok()
    }

    /// The next `n` runs strictly after `after`, in order (fewer if the expression runs out).
    pub fn next_runs(&self, after: Timestamp, n: usize) -> Vec<Zoned> {
        let mut runs = Vec::with_capacity(n);
        let mut at = after;
        while runs.len() < n {
            let Some(next) = self.next_after(at) else {
                break;
            };
            at = next.timestamp();
            runs.push(next);
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn berlin(y: i16, m: i8, d: i8, h: i8, min: i8) -> Timestamp {
        parse_time_zone("Europe/Berlin")
            .unwrap()
            .to_ambiguous_zoned(date(y, m, d).at(h, min, 0, 0))
            .earlier()
            .unwrap()
            .timestamp()
    }

    fn utc(runs: &[Zoned]) -> Vec<String> {
        runs.iter().map(|z| z.timestamp().to_string()).collect()
    }

    #[test]
    fn daily_runs_in_the_zone() {
        let s = Schedule::new("0 0 3 * * *", "Europe/Berlin").unwrap();
        let runs = s.next_runs(berlin(2026, 1, 10, 12, 0), 3);
        assert_eq!(
            utc(&runs),
            [
                "2026-01-11T02:00:00Z",
                "2026-01-12T02:00:00Z",
                "2026-01-13T02:00:00Z"
            ]
        );
        assert_eq!(runs[0].time_zone().iana_name(), Some("Europe/Berlin"));
    }

    #[test]
    fn seconds_are_honoured() {
        let s = Schedule::new("*/20 * * * * *", "UTC").unwrap();
        let start: Timestamp = "2026-03-01T00:00:05Z".parse().unwrap();
        assert_eq!(
            utc(&s.next_runs(start, 3)),
            [
                "2026-03-01T00:00:20Z",
                "2026-03-01T00:00:40Z",
                "2026-03-01T00:01:00Z"
            ]
        );
    }

    /// Spring forward in Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST. A 02:30 run has no
    /// wall-clock time that day and runs once, at 03:00 CEST (01:00 UTC); a 03:30 run keeps its
    /// wall-clock time (now one hour less after UTC midnight).
    #[test]
    fn spring_forward_in_berlin() {
        let s = Schedule::new("0 30 2 * * *", "Europe/Berlin").unwrap();
        let runs = s.next_runs(berlin(2026, 3, 28, 12, 0), 2);
        assert_eq!(utc(&runs), ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]);
        let s = Schedule::new("0 30 3 * * *", "Europe/Berlin").unwrap();
        let runs = s.next_runs(berlin(2026, 3, 28, 12, 0), 3);
        assert_eq!(
            utc(&runs),
            [
                "2026-03-29T01:30:00Z",
                "2026-03-30T01:30:00Z",
                "2026-03-31T01:30:00Z"
            ]
        );
        // Hourly runs: the hour that does not exist is not run twice nor invented.
        let s = Schedule::new("0 0 * * * *", "Europe/Berlin").unwrap();
        let runs = s.next_runs(berlin(2026, 3, 29, 0, 30), 3);
        assert_eq!(
            utc(&runs),
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z"
            ]
        );
        assert_eq!(runs[1].datetime().hour(), 3);
    }

    /// Fall back in Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET, so 02:00-02:59 happen
    /// twice. A 02:30 run runs once that day, at the first 02:30 (CEST, 00:30 UTC).
    #[test]
    fn fall_back_in_berlin() {
        let s = Schedule::new("0 30 2 * * *", "Europe/Berlin").unwrap();
        let runs = s.next_runs(berlin(2026, 10, 24, 12, 0), 3);
        assert_eq!(
            utc(&runs),
            [
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
                "2026-10-27T01:30:00Z"
            ]
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        assert!(matches!(
            Schedule::new("0 3 * * *", "UTC"),
            Err(ScheduleError::Cron { .. })
        ));
        assert!(matches!(
            Schedule::new("0 0 25 * * *", "UTC"),
            Err(ScheduleError::Cron { .. })
        ));
        assert!(matches!(
            Schedule::new("0 0 3 * * *", "Europe/Berlln"),
            Err(ScheduleError::TimeZone { .. })
        ));
        assert!(matches!(
            Schedule::new("0 0 0 30 2 *", "UTC"),
            Err(ScheduleError::NeverRuns) | Err(ScheduleError::Cron { .. })
        ));
    }
}
