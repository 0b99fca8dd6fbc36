//! How results reach people and programs: a progress view on a terminal, one plain line per
//! tenant otherwise, or one JSON document with `--json`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use tenantry::migrate::{CreateMethod, CreateReport, MigrationEvent, MigrationReport, Outcome, SchemaResult, Subject};

use crate::cli::{Cli, ColorChoice};
use crate::write::{errln, outln};

/// Where and how to print.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
    pub(crate) color: bool,
    pub(crate) terminal: bool,
}

impl Output {
    pub(crate) fn new(cli: &Cli, json: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let color = match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        Self { json, quiet: cli.quiet, color, terminal }
    }

    /// A line for people (not in JSON or quiet mode).
    pub(crate) fn line(&self, text: impl AsRef<str>) {
        if !self.json && !self.quiet {
            outln!("{}", text.as_ref());
        }
    }

    /// The JSON document (only in JSON mode).
    pub(crate) fn document(&self, value: &Value) {
        if self.json {
            outln!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
        }
    }

    pub(crate) fn green(&self, text: &str) -> String {
        self.paint(text, "32")
    }

    pub(crate) fn red(&self, text: &str) -> String {
        self.paint(text, "31")
    }

    pub(crate) fn yellow(&self, text: &str) -> String {
        self.paint(text, "33")
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }

    /// The summary of a fleet run, for people.
    pub(crate) fn report(&self, report: &MigrationReport) {
        if self.json {
            self.document(&report_json(report));
            return;
        }
        let (succeeded, failed, _) = report.tenant_counts();
        for line in report.to_string().lines() {
            let line = if line.starts_with("Failed:") && failed > 0 {
                self.red(line)
            } else if line.starts_with("Succeeded:") && succeeded > 0 {
                self.green(line)
            } else if line.starts_with("warning:") {
                self.yellow(line)
            } else {
                line.to_owned()
            };
            outln!("{line}");
        }
    }
}

/// Renders migration and creation events: a progress bar (done/total, failed, rate, ETA,
/// tenants in flight) on a terminal; one line per finished tenant otherwise; nothing in JSON or
/// quiet mode. Warnings and failures are printed either way (except in JSON mode).
pub(crate) struct Progress {
    output: Output,
    bar: Option<ProgressBar>,
    /// What is in flight, with how many times (`create a a` starts `a` twice).
    in_flight: Mutex<BTreeMap<String, usize>>,
    failed: Mutex<usize>,
}

