//! What the daemon knows, in Prometheus' text exposition format (version 0.0.4): for
//! node-exporter's textfile collector and for the optional loopback listener
//! ([`super::metrics_http`]). Pure: [`Counters`] tallies what happened since the process
//! started, [`render`] turns a [`MetricsView`] into text.
//!
//! Names follow Prometheus' conventions: one `gittensor_miner_agent_` prefix, base units
//! (`_seconds`, Unix timestamps as `_timestamp_seconds`), `_total` for counters, and every
//! series labelled with `agent` (the instance name, `default` for the plain unit) so the
//! files of several instances can sit in one textfile directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::github::PatStanding;
use crate::reconcile::tracker::{Coverage, Tracker};
use crate::synapse::{BroadcastStatus, CheckStatus};

const PREFIX: &str = "gittensor_miner_agent_";

const COVERAGES: [Coverage; 6] =
    [Coverage::Unknown, Coverage::Covered, Coverage::Unconfirmed, Coverage::Missing, Coverage::Failing, Coverage::Held];

/// Counts since the process started (Prometheus counters reset with the process; `rate()`
/// copes with that).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counters {
    /// (uid, hotkey, outcome token) → answers.
    pub checks: BTreeMap<(u16, String, &'static str), u64>,
    pub broadcasts: BTreeMap<(u16, String, &'static str), u64>,
    /// Failed checks and broadcasts by kind (the outcome token).
    pub failures: BTreeMap<&'static str, u64>,
    /// The last answer per validator that said it holds our valid PAT (or accepted it).
    pub last_valid_ms: BTreeMap<u16, u64>,
    pub sweeps: u64,
    pub last_sweep_seconds: Option<f64>,
    pub chain_read_failures: u64,
    pub chain_last_read_ms: Option<u64>,
}

impl Counters {
    pub fn checked(&mut self, uid: u16, hotkey: &str, status: CheckStatus, now_ms: u64) {
        *self.checks.entry((uid, hotkey.to_owned(), status.token())).or_default() += 1;
        match status {
            CheckStatus::Valid => {
                self.last_valid_ms.insert(uid, now_ms);
            }
            CheckStatus::NoPat | CheckStatus::InvalidPat | CheckStatus::Inconclusive => {}
            failed => *self.failures.entry(failed.token()).or_default() += 1,
        }
    }

    pub fn broadcast(&mut self, uid: u16, hotkey: &str, status: BroadcastStatus, now_ms: u64) {
        *self.broadcasts.entry((uid, hotkey.to_owned(), status.token())).or_default() += 1;
        match status {
            BroadcastStatus::Accepted => {
                self.last_valid_ms.insert(uid, now_ms);
            }
            failed => *self.failures.entry(failed.token()).or_default() += 1,
        }
    }
}

/// Everything [`render`] reads.
pub struct MetricsView<'a> {
    pub agent: &'a str,
    pub version: &'a str,
    /// `wallet/hotkey` as the config names them.
    pub wallet: &'a str,
    pub netuid: u16,
    pub tracker: &'a Tracker,
    pub counters: &'a Counters,
    pub pat: PatStanding,
    pub pat_expiry_ms: Option<u64>,
    /// Who lacks the PAT since when, who is silent since when: what the hook's incidents
    /// are made of, so that Prometheus' rules judge the same facts.
    pub incidents: &'a super::alerts::Alerting,
    pub now_ms: u64,
}

