//! What `check` and `post` print: a table and a summary line for people, and for scripts
//! the JSON object the reference CLI (`gitt miner check/post --json`, gittensor's
//! `cli/miner_commands/{check,post}.py`) prints, plus keys of our own after the reference's.
//! Every reference key keeps the reference's name, place and meaning, except `success`
//! (README, "JSON for scripts"); the snapshot tests in `tests/output.rs` pin all of it.

use crate::untrusted::{shown, Shown};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use serde::Serialize;
use serde_json::{json, Value};

use crate::chain::eligibility::alpha_amount;
use crate::synapse::{BroadcastAnswer, CheckAnswer, CheckStatus};
use crate::transport::Target;
use crate::validators::Skipped;

/// The reference prints the first 16 characters of a hotkey and an ellipsis.
pub fn short_hotkey(ss58: &str) -> String {
    format!("{}...", ss58.chars().take(16).collect::<String>())
}

/// "validator 12 (5FHneW46xGXgs5mU...)": how journal lines and alerts name a validator.
pub fn validator_subject(uid: u16, hotkey: &str) -> String {
    format!("validator {uid} ({})", short_hotkey(hotkey))
}

// ---- JSON as Python's `json.dumps` writes it --------------------------------------------

/// `value` as Python's `json.dumps` writes it: `indent=2` when `pretty` (what `gitt` prints
/// for results), else one line with `", "` and `": "` (its error object). Both escape every
/// non-ASCII character (`ensure_ascii`), so the reference's keys come out byte for byte.
pub fn python_json(value: &Value, pretty: bool) -> String {
    let mut out = Vec::new();
    let written = if pretty {
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            serde_json::ser::PrettyFormatter::with_indent(b"  "),
        ))
    } else {
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, PythonCompact))
    };
    // Serializing a `Value` into memory cannot fail.
    written.expect("a JSON value serializes");
    let text = String::from_utf8(out).expect("serde_json writes UTF-8");
    // Outside strings JSON is ASCII, so every character escaped here is inside a string.
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() && c != '\u{7f}' {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    ascii
}

/// Python's default separators without an indent: `", "` and `": "`.
struct PythonCompact;

impl serde_json::ser::Formatter for PythonCompact {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

// ---- post: one validator's outcome ------------------------------------------------------

/// One validator's outcome in `post`: its latest check answer and, if the PAT was sent to
/// it, its latest broadcast answer.
#[derive(Debug, Clone, Default)]
pub struct PostOutcome {
    pub check: Option<CheckAnswer>,
    pub broadcast: Option<BroadcastAnswer>,
    /// Whether the latest answer is the broadcast's (else the check's).
    pub broadcast_is_latest: bool,
    /// The PAT left for it during this run.
    pub sent: bool,
    /// The PAT left for it and no answer came back before `post` stopped.
    pub in_flight: bool,
}

/// The reference's three `post` values for one validator.
struct ReferenceRow<'a> {
    accepted: Option<bool>,
    rejection_reason: Option<&'a str>,
    status_code: Option<u16>,
}

impl PostOutcome {
    pub fn record_check(&mut self, answer: CheckAnswer) {
        self.check = Some(answer);
        self.broadcast_is_latest = false;
    }

    pub fn record_sending(&mut self) {
        self.sent = true;
        self.in_flight = true;
    }

    pub fn record_broadcast(&mut self, answer: BroadcastAnswer) {
        self.broadcast = Some(answer);
        self.broadcast_is_latest = true;
        self.sent = true;
        self.in_flight = false;
    }

    /// Covered: it accepted the PAT, or says it holds a valid one.
    pub fn covered(&self) -> bool {
        self.broadcast.as_ref().is_some_and(|b| b.accepted == Some(true))
            || self.check.as_ref().is_some_and(|c| c.status == CheckStatus::Valid)
    }

    fn latest_broadcast(&self) -> Option<&BroadcastAnswer> {
        self.broadcast.as_ref().filter(|_| self.broadcast_is_latest)
    }

    fn latest_check(&self) -> Option<&CheckAnswer> {
        self.check.as_ref().filter(|_| !self.broadcast_is_latest)
    }

