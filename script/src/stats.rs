//! What each script function did over the run: calls, failed verdicts, errors, and
//! the messages they came with, counted from every worker thread.
//!
//! Counters are atomics (a call costs far more than an uncontended add); messages
//! take a lock, but only on a failure or an error, and at most [`MESSAGES`] distinct
//! texts are kept per function: the rest are counted as others.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use kaioken_vm::ScriptRole;
use serde::{Deserialize, Serialize};

/// The most distinct messages kept per function.
pub const MESSAGES: usize = 10;

/// The counters of one function.
#[derive(Debug, Default)]
pub(crate) struct FnStats {
    calls: AtomicU64,
    failed: AtomicU64,
    errors: AtomicU64,
    over_budget: AtomicU64,
    messages: Mutex<Messages>,
}

#[derive(Debug, Default)]
struct Messages {
    kept: Vec<ScriptMessage>,
    others: u64,
}

/// A message a function failed with, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptMessage {
    /// The text: a check's own message, or `error: …` for a script error.
    pub text: String,
    /// How many calls ended with it.
    pub count: u64,
}

/// What one function did, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptReport {
    /// Its name in `[scripts]`.
    pub name: String,
    /// `check`, `extract`, `value`, `setup` or `teardown`.
    pub role: String,
    /// Calls made.
    pub calls: u64,
    /// Calls that answered "no": a check that failed, an extractor that found
    /// nothing.
    pub failed: u64,
    /// Calls that raised an error (over the budget included).
    pub errors: u64,
    /// Calls stopped for running past their time budget.
    pub over_budget: u64,
    /// The messages, most frequent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<ScriptMessage>,
    /// Failures with a message beyond the distinct ones kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_messages: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ScriptReport {
    /// The reports of several runs of one scenario (the segments of a distributed
    /// run) as one: counts added per function and role, messages added by text, the
    /// most frequent `MESSAGES` kept and the rest counted as others.
    pub fn merge<'a>(runs: impl IntoIterator<Item = &'a [ScriptReport]>) -> Vec<ScriptReport> {
        let mut out: Vec<ScriptReport> = Vec::new();
        for run in runs {
            for r in run {
                let Some(m) = out
                    .iter_mut()
                    .find(|m| m.name == r.name && m.role == r.role)
                else {
                    out.push(r.clone());
                    continue;
                };
                m.calls += r.calls;
                m.failed += r.failed;
                m.errors += r.errors;
                m.over_budget += r.over_budget;
                m.other_messages += r.other_messages;
                for msg in &r.messages {
                    match m.messages.iter_mut().find(|k| k.text == msg.text) {
                        Some(k) => k.count += msg.count,
                        None => m.messages.push(msg.clone()),
                    }
                }
            }
        }
        for m in &mut out {
            m.messages
                .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
            if m.messages.len() > MESSAGES {
                let rest: u64 = m.messages.drain(MESSAGES..).map(|k| k.count).sum();
                m.other_messages += rest;
            }
        }
        out
    }
}

impl FnStats {
    pub fn call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// A "no", with the function's message if it gave one.
    pub fn fail(&self, message: Option<&str>) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = message {
            self.message(m);
        }
    }

    /// An error (a call that did not finish).
    pub fn error(&self, message: &str, over_budget: bool) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if over_budget {
            self.over_budget.fetch_add(1, Ordering::Relaxed);
        }
        self.message(&format!("error: {message}"));
    }

    #[cold]
    fn message(&self, text: &str) {
        let Ok(mut m) = self.messages.lock() else {
            return;
        };
        if let Some(kept) = m.kept.iter_mut().find(|k| k.text == text) {
            kept.count += 1;
        } else if m.kept.len() < MESSAGES {
            m.kept.push(ScriptMessage {
                text: text.to_owned(),
                count: 1,
            });
        } else {
            m.others += 1;
        }
    }

    pub fn report(&self, name: &str, role: ScriptRole) -> ScriptReport {
        let (mut messages, other_messages) = match self.messages.lock() {
            Ok(m) => (m.kept.clone(), m.others),
            Err(_) => (Vec::new(), 0),
        };
        messages.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
        ScriptReport {
            name: name.to_owned(),
            role: role.as_str().to_owned(),
            calls: self.calls.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            over_budget: self.over_budget.load(Ordering::Relaxed),
            messages,
            other_messages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_distinct_messages_and_counts_the_rest() {
        let s = FnStats::default();
        for i in 0..MESSAGES + 3 {
            s.call();
            s.fail(Some(&format!("m{i}")));
        }
        s.call();
        s.fail(Some("m0"));
        s.call();
        s.error("boom", true);
        let r = s.report("f", ScriptRole::Check);
        assert_eq!((r.calls, r.failed, r.errors, r.over_budget), (15, 14, 1, 1));
        assert_eq!(r.messages.len(), MESSAGES);
        assert_eq!(r.messages[0].text, "m0");
        assert_eq!(r.messages[0].count, 2);
        // The error took no place among the kept ones: it is counted with the others.
        assert_eq!(r.other_messages, 4);
    }

    #[test]
    fn reports_merge_by_function_and_message() {
        let a = FnStats::default();
        let b = FnStats::default();
        for (s, n) in [(&a, 3), (&b, 2)] {
            for _ in 0..n {
                s.call();
                s.fail(Some("no id"));
            }
        }
        b.call();
        b.fail(Some("late"));
        let one = [a.report("f", ScriptRole::Check)];
        let two = [
            b.report("f", ScriptRole::Check),
            b.report("g", ScriptRole::Value),
        ];
        let merged = ScriptReport::merge([one.as_slice(), two.as_slice()]);
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].calls, merged[0].failed), (6, 6));
        assert_eq!(
            merged[0].messages,
            [
                ScriptMessage {
                    text: "no id".into(),
                    count: 5
                },
                ScriptMessage {
                    text: "late".into(),
                    count: 1
                }
            ]
        );
        assert_eq!(merged[1].name, "g");
    }
}
