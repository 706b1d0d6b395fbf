//! What `check` and `post` print: a table and a summary line for people, and for scripts
//! the JSON object the reference CLI (`gitt miner check/post --json`) prints, plus our own
//! fields. Reference fields keep their names and meanings, except `success` (see README).

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use serde_json::{json, Value};

use crate::synapse::{BroadcastAnswer, CheckAnswer, CheckStatus};
use crate::transport::Target;
use crate::validators::Skipped;

/// The reference prints the first 16 characters of a hotkey and an ellipsis.
pub fn short_hotkey(ss58: &str) -> String {
    format!("{}...", ss58.chars().take(16).collect::<String>())
}

/// One validator's outcome in `post`: its latest check answer and, if it needed the PAT,
/// its latest broadcast answer.
#[derive(Debug, Clone, Default)]
pub struct PostOutcome {
    pub check: Option<CheckAnswer>,
    pub broadcast: Option<BroadcastAnswer>,
    /// Whether the latest answer is the broadcast's (else the check's).
    pub broadcast_is_latest: bool,
}

impl PostOutcome {
    pub fn record_check(&mut self, answer: CheckAnswer) {
        self.check = Some(answer);
        self.broadcast_is_latest = false;
    }

    pub fn record_broadcast(&mut self, answer: BroadcastAnswer) {
        self.broadcast = Some(answer);
        self.broadcast_is_latest = true;
    }

    /// Covered: it accepted the PAT, or says it holds a valid one.
    pub fn covered(&self) -> bool {
        self.broadcast.as_ref().is_some_and(|b| b.accepted == Some(true))
            || self.check.as_ref().is_some_and(|c| c.status == CheckStatus::Valid)
    }

    fn latest(&self) -> (Option<&BroadcastAnswer>, Option<&CheckAnswer>) {
        if self.broadcast_is_latest {
            (self.broadcast.as_ref(), None)
        } else {
            (None, self.check.as_ref())
        }
    }

    fn status(&self) -> &'static str {
        match self.latest() {
            (Some(b), _) => b.status.label(),
            (None, Some(c)) if c.status == CheckStatus::Valid && self.broadcast.is_none() => "already valid",
            (None, Some(c)) => c.status.label(),
            (None, None) => "not probed",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self.latest() {
            (Some(b), _) => b.rejection_reason.as_deref(),
            (None, Some(c)) => c.rejection_reason.as_deref(),
            (None, None) => None,
        }
    }

    /// The reference's `accepted`: true when the validator holds our PAT after this run.
    fn accepted(&self) -> Option<bool> {
        if self.covered() {
            return Some(true);
        }
        match self.latest() {
            (Some(b), _) => b.accepted,
            _ => None,
        }
    }

    fn status_code(&self) -> Option<u16> {
        match self.latest() {
            (Some(b), _) => Some(b.status_code),
            (None, Some(c)) => Some(c.status_code),
            (None, None) => None,
        }
    }
}

fn new_table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(headers.iter().map(Cell::new));
    if let Some(column) = table.column_mut(0) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    table
}

pub fn check_table(rows: &[(Target, CheckAnswer)]) -> String {
    let mut table = new_table(&["UID", "Validator", "Status", "Reason"]);
    for (target, answer) in rows {
        table.add_row(vec![
            target.uid.to_string(),
            short_hotkey(&target.hotkey),
            answer.status.label().to_owned(),
            answer.rejection_reason.clone().unwrap_or_default(),
        ]);
    }
    table.to_string()
}

pub fn check_summary(rows: &[(Target, CheckAnswer)]) -> String {
    let valid = rows.iter().filter(|(_, a)| a.status == CheckStatus::Valid).count();
    format!("{valid}/{} validators have a valid PAT stored.", rows.len())
}

pub fn skipped_table(skipped: &[Skipped]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let mut table = new_table(&["UID", "vtrust", "stake (α)", "Reason"]);
    for s in skipped {
        table.add_row(vec![
            s.uid.to_string(),
            format!("{:.4}", s.vtrust),
            format!("{:.0}", s.stake),
            s.reasons.join("; "),
        ]);
    }
    Some(format!("Skipped validators\n{table}"))
}