    /// The machine token (the same vocabulary as `check`'s, plus the broadcast outcomes and
    /// `already_valid`).
    pub fn token(&self) -> &'static str {
        if self.in_flight {
            return "no_response";
        }
        match (self.latest_broadcast(), self.latest_check()) {
            (Some(b), _) => b.status.token(),
            (None, Some(c)) if c.status == CheckStatus::Valid && !self.sent => "already_valid",
            (None, Some(c)) => c.status.token(),
            (None, None) => "no_response",
        }
    }

    fn label(&self) -> &'static str {
        if self.in_flight {
            return "no response";
        }
        match (self.latest_broadcast(), self.latest_check()) {
            (Some(b), _) => b.status.label(),
            (None, Some(c)) if c.status == CheckStatus::Valid && !self.sent => "already valid",
            (None, Some(c)) => c.status.label(),
            (None, None) => "no response",
        }
    }

    /// What `gitt miner post` would report for what actually happened. `post` sends the PAT
    /// only where it is missing; a validator it did not send to reports its check answer in
    /// the reference's terms: it answered (200) and holds our valid PAT → `accepted: true`;
    /// it answered and does not (no PAT, store unavailable, GitHub unavailable, an invalid
    /// PAT) → `accepted: false` with its own reason — as a broadcast to it would have been
    /// rejected; it gave no handler answer → `accepted: null` with the code bittensor records.
    fn reference(&self) -> ReferenceRow<'_> {
        if self.covered() {
            // The answer that says so, whichever came last.
            return match (self.latest_broadcast(), self.latest_check()) {
                (Some(b), _) if b.accepted == Some(true) => from_broadcast(b),
                (None, Some(c)) if c.status == CheckStatus::Valid => from_check(c),
                _ => match (&self.broadcast, &self.check) {
                    (Some(b), _) if b.accepted == Some(true) => from_broadcast(b),
                    (_, Some(c)) => from_check(c),
                    _ => ReferenceRow { accepted: Some(true), rejection_reason: None, status_code: Some(200) },
                },
            };
        }
        if self.in_flight {
            // As bittensor records a broadcast that timed out.
            return ReferenceRow { accepted: None, rejection_reason: None, status_code: Some(408) };
        }
        // Sent: the validator's answer to the PAT, as `gitt` reports it, even when a check
        // followed (after a refusal the core asks again before sending again).
        match (&self.broadcast, &self.check) {
            (Some(b), _) => from_broadcast(b),
            (None, Some(c)) => from_check(c),
            (None, None) => ReferenceRow { accepted: None, rejection_reason: None, status_code: Some(408) },
        }
    }

    /// Our explanation: why the PAT was not sent, or what went wrong where the validator's
    /// answer says nothing itself.
    pub fn detail(&self) -> Option<String> {
        if self.in_flight {
            return Some("the PAT was sent; no answer came back before post stopped".into());
        }
        if let Some(b) = self.latest_broadcast() {
            return b.detail().map(str::to_owned);
        }
        let c = self.latest_check()?;
        let failure = c.detail();
        if self.sent {
            // Checked again after it answered the PAT.
            return (c.status != CheckStatus::Valid).then(|| {
                let said = failure.or(c.reference_rejection_reason()).unwrap_or(c.status.label());
                format!("asked again after it answered the PAT: {} ({})", c.status.label(), Shown(said))
            });
        }
        let why = match c.status {
            CheckStatus::Valid => "not sent: it already holds your valid PAT",
            CheckStatus::StoreUnavailable => {
                "not sent: its PAT store is temporarily unavailable (a broadcast would be refused too); checked again with backoff"
            }
            CheckStatus::Inconclusive => {
                "not sent: it holds a PAT it could not re-validate with GitHub just now; checked again with backoff"
            }
            CheckStatus::NoPat | CheckStatus::InvalidPat => "not sent before post stopped",
            _ => "not sent: its check gave no usable answer",
        };
        Some(match failure {
            Some(f) => format!("{why} ({f})"),
            None => why.to_owned(),
        })
    }
}

fn from_broadcast(b: &BroadcastAnswer) -> ReferenceRow<'_> {
    ReferenceRow {
        accepted: b.accepted,
        rejection_reason: b.reference_rejection_reason(),
        status_code: Some(b.status_code),
    }
}

fn from_check(c: &CheckAnswer) -> ReferenceRow<'_> {
    let answered = c.status_code == 200 && c.has_pat.is_some();
    ReferenceRow {
        accepted: answered.then_some(c.status == CheckStatus::Valid),
        rejection_reason: c.reference_rejection_reason(),
        status_code: Some(c.status_code),
    }
}

// ---- Tables and summaries ---------------------------------------------------------------

