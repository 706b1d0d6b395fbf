//! The one line `systemctl status` shows (`STATUS=`): what the daemon knows, in words.
//! Pure: the daemon hands in a [`StatusView`].

use crate::clock;
use crate::github::PatStanding;
use crate::reconcile::tracker::Summary;

/// What the status line is made of.
pub struct StatusView<'a> {
    pub summary: Summary,
    pub pat: PatStanding,
    pub days_to_expiry: Option<i64>,
    pub next_sweep_ms: Option<u64>,
    pub cron: bool,
    pub chain_error: Option<&'a str>,
    pub reload_error: Option<&'a str>,
}

impl StatusView<'_> {
    pub fn render(&self) -> String {
        let s = &self.summary;
        if s.eligible == 0 {
            return match self.chain_error {
                Some(e) => format!("cannot read the validator set (retrying): {}", truncate(e, 240)),
                None => "reading the validator set".into(),
            };
        }
        let mut parts = vec![match s.covered_unreachable {
            0 => format!("covered {}/{} validators", s.covered, s.eligible),
            n => {
                format!("covered {}/{} validators at their last answer ({n} unreachable since)", s.covered, s.eligible)
            }
        }];
        if self.pat == PatStanding::Rejected {
            parts.push("PAT REJECTED by GitHub: nothing is sent until a new PAT is stored".into());
        } else {
            if s.pending_broadcast > 0 {
                parts.push(format!("{} re-broadcast pending", s.pending_broadcast));
            }
            if s.failing > 0 {
                parts.push(format!("{} not answering", s.failing));
            }
            if s.store_unavailable > 0 {
                parts.push(format!("{} with their PAT store unavailable", s.store_unavailable));
            }
            if s.held > 0 {
                parts.push(format!("{} held (identity locked)", s.held));
            }
            if let Some(days) = self.days_to_expiry {
                parts.push(format!("PAT expires in {days} d"));
            }
        }
        let unreachable_elsewhere = s.unreachable - s.covered_unreachable.min(s.unreachable);
        if unreachable_elsewhere > 0 {
            parts.push(format!("{unreachable_elsewhere} unreachable"));
        }
        if let Some(e) = self.chain_error {
            parts.push(format!("chain unreadable ({})", truncate(e, 60)));
        }
        if self.reload_error.is_some() {
            parts.push("last reload FAILED, previous config kept (see journal)".into());
        }
        match self.next_sweep_ms {
            Some(at) => parts.push(format!("next sweep {}", clock::clock_utc(at))),
            None if self.cron => parts.push("sweeps by cron".into()),
            None => {}
        }
        parts.join(" · ")
    }
}

/// At most `max` characters, on one line: STATUS= is one line, and a chain error lists its
/// endpoints on several.
fn truncate(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.as_str();
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(summary: Summary) -> StatusView<'static> {
        StatusView {
            summary,
            pat: PatStanding::Valid,
            days_to_expiry: None,
            next_sweep_ms: Some(1_798_675_200_000),
            cron: false,
            chain_error: None,
            reload_error: None,
        }
    }

    #[test]
    fn the_status_line_says_what_matters() {
        let s = Summary { eligible: 3, covered: 2, failing: 1, ..Default::default() };
        assert_eq!(view(s).render(), "covered 2/3 validators · 1 not answering · next sweep 00:00 UTC");
        let rejected = StatusView {
            pat: PatStanding::Rejected,
            ..view(Summary { eligible: 3, pending_broadcast: 3, ..Default::default() })
        };
        assert_eq!(
            rejected.render(),
            "covered 0/3 validators · PAT REJECTED by GitHub: nothing is sent until a new PAT is stored · next sweep 00:00 UTC"
        );
        let gone_quiet =
            Summary { eligible: 3, covered: 3, unreachable: 1, covered_unreachable: 1, ..Default::default() };
        assert_eq!(
            view(gone_quiet).render(),
            "covered 3/3 validators at their last answer (1 unreachable since) · next sweep 00:00 UTC",
            "never `covered 3/3 · 1 unreachable`"
        );
        let unreachable = "every chain endpoint failed:\n  cannot connect to the chain at wss://entrypoint-finney.opentensor.ai:443: dns error; check the URL (`network`/`rpc_url`) and this machine's network";
        let at_start = StatusView { chain_error: Some(unreachable), ..view(Summary::default()) }.render();
        assert!(!at_start.contains('\n'), "{at_start}");
        assert!(at_start.ends_with("check the URL (`network`/`rpc_url`) and this machine's network"), "{at_start}");
        let starting = StatusView { chain_error: Some("connection refused"), ..view(Summary::default()) };
        assert_eq!(starting.render(), "cannot read the validator set (retrying): connection refused");
        let reload =
            StatusView { reload_error: Some("bad"), ..view(Summary { eligible: 1, covered: 1, ..Default::default() }) };
        assert!(reload.render().contains("last reload FAILED"), "{}", reload.render());
    }
}