impl Progress {
    pub(crate) fn new(output: Output) -> Arc<Self> {
        let bar = (output.terminal && !output.json && !output.quiet).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} tenants, {per_sec}, ETA {eta}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Arc::new(Self { output, bar, in_flight: Mutex::new(BTreeMap::new()), failed: Mutex::new(0) })
    }

    /// Handles one event.
    pub(crate) fn handle(&self, event: &MigrationEvent) {
        match event {
            MigrationEvent::WaitingForRunLock => {
                let text = "another migration run holds the run lock; waiting for it to finish…";
                match &self.bar {
                    Some(bar) => bar.println(text),
                    None if !self.output.json => errln!("{text}"),
                    None => {}
                }
            }
            MigrationEvent::Planned { pending, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(bar.length().unwrap_or(0) + *pending as u64);
                }
            }
            MigrationEvent::Started { subject } => {
                *self.lock_in_flight().entry(subject.to_string()).or_default() += 1;
                self.refresh();
            }
            MigrationEvent::Retrying { subject, attempt, error } => {
                let text = format!("{subject}: attempt {attempt} failed ({error}); retrying");
                match &self.bar {
                    Some(bar) => bar.println(self.output.yellow(&text)),
                    None if !self.output.json && !self.output.quiet => errln!("{text}"),
                    None => {}
                }
            }
            MigrationEvent::Finished { result } => {
                let line = describe(result);
                self.done(&result.subject.to_string(), result.outcome.is_failure(), &line, false);
            }
            // `TemplateUnusable` is not printed: the library logs the same reason as a warning,
            // once per version of the template, and the log goes to stderr already.
            MigrationEvent::Created { report, duration } => {
                self.done(report.tenant.as_str(), false, &describe_created(report, *duration), true);
            }
            MigrationEvent::CreateFailed { tenant, error } => {
                self.done(tenant.as_str(), true, &format!("{tenant}: {error}"), true);
            }
            _ => {}
        }
    }

    /// A schema or tenant is done: counted on the bar (if it was in flight), its line printed
    /// off a terminal (a failure's on stderr, in red, when `failure_to_stderr`: `create`'s
    /// habit; `migrate` lists failures with the rest), a failure printed on a terminal too.
    fn done(&self, subject: &str, failed: bool, line: &str, failure_to_stderr: bool) {
        let was_running = {
            let mut in_flight = self.lock_in_flight();
            match in_flight.get_mut(subject) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    true
                }
                Some(_) => in_flight.remove(subject).is_some(),
                None => false,
            }
        };
        if failed {
            *self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        }
        if let Some(bar) = &self.bar {
            if was_running {
                bar.inc(1);
            }
            if failed {
                bar.println(self.output.red(line));
            }
            self.refresh();
        } else if failed && failure_to_stderr && !self.output.json {
            errln!("{}", self.output.red(line));
        } else if (was_running || failed) && !self.output.json && !self.output.quiet {
            outln!("{line}");
        }
    }

    /// Clears the bar before the summary is printed.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn refresh(&self) {
        if let Some(bar) = &self.bar {
            let failed = *self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let in_flight = self.lock_in_flight();
            let names: Vec<&str> = in_flight.keys().map(String::as_str).take(4).collect();
            let more = in_flight.len().saturating_sub(names.len());
            let mut message = format!("failed: {failed}; in flight: {}", names.join(", "));
            if more > 0 {
                message.push_str(&format!(" +{more}"));
            }
            bar.set_message(message);
        }
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, usize>> {
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One line about one schema: `acme: succeeded, applied 9, 10 (41 ms)`.
pub(crate) fn describe(result: &SchemaResult) -> String {
    let what = match &result.outcome {
        Outcome::Succeeded { applied, reverted, duration } => {
            // Plans revert before they apply (a target below and above, a redo): say it in order.
            let mut parts = Vec::new();
            if !reverted.is_empty() {
                parts.push(format!("reverted {}", list(reverted)));
            }
            if !applied.is_empty() {
                parts.push(format!("applied {}", list(applied)));
            }
            if parts.is_empty() {
                parts.push("done".to_owned());
            }
            format!("succeeded, {} ({} ms)", parts.join(", "), duration.as_millis())
        }
        Outcome::Failed(failure) => format!("FAILED: {failure}"),
        Outcome::Skipped { reason } => format!("skipped: {reason}"),
        _ => "unknown outcome".to_owned(),
    };
    format!("{}: {what}", result.subject)
}

/// One line about one new tenant: `created acme (schema acme) at version 10, cloned from the
/// template (41 ms)`. Why the template was not cloned is said once per run, not here
/// ([`MigrationEvent::TemplateUnusable`]).
pub(crate) fn describe_created(report: &CreateReport, duration: Duration) -> String {
    let how = match &report.method {
        CreateMethod::Cloned => "cloned from the template",
        _ => "by migrations",
    };
    let at = report.versions.last().map_or("no migrations".to_owned(), |v| format!("version {v}"));
    format!(
        "created {} (schema {}) at {at}, {how} ({} ms)",
        report.tenant,
        report.tenant.schema(),
        duration.as_millis()
    )
}

fn list(versions: &[i64]) -> String {
    versions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The documented JSON document of a fleet command (docs/cli.md).
pub(crate) fn report_json(report: &MigrationReport) -> Value {
    let (succeeded, failed, skipped) = report.tenant_counts();
    json!({
        "status": if report.is_success() { "succeeded" } else { "failed" },
        "summary": { "succeeded": succeeded, "failed": failed, "skipped": skipped },
        "shared": report.shared.as_ref().map(result_json),
        "template": report.template.as_ref().map(result_json),
        "tenants": report.tenants.iter().map(result_json).collect::<Vec<_>>(),
        "warnings": report.warnings,
        "duration_ms": duration_ms(report.duration),
    })
}

fn result_json(result: &SchemaResult) -> Value {
    let name = match &result.subject {
        Subject::Tenant(tenant) => tenant.to_string(),
        other => other.schema().to_owned(),
    };
    let (status, applied, reverted, duration, error, skip) = match &result.outcome {
        Outcome::Succeeded { applied, reverted, duration } => {
            ("succeeded", applied.clone(), reverted.clone(), Some(duration_ms(*duration)), Value::Null, Value::Null)
        }
        Outcome::Failed(failure) => (
            "failed",
            failure.applied_before_failure.clone(),
            Vec::new(),
            None,
            json!({ "version": failure.version, "sqlstate": failure.sqlstate, "message": failure.message }),
            Value::Null,
        ),
        Outcome::Skipped { reason } => {
            ("skipped", Vec::new(), Vec::new(), None, Value::Null, json!(reason.to_string()))
        }
        _ => ("unknown", Vec::new(), Vec::new(), None, Value::Null, Value::Null),
    };
    json!({
        "tenant": name,
        "schema": result.subject.schema(),
        "status": status,
        "applied": applied,
        "reverted": reverted,
        "duration_ms": duration,
        "error": error,
        "skip_reason": skip,
        "planned": result.planned.iter().map(|(v, up)| json!({"version": v, "direction": if *up { "up" } else { "down" }})).collect::<Vec<_>>(),
    })
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(method: CreateMethod, versions: Vec<i64>) -> CreateReport {
        let tenant = tenantry::NamingRules::default().parse("acme").expect("valid");
        CreateReport { tenant, method, versions, seeded: false, applied_after_commit: Vec::new() }
    }

    #[test]
    fn a_created_tenant_says_how_and_at_which_version_but_not_why_not_cloned() {
        let cloned = report(CreateMethod::Cloned, vec![1, 2]);
        assert_eq!(
            describe_created(&cloned, Duration::from_millis(41)),
            "created acme (schema acme) at version 2, cloned from the template (41 ms)"
        );
        let migrated = report(CreateMethod::Migrated { why_not_cloned: Some("a domain".to_owned()) }, Vec::new());
        assert_eq!(
            describe_created(&migrated, Duration::from_millis(7)),
            "created acme (schema acme) at no migrations, by migrations (7 ms)"
        );
    }

    #[test]
    fn a_tenant_started_twice_is_counted_twice() {
        let progress = Progress::new(Output { json: false, quiet: true, color: false, terminal: false });
        let tenant = tenantry::NamingRules::default().parse("acme").expect("valid");
        for _ in 0..2 {
            progress.handle(&MigrationEvent::Started { subject: Subject::Tenant(tenant.clone()) });
        }
        progress.handle(&MigrationEvent::CreateFailed { tenant: tenant.clone(), error: "exists".to_owned() });
        assert_eq!(progress.lock_in_flight().get("acme"), Some(&1));
        progress.handle(&MigrationEvent::Created {
            report: report(CreateMethod::Cloned, vec![1]),
            duration: Duration::ZERO,
        });
        assert!(progress.lock_in_flight().is_empty());
    }
}