fn new_table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(headers.iter().map(Cell::new));
    if let Some(column) = table.column_mut(0) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    table
}

/// The validator's reason and ours, when there are both.
/// The validator's words and ours; ours may quote it (an HTTP error's message), so both are
/// escaped for the terminal.
fn reason_cell(theirs: Option<&str>, ours: Option<&str>) -> String {
    match (theirs, ours) {
        (Some(theirs), Some(ours)) => format!("{} — {}", Shown(theirs), Shown(ours)),
        (theirs, ours) => shown(theirs.or(ours).unwrap_or_default()),
    }
}

pub fn check_table(rows: &[(Target, CheckAnswer)]) -> String {
    let mut table = new_table(&["UID", "Validator", "Status", "Reason"]);
    for (target, answer) in rows {
        table.add_row(vec![
            target.uid.to_string(),
            short_hotkey(&target.hotkey),
            answer.status.label().to_owned(),
            reason_cell(answer.reference_rejection_reason(), answer.detail()),
        ]);
    }
    table.to_string()
}

pub fn check_summary(rows: &[(Target, CheckAnswer)]) -> String {
    let valid = rows.iter().filter(|(_, a)| a.status == CheckStatus::Valid).count();
    format!("{valid}/{} validators have a valid PAT stored.", rows.len())
}

/// The reference's "Skipped Validators" table (`_render_skipped_validators`).
pub fn skipped_table(skipped: &[Skipped]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let mut table = new_table(&["UID", "vtrust", "stake (α)", "Reason"]);
    if let Some(column) = table.column_mut(2) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    for s in skipped {
        table.add_row(vec![s.uid.to_string(), format!("{:.4}", s.vtrust), alpha_amount(s.stake), s.reasons.join("; ")]);
    }
    Some(format!("Skipped Validators\n{table}"))
}

pub fn post_table(rows: &[(Target, PostOutcome)]) -> String {
    let mut table = new_table(&["UID", "Validator", "Status", "Reason"]);
    for (target, outcome) in rows {
        let reference = outcome.reference();
        table.add_row(vec![
            target.uid.to_string(),
            short_hotkey(&target.hotkey),
            outcome.label().to_owned(),
            reason_cell(reference.rejection_reason, outcome.detail().as_deref()),
        ]);
    }
    table.to_string()
}

pub fn post_summary(rows: &[(Target, PostOutcome)]) -> String {
    let covered = rows.iter().filter(|(_, o)| o.covered()).count();
    let sent = rows.iter().filter(|(_, o)| o.sent).count();
    format!("{covered}/{} validators hold your PAT (sent to {sent}).", rows.len())
}

/// What to do after a `check` that found some validators without a valid PAT: `post`.
pub fn check_next_step(rows: &[(Target, CheckAnswer)]) -> Option<String> {
    if rows.iter().all(|(_, a)| a.status == CheckStatus::Valid) {
        return None;
    }
    let lacking = rows.iter().filter(|(_, a)| matches!(a.status, CheckStatus::NoPat | CheckStatus::InvalidPat)).count();
    Some(match lacking {
        0 => "Next step: `gittensor-miner-agent post` asks them again, with retries, and sends the PAT to any that lack it.".to_owned(),
        1 => "Next step: `gittensor-miner-agent post` sends the PAT to the validator that lacks it, and nowhere else.".to_owned(),
        n => format!("Next step: `gittensor-miner-agent post` sends the PAT to the {n} validators that lack it, and nowhere else."),
    })
}