pub fn render(view: &MetricsView) -> String {
    let mut out = Exposition::default();
    let agent = [("agent", view.agent)];
    let agent_only = &agent[..];

    out.family("info", "gauge", "Constant 1; the labels say which agent, version, wallet/hotkey and subnet.");
    out.sample(
        "info",
        &[
            ("agent", view.agent),
            ("version", view.version),
            ("wallet", view.wallet),
            ("netuid", &view.netuid.to_string()),
        ],
        1.0,
    );
    out.family("last_update_timestamp_seconds", "gauge", "When the agent last wrote these metrics (Unix time).");
    out.sample("last_update_timestamp_seconds", agent_only, seconds(view.now_ms));

    let summary = view.tracker.summary();
    out.family("validators_eligible", "gauge", "Validators eligible to receive the PAT.");
    out.sample("validators_eligible", agent_only, summary.eligible as f64);
    out.family("validators", "gauge", "Eligible validators by coverage state.");
    for coverage in COVERAGES {
        let count = view.tracker.validators.values().filter(|e| e.coverage == coverage).count();
        out.sample("validators", &[("agent", view.agent), ("coverage", coverage.name())], count as f64);
    }
    out.family("validators_unreachable", "gauge", "Eligible validators the liveness probe cannot reach.");
    out.sample("validators_unreachable", agent_only, summary.unreachable as f64);

    let per_validator: Vec<(String, String, &crate::reconcile::tracker::Entry)> =
        view.tracker.validators.values().map(|e| (e.target.uid.to_string(), e.target.hotkey.clone(), e)).collect();
    let labels = |uid, hotkey| validator_labels(view.agent, uid, hotkey);

    out.family("validator_covered", "gauge", "1 when the validator's last word is that it holds our valid PAT.");
    for (uid, hotkey, e) in &per_validator {
        out.sample("validator_covered", &labels(uid, hotkey), f64::from(u8::from(e.coverage == Coverage::Covered)));
    }
    out.family("validator_coverage", "gauge", "Constant 1; the coverage label is the validator's state.");
    for (uid, hotkey, e) in &per_validator {
        let [a, u, h] = labels(uid, hotkey);
        out.sample("validator_coverage", &[a, u, h, ("coverage", e.coverage.name())], 1.0);
    }
    out.family("validator_reachable", "gauge", "1 when the last liveness probe reached the validator.");
    for (uid, hotkey, e) in &per_validator {
        out.sample("validator_reachable", &labels(uid, hotkey), f64::from(u8::from(e.reachable)));
    }
    out.family(
        "validator_last_answer_timestamp_seconds",
        "gauge",
        "When the validator last answered a check or broadcast (Unix time).",
    );
    for (uid, hotkey, e) in &per_validator {
        let check = e.last_check.as_ref().map(|c| c.at_ms);
        let sent = e.last_broadcast.as_ref().map(|b| b.at_ms);
        if let Some(at) = check.max(sent) {
            out.sample("validator_last_answer_timestamp_seconds", &labels(uid, hotkey), seconds(at));
        }
    }
    out.family(
        "validator_last_valid_answer_timestamp_seconds",
        "gauge",
        "When the validator last said it holds our valid PAT, or accepted it (Unix time).",
    );
    for (uid, hotkey, e) in &per_validator {
        let persisted = e.last_check.as_ref().filter(|c| c.status == CheckStatus::Valid).map(|c| c.at_ms);
        if let Some(at) = view.counters.last_valid_ms.get(&e.target.uid).copied().max(persisted) {
            out.sample("validator_last_valid_answer_timestamp_seconds", &labels(uid, hotkey), seconds(at));
        }
    }
    out.family(
        "validator_without_pat_since_timestamp_seconds",
        "gauge",
        "When the validator first answered that it lacks our valid PAT (Unix time); absent while it holds it.",
    );
    for (uid, hotkey, e) in &per_validator {
        if let Some(lacking) = view.incidents.lacking().get(&e.target.uid) {
            out.sample(
                "validator_without_pat_since_timestamp_seconds",
                &labels(uid, hotkey),
                seconds(lacking.since_ms),
            );
        }
    }
    out.family(
        "validator_silent_since_timestamp_seconds",
        "gauge",
        "Since when the validator has not answered (Unix time); absent while it answers.",
    );
    for (uid, hotkey, e) in &per_validator {
        if let Some(&since) = view.incidents.silent_since().get(&e.target.uid) {
            out.sample("validator_silent_since_timestamp_seconds", &labels(uid, hotkey), seconds(since));
        }
    }
    out.family(
        "validator_consecutive_failures",
        "gauge",
        "Attempts in a row without a usable answer (the backoff exponent).",
    );
    for (uid, hotkey, e) in &per_validator {
        out.sample("validator_consecutive_failures", &labels(uid, hotkey), f64::from(e.failures));
    }
    out.family(
        "validator_next_attempt_timestamp_seconds",
        "gauge",
        "When the validator is next asked (Unix time): the backoff.",
    );
    for (uid, hotkey, e) in &per_validator {
        out.sample("validator_next_attempt_timestamp_seconds", &labels(uid, hotkey), seconds(e.next_check_ms));
    }

    out.family("checks_total", "counter", "PatCheck answers since the agent started, by validator and outcome.");
    for ((uid, hotkey, outcome), n) in &view.counters.checks {
        let uid = uid.to_string();
        let [a, u, h] = validator_labels(view.agent, &uid, hotkey);
        out.sample("checks_total", &[a, u, h, ("outcome", outcome)], *n as f64);
    }
    out.family(
        "broadcasts_total",
        "counter",
        "PatBroadcast answers since the agent started, by validator and outcome.",
    );
    for ((uid, hotkey, outcome), n) in &view.counters.broadcasts {
        let uid = uid.to_string();
        let [a, u, h] = validator_labels(view.agent, &uid, hotkey);
        out.sample("broadcasts_total", &[a, u, h, ("outcome", outcome)], *n as f64);
    }
    out.family("failures_total", "counter", "Checks and broadcasts without a usable answer, by kind.");
    for (kind, n) in &view.counters.failures {
        out.sample("failures_total", &[("agent", view.agent), ("kind", kind)], *n as f64);
    }

    out.family("pat_github_verdict", "gauge", "1 for GitHub's current verdict on the PAT, 0 for the others.");
    for standing in [PatStanding::Unknown, PatStanding::Valid, PatStanding::Rejected, PatStanding::Unavailable] {
        out.sample(
            "pat_github_verdict",
            &[("agent", view.agent), ("verdict", standing.name())],
            f64::from(u8::from(standing == view.pat)),
        );
    }
    out.family(
        "pat_expiry_timestamp_seconds",
        "gauge",
        "When GitHub says the PAT expires (Unix time); absent for a PAT without expiry.",
    );
    if let Some(at) = view.pat_expiry_ms {
        out.sample("pat_expiry_timestamp_seconds", agent_only, seconds(at));
    }

    out.family("sweeps_total", "counter", "Sweeps (every validator checked) since the agent started.");
    out.sample("sweeps_total", agent_only, view.counters.sweeps as f64);
    out.family(
        "sweep_duration_seconds",
        "gauge",
        "How long the last finished sweep took, from its start to its last answer.",
    );
    if let Some(secs) = view.counters.last_sweep_seconds {
        out.sample("sweep_duration_seconds", agent_only, secs);
    }
    out.family("chain_read_failures_total", "counter", "Failed reads of the validator set from the chain.");
    out.sample("chain_read_failures_total", agent_only, view.counters.chain_read_failures as f64);
    out.family("chain_last_read_timestamp_seconds", "gauge", "When the validator set was last read (Unix time).");
    if let Some(at) = view.counters.chain_last_read_ms {
        out.sample("chain_last_read_timestamp_seconds", agent_only, seconds(at));
    }
    out.text
}