pub fn check_json(rows: &[(Target, CheckAnswer)], skipped: &[Skipped]) -> Value {
    let count = |category: &str| rows.iter().filter(|(_, a)| a.reference_category() == category).count();
    let valid = count("valid");
    let results: Vec<Value> = rows
        .iter()
        .map(|(t, a)| {
            json!({
                "uid": t.uid,
                "hotkey": short_hotkey(&t.hotkey),
                "has_pat": a.has_pat,
                "pat_valid": a.pat_valid,
                "rejection_reason": a.rejection_reason,
                "status": a.status,
                "status_code": a.status_code,
                "hotkey_ss58": t.hotkey,
                "axon": t.addr().to_string(),
            })
        })
        .collect();
    json!({
        "success": valid == rows.len() && !rows.is_empty(),
        "total_validators": rows.len(),
        "valid": valid,
        "no_pat": count("no_pat"),
        "invalid_pat": count("invalid_pat"),
        "inconclusive": count("inconclusive"),
        "no_response": count("no_response"),
        "skipped": skipped,
        "results": results,
        "covered": valid,
        "status_counts": status_counts(rows.iter().map(|(_, a)| serde_json::to_value(a.status).unwrap_or(Value::Null))),
    })
}

fn status_counts(statuses: impl Iterator<Item = Value>) -> Value {
    let mut counts = serde_json::Map::new();
    for status in statuses {
        if let Some(name) = status.as_str() {
            let n = counts.get(name).and_then(Value::as_u64).unwrap_or(0);
            counts.insert(name.to_owned(), json!(n + 1));
        }
    }
    Value::Object(counts)
}

pub fn post_table(rows: &[(Target, PostOutcome)]) -> String {
    let mut table = new_table(&["UID", "Validator", "Status", "Reason"]);
    for (target, outcome) in rows {
        table.add_row(vec![
            target.uid.to_string(),
            short_hotkey(&target.hotkey),
            outcome.status().to_owned(),
            outcome.reason().unwrap_or_default().to_owned(),
        ]);
    }
    table.to_string()
}

pub fn post_summary(rows: &[(Target, PostOutcome)]) -> String {
    let covered = rows.iter().filter(|(_, o)| o.covered()).count();
    let sent = rows.iter().filter(|(_, o)| o.broadcast.is_some()).count();
    format!("{covered}/{} validators hold your PAT (sent to {sent}).", rows.len())
}

pub fn post_json(rows: &[(Target, PostOutcome)], skipped: &[Skipped], github_login: &str) -> Value {
    let category = |o: &PostOutcome| match o.accepted() {
        Some(true) => "accepted",
        Some(false) => "rejected",
        None => "no_response",
    };
    let count = |c: &str| rows.iter().filter(|(_, o)| category(o) == c).count();
    let covered = rows.iter().filter(|(_, o)| o.covered()).count();
    let results: Vec<Value> = rows
        .iter()
        .map(|(t, o)| {
            json!({
                "uid": t.uid,
                "hotkey": short_hotkey(&t.hotkey),
                "accepted": o.accepted(),
                "rejection_reason": o.reason(),
                "status_code": o.status_code(),
                "status": o.status(),
                "broadcast": o.broadcast.is_some(),
                "check": o.check.as_ref().map(|c| c.status),
                "hotkey_ss58": t.hotkey,
                "axon": t.addr().to_string(),
            })
        })
        .collect();
    json!({
        "success": covered == rows.len() && !rows.is_empty(),
        "github_login": github_login,
        "total_validators": rows.len(),
        "accepted": count("accepted"),
        "rejected": count("rejected"),
        "no_response": count("no_response"),
        "skipped": skipped,
        "results": results,
        "covered": covered,
        "sent": rows.iter().filter(|(_, o)| o.broadcast.is_some()).count(),
    })
}

/// The reference's error envelope: `{"success": false, "error": {"type", "message"}}`.
pub fn error_json(error_type: &str, message: &str) -> Value {
    json!({ "success": false, "error": { "type": error_type, "message": message } })
}

/// Prints to stdout; a closed pipe (`… | head`) is not an error worth a panic.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}