/// What to do after a `post` that left some validators without the PAT. Re-sending cannot
/// help a validator that pinned another GitHub identity (`Alert::IdentityLocked`): that
/// takes the first-registered account's PAT, or a new registration.
pub fn post_next_step(rows: &[(Target, PostOutcome)]) -> Option<String> {
    let uncovered: Vec<&PostOutcome> = rows.iter().map(|(_, o)| o).filter(|o| !o.covered()).collect();
    let locked = uncovered.iter().filter(|o| o.token() == "identity_locked").count();
    let others = uncovered.len() - locked;
    let retry = "run `gittensor-miner-agent post` again later, or run the agent as a service to keep retrying";
    match (locked, others) {
        (0, 0) => None,
        (0, _) => Some(format!("Next step: {retry}.")),
        (locked, others) => {
            let mut line = format!(
                "Next step: {locked} validator{} pinned another GitHub account to this hotkey, which re-sending cannot change: store the PAT of the GitHub account first registered with it (`gittensor-miner-agent pat set`, then `post`), or re-register the hotkey.",
                plural(locked)
            );
            match others {
                0 => {}
                1 => line.push_str(&format!(" For the other one: {retry}.")),
                n => line.push_str(&format!(" For the other {n}: {retry}.")),
            }
            Some(line)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Everything `check` prints for people: the table, the summary, the skipped validators,
/// and the next step when not every validator holds the PAT.
pub fn check_text(rows: &[(Target, CheckAnswer)], skipped: &[Skipped]) -> String {
    let text = with_skipped(format!("{}\n\n{}", check_table(rows), check_summary(rows)), skipped);
    with_next_step(text, check_next_step(rows))
}

/// Everything `post` prints for people.
pub fn post_text(rows: &[(Target, PostOutcome)], skipped: &[Skipped]) -> String {
    let text = with_skipped(format!("{}\n\n{}", post_table(rows), post_summary(rows)), skipped);
    with_next_step(text, post_next_step(rows))
}

fn with_skipped(text: String, skipped: &[Skipped]) -> String {
    match skipped_table(skipped) {
        Some(table) => format!("{text}\n\n{table}"),
        None => text,
    }
}

fn with_next_step(text: String, next: Option<String>) -> String {
    match next {
        Some(next) => format!("{text}\n\n{next}"),
        None => text,
    }
}

// ---- JSON -------------------------------------------------------------------------------

/// `check --json`: the reference's keys in its order (`success`, `total_validators`, the
/// five counts of `_pat_check_aggregate_counts`, `skipped`, `results` with `uid`, `hotkey`,
/// `has_pat`, `pat_valid`, `rejection_reason`), then ours.
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
                "rejection_reason": a.reference_rejection_reason(),
                // Ours.
                "status": a.status.token(),
                "detail": a.detail(),
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
        // Ours.
        "covered": valid,
        "status_counts": status_counts(rows.iter().map(|(_, a)| a.status.token())),
    })
}

fn status_counts<'a>(tokens: impl Iterator<Item = &'a str>) -> Value {
    let mut counts = serde_json::Map::new();
    for token in tokens {
        let n = counts.get(token).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(token.to_owned(), json!(n + 1));
    }
    Value::Object(counts)
}

/// `post --json`: the reference's keys in its order (`success`, `github_login`,
/// `total_validators`, the three counts of `_pat_post_aggregate_counts`, `skipped`,
/// `results` with `uid`, `hotkey`, `accepted`, `rejection_reason`, `status_code`), then ours.
pub fn post_json(rows: &[(Target, PostOutcome)], skipped: &[Skipped], github_login: &str) -> Value {
    let references: Vec<ReferenceRow<'_>> = rows.iter().map(|(_, o)| o.reference()).collect();
    let count = |accepted: Option<bool>| references.iter().filter(|r| r.accepted == accepted).count();
    let covered = rows.iter().filter(|(_, o)| o.covered()).count();
    let results: Vec<Value> = rows
        .iter()
        .zip(&references)
        .map(|((t, o), r)| {
            json!({
                "uid": t.uid,
                "hotkey": short_hotkey(&t.hotkey),
                "accepted": r.accepted,
                "rejection_reason": r.rejection_reason,
                "status_code": r.status_code,
                // Ours.
                "status": o.token(),
                "broadcast": o.sent,
                "check": o.check.as_ref().map(|c| c.status.token()),
                "detail": o.detail(),
                "hotkey_ss58": t.hotkey,
                "axon": t.addr().to_string(),
            })
        })
        .collect();
    json!({
        "success": covered == rows.len() && !rows.is_empty(),
        "github_login": github_login,
        "total_validators": rows.len(),
        "accepted": count(Some(true)),
        "rejected": count(Some(false)),
        "no_response": count(None),
        "skipped": skipped,
        "results": results,
        // Ours.
        "covered": covered,
        "sent": rows.iter().filter(|(_, o)| o.sent).count(),
    })
}

/// The reference's error object (`emit_error_json`): `{"success": false, "error": {"type",
/// "message"}}`, then any extra keys (`skipped` for `no_validators_eligible`).
pub fn error_json(error_type: &str, message: &str, extra: serde_json::Map<String, Value>) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("success".into(), json!(false));
    object.insert("error".into(), json!({ "type": error_type, "message": message }));
    object.extend(extra);
    Value::Object(object)
}

/// Prints to stdout; a closed pipe (`… | head`) is not an error worth a panic.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}