fn validator_labels<'a>(agent: &'a str, uid: &'a str, hotkey: &'a str) -> [(&'static str, &'a str); 3] {
    [("agent", agent), ("uid", uid), ("hotkey", hotkey)]
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {PREFIX}{name} {help}");
        let _ = writeln!(self.text, "# TYPE {PREFIX}{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.text, "{PREFIX}{name}");
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::tracker::{Entry, Seen};
    use crate::transport::Target;

    fn tracker() -> Tracker {
        let mut t = Tracker::default();
        for (uid, coverage) in [(0u16, Coverage::Covered), (1, Coverage::Missing)] {
            let target = Target { uid, hotkey: format!("5Hot{uid}"), ip: "127.0.0.1".parse().unwrap(), port: 8091 };
            let mut entry = Entry::new(target, 0);
            entry.coverage = coverage;
            entry.last_check = Some(Seen { status: CheckStatus::Valid, reason: None, at_ms: 1_000 });
            entry.next_check_ms = 61_000;
            t.validators.insert(uid, entry);
        }
        t
    }

    #[test]
    fn the_exposition_names_every_validator_and_state() {
        let mut t = tracker();
        t.validators.get_mut(&1).unwrap().last_check =
            Some(Seen { status: CheckStatus::NoPat, reason: None, at_ms: 2_000 });
        t.validators.get_mut(&0).unwrap().reachable = false;
        let mut incidents = super::super::alerts::Alerting::default();
        incidents.observe(&t, 4_000);
        let mut counters = Counters::default();
        counters.checked(1, "5Hot1", CheckStatus::NoPat, 2_000);
        counters.broadcast(1, "5Hot1", BroadcastStatus::NoResponse, 3_000);
        let text = render(&MetricsView {
            agent: "default",
            version: "0.1.0",
            wallet: "miner/default",
            netuid: 74,
            tracker: &t,
            counters: &counters,
            pat: PatStanding::Valid,
            pat_expiry_ms: Some(1_800_000_000_000),
            incidents: &incidents,
            now_ms: 5_000,
        });
        for line in [
            r#"gittensor_miner_agent_info{agent="default",version="0.1.0",wallet="miner/default",netuid="74"} 1"#,
            r#"gittensor_miner_agent_validators{agent="default",coverage="covered"} 1"#,
            r#"gittensor_miner_agent_validators{agent="default",coverage="missing"} 1"#,
            r#"gittensor_miner_agent_validators{agent="default",coverage="held"} 0"#,
            r#"gittensor_miner_agent_validator_covered{agent="default",uid="0",hotkey="5Hot0"} 1"#,
            r#"gittensor_miner_agent_validator_covered{agent="default",uid="1",hotkey="5Hot1"} 0"#,
            r#"gittensor_miner_agent_checks_total{agent="default",uid="1",hotkey="5Hot1",outcome="no_pat"} 1"#,
            r#"gittensor_miner_agent_broadcasts_total{agent="default",uid="1",hotkey="5Hot1",outcome="no_response"} 1"#,
            r#"gittensor_miner_agent_failures_total{agent="default",kind="no_response"} 1"#,
            r#"gittensor_miner_agent_pat_github_verdict{agent="default",verdict="valid"} 1"#,
            r#"gittensor_miner_agent_pat_github_verdict{agent="default",verdict="rejected"} 0"#,
            r#"gittensor_miner_agent_pat_expiry_timestamp_seconds{agent="default"} 1800000000"#,
            r#"gittensor_miner_agent_validator_next_attempt_timestamp_seconds{agent="default",uid="0",hotkey="5Hot0"} 61"#,
            "# TYPE gittensor_miner_agent_checks_total counter",
            r#"gittensor_miner_agent_validator_without_pat_since_timestamp_seconds{agent="default",uid="1",hotkey="5Hot1"} 2"#,
            r#"gittensor_miner_agent_validator_silent_since_timestamp_seconds{agent="default",uid="0",hotkey="5Hot0"} 4"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
        }
        // Every sample belongs to a family declared just before it.
        let mut declared = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared = rest.split(' ').next().unwrap().to_owned();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&declared), "{line} outside its family {declared}");
            }
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
