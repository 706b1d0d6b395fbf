//! Who gets probed: the rule of the reference CLI (`_get_validator_axons` in gittensor's
//! `cli/miner_commands/helpers.py`). Pure, tested at every boundary below.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::transport::Target;
use crate::validators::{Skipped, ValidatorSet};

/// One uid of the subnet, as the chain describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    pub uid: u16,
    pub hotkey: String,
    /// `None` when the neuron serves no axon (ip 0) or its ip type is unknown.
    pub axon: Option<(IpAddr, u16)>,
    /// validator_trust as a fraction (the chain's u16 / 65535).
    pub validator_trust: f64,
    /// Total stake in α (the chain's rao / 10⁹).
    pub total_stake: f64,
}

/// The chain's `u128` ip and `ip_type` (4 or 6) as an address; `None` for 0 or an unknown type.
pub fn axon_ip(ip: u128, ip_type: u8) -> Option<IpAddr> {
    if ip == 0 {
        return None;
    }
    match ip_type {
        4 => u32::try_from(ip).ok().map(|v4| IpAddr::V4(Ipv4Addr::from(v4))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(ip))),
        _ => None,
    }
}

/// Uids with `validator_trust <= min_vtrust` are not validators and are dropped silently;
/// the others must serve an axon and hold at least `min_stake` α, or are reported as skipped.
pub fn select(neurons: &[Neuron], min_vtrust: f64, min_stake: f64) -> ValidatorSet {
    let mut set = ValidatorSet::default();
    for n in neurons {
        if n.validator_trust <= min_vtrust {
            continue;
        }
        let mut reasons = Vec::new();
        if n.axon.is_none() {
            reasons.push("not serving an axon".to_owned());
        }
        if n.total_stake < min_stake {
            reasons.push(format!("stake {:.0} α below {:.0} α threshold", n.total_stake, min_stake));
        }
        match n.axon {
            Some((ip, port)) if reasons.is_empty() => {
                set.eligible.push(Target { uid: n.uid, hotkey: n.hotkey.clone(), ip, port })
            }
            _ => set.skipped.push(Skipped { uid: n.uid, vtrust: n.validator_trust, stake: n.total_stake, reasons }),
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neuron(uid: u16, vtrust: f64, stake: f64, axon: Option<(IpAddr, u16)>) -> Neuron {
        Neuron { uid, hotkey: format!("hotkey{uid}"), axon, validator_trust: vtrust, total_stake: stake }
    }

    fn serving() -> Option<(IpAddr, u16)> {
        Some(("203.0.113.7".parse().unwrap(), 8091))
    }

    #[test]
    fn vtrust_must_be_strictly_above_the_threshold() {
        let set =
            select(&[neuron(1, 0.25, 20_000.0, serving()), neuron(2, 0.2501, 20_000.0, serving())], 0.25, 15_000.0);
        assert_eq!(set.eligible.iter().map(|t| t.uid).collect::<Vec<_>>(), [2]);
        assert!(set.skipped.is_empty(), "sub-threshold uids are not validators: not reported");
    }

    #[test]
    fn stake_exactly_at_the_threshold_is_kept() {
        let set = select(&[neuron(1, 0.9, 15_000.0, serving()), neuron(2, 0.9, 14_999.999, serving())], 0.25, 15_000.0);
        assert_eq!(set.eligible.iter().map(|t| t.uid).collect::<Vec<_>>(), [1]);
        assert_eq!(set.skipped[0].uid, 2);
        assert_eq!(set.skipped[0].reasons, ["stake 15000 α below 15000 α threshold"]);
    }

    #[test]
    fn a_validator_without_an_axon_is_skipped_with_every_reason() {
        let set = select(&[neuron(4, 0.9, 10.0, None)], 0.25, 15_000.0);
        assert!(set.eligible.is_empty());
        assert_eq!(set.skipped[0].reasons.len(), 2);
        assert_eq!(set.skipped[0].reasons[0], "not serving an axon");
    }

    #[test]
    fn ip_zero_is_not_serving_and_both_families_decode() {
        assert_eq!(axon_ip(0, 4), None);
        assert_eq!(axon_ip(0x7f00_0001, 4), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(axon_ip(1, 6), Some("::1".parse().unwrap()));
        assert_eq!(axon_ip(0x2001_0db8 << 96, 6), Some("2001:db8::".parse().unwrap()));
        assert_eq!(axon_ip(1 << 40, 4), None, "an IPv4 type with a larger number is garbage");
        assert_eq!(axon_ip(5, 9), None);
    }

    #[test]
    fn an_ipv6_axon_is_a_target() {
        let set = select(&[neuron(9, 1.0, 1e6, Some(("2001:db8::5".parse().unwrap(), 30333)))], 0.25, 15_000.0);
        assert_eq!(set.eligible[0].addr().to_string(), "[2001:db8::5]:30333");
    }
}
