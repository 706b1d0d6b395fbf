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

/// The chain's `u128` ip as an address, canonical (`::ffff:a.b.c.d` is the IPv4 address it
/// carries); `None` when it says "not serving": 0, or an unspecified address in disguise
/// (`::ffff:0.0.0.0`). bittensor's `AxonInfo.is_serving` is `ip != "0.0.0.0"`, whatever the
/// port. `ip_type` 6 is IPv6; otherwise the number decides, as `netaddr.IPAddress(int)`
/// does for bittensor: up to 2³²−1 IPv4, above it IPv6.
pub fn axon_ip(ip: u128, ip_type: u8) -> Option<IpAddr> {
    let ip = match (ip, ip_type) {
        (0, _) => return None,
        (_, 6) => IpAddr::V6(Ipv6Addr::from(ip)),
        _ => match u32::try_from(ip) {
            Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            Err(_) => IpAddr::V6(Ipv6Addr::from(ip)),
        },
    }
    .to_canonical();
    (!ip.is_unspecified()).then_some(ip)
}

/// Which axon addresses may receive the PAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addresses {
    /// Only globally routable ones: the chain is anyone's to write, and an axon advertised
    /// on loopback, a private network or a cloud's metadata address would hand the PAT to
    /// whoever listens there on the miner's own machine or network.
    PublicOnly,
    /// Any: a local development chain (`network = "local"`), whose validators live on
    /// loopback or a private network.
    Any,
}

/// What kind of address `ip` is, when it is not globally routable (IPv4-mapped IPv6 is
/// judged as the IPv4 address it carries). `None`: a public address.
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(match () {
                _ if v4.is_unspecified() || a == 0 => "an unspecified (\"this network\") address",
                _ if v4.is_loopback() => "a loopback address",
                _ if v4.is_private() => "a private-network address",
                _ if a == 100 && (b & 0xc0) == 64 => "a shared (carrier-grade NAT) address",
                _ if v4.is_link_local() => "a link-local address",
                _ if v4.is_multicast() => "a multicast address",
                _ if v4.is_broadcast() => "the broadcast address",
                _ if v4.is_documentation() => "a documentation address",
                _ if a == 198 && (b & 0xfe) == 18 => "a benchmarking address",
                _ if a == 192 && b == 0 && c == 0 => "an IETF protocol address",
                _ if a >= 240 => "a reserved address",
                _ => return None,
            })
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            Some(match () {
                _ if v6.is_unspecified() => "an unspecified address",
                _ if v6.is_loopback() => "a loopback address",
                _ if v6.is_multicast() => "a multicast address",
                _ if (segments[0] & 0xfe00) == 0xfc00 => "a unique local (ULA) address",
                _ if (segments[0] & 0xffc0) == 0xfe80 => "a link-local address",
                _ if segments[0] == 0x2001 && segments[1] == 0x0db8 => "a documentation address",
                _ if segments[..6] == [0; 6] => "an IPv4-compatible address (deprecated, not routed)",
                _ if segments[..4] == [0x0100, 0, 0, 0] => "a discard-only address",
                _ => return None,
            })
        }
    }
}
/// A value as bittensor's metagraph holds it: a `float32` tensor, read back with `float()`.
/// The reference compares and prints these, so the agent does too.
pub fn as_metagraph_float(value: f64) -> f64 {
    f64::from(value as f32)
}

/// An amount of α as the reference writes it (`f"{stake:,.0f}"`): rounded to a whole
/// number, thousands separated by commas.
pub fn alpha_amount(value: f64) -> String {
    let whole = format!("{value:.0}");
    let (sign, digits) = whole.strip_prefix('-').map_or(("", whole.as_str()), |d| ("-", d));
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return whole; // inf, NaN: never from the chain
    }
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}")
}

/// Uids with `validator_trust <= min_vtrust` are not validators and are dropped silently;
/// the others must serve an axon and hold at least `min_stake` α, or are reported as skipped
/// — with the reference's reasons, word for word. vtrust and stake are compared and reported
/// as the reference's metagraph holds them (see [`as_metagraph_float`]). With
/// [`Addresses::PublicOnly`], an axon that is not globally routable is skipped too, saying
/// what kind of address it is.
pub fn select(neurons: &[Neuron], min_vtrust: f64, min_stake: f64, addresses: Addresses) -> ValidatorSet {
    let mut set = ValidatorSet::default();
    for n in neurons {
        let (vtrust, stake) = (as_metagraph_float(n.validator_trust), as_metagraph_float(n.total_stake));
        if vtrust <= min_vtrust {
            continue;
        }
        let mut reasons = Vec::new();
        if n.axon.is_none() {
            reasons.push("not serving an axon".to_owned());
        }
        if stake < min_stake {
            reasons.push(format!("stake {} α below {} α threshold", alpha_amount(stake), alpha_amount(min_stake)));
        }
        if let (Some((ip, _)), Addresses::PublicOnly) = (n.axon, addresses) {
            if let Some(kind) = not_public(ip) {
                reasons.push(format!(
                    "axon {ip} is {kind}, not public: the PAT goes only to public axons (network = \"local\" allows it)"
                ));
            }
        }
        match n.axon {
            Some((ip, port)) if reasons.is_empty() => {
                set.eligible.push(Target { uid: n.uid, hotkey: n.hotkey.clone(), ip, port })
            }
            _ => set.skipped.push(Skipped { uid: n.uid, vtrust, stake, reasons }),
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
        let set = select(
            &[neuron(1, 0.25, 20_000.0, serving()), neuron(2, 0.2501, 20_000.0, serving())],
            0.25,
            15_000.0,
            Addresses::Any,
        );
        assert_eq!(set.eligible.iter().map(|t| t.uid).collect::<Vec<_>>(), [2]);
        assert!(set.skipped.is_empty(), "sub-threshold uids are not validators: not reported");
    }

    #[test]
    fn stake_exactly_at_the_threshold_is_kept() {
        let set = select(
            &[neuron(1, 0.9, 15_000.0, serving()), neuron(2, 0.9, 14_999.0, serving())],
            0.25,
            15_000.0,
            Addresses::Any,
        );
        assert_eq!(set.eligible.iter().map(|t| t.uid).collect::<Vec<_>>(), [1]);
        assert_eq!(set.skipped[0].uid, 2);
        assert_eq!(set.skipped[0].reasons, ["stake 14,999 α below 15,000 α threshold"]);
    }

    #[test]
    fn a_validator_without_an_axon_is_skipped_with_every_reason() {
        let set = select(&[neuron(4, 0.9, 10.0, None)], 0.25, 15_000.0, Addresses::Any);
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
        // As bittensor reads them (netaddr): the number, not the type, decides.
        assert_eq!(axon_ip(1 << 40, 4), Some("::100:0:0".parse().unwrap()));
        assert_eq!(axon_ip(5, 9), Some("0.0.0.5".parse().unwrap()));
    }

    #[test]
    fn an_ipv4_mapped_axon_is_the_ipv4_address_and_mapped_zero_is_not_serving() {
        let mapped = |v4: u32| (0xffffu128 << 32) | u128::from(v4);
        assert_eq!(axon_ip(mapped(0x7f00_0001), 6), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(axon_ip(mapped(0xcb00_7107), 4), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(axon_ip(mapped(0), 6), None, "::ffff:0.0.0.0 is 0.0.0.0: not serving");
    }

    #[test]
    fn only_globally_routable_addresses_are_public() {
        for (ip, kind) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.1", "documentation"),
            ("203.0.113.7", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("240.0.0.1", "reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::5", "documentation"),
            ("::7f00:1", "IPv4-compatible"),
        ] {
            let found = not_public(ip.parse().unwrap());
            assert!(found.is_some_and(|k| k.contains(kind)), "{ip}: {found:?}, wanted {kind}");
        }
        for ip in
            ["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.32.0.1", "2a01:4f8::1", "2606:4700::1111"]
        {
            assert_eq!(not_public(ip.parse().unwrap()), None, "{ip} is public");
        }
    }

    #[test]
    fn a_non_public_axon_is_skipped_with_what_it_is_unless_any_address_is_allowed() {
        let at = |ip: &str| Some((ip.parse().unwrap(), 8091));
        let neurons = [
            neuron(1, 0.9, 20_000.0, at("127.0.0.1")),
            neuron(2, 0.9, 20_000.0, at("8.8.8.8")),
            neuron(3, 0.9, 1.0, at("169.254.169.254")),
        ];
        let public = select(&neurons, 0.25, 15_000.0, Addresses::PublicOnly);
        assert_eq!(public.eligible.iter().map(|t| t.uid).collect::<Vec<_>>(), [2]);
        assert_eq!(public.skipped[0].uid, 1);
        assert_eq!(
            public.skipped[0].reasons,
            ["axon 127.0.0.1 is a loopback address, not public: the PAT goes only to public axons (network = \"local\" allows it)"]
        );
        assert_eq!(public.skipped[1].reasons.len(), 2, "every reason: {:?}", public.skipped[1].reasons);
        let any = select(&neurons, 0.25, 15_000.0, Addresses::Any);
        assert_eq!(any.eligible.iter().map(|t| t.uid).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn stakes_read_like_the_reference_writes_them() {
        assert_eq!(alpha_amount(58_037.4), "58,037");
        assert_eq!(alpha_amount(100_000.0), "100,000");
        assert_eq!(alpha_amount(999.5), "1,000", "half rounds to even, as Python's format does");
        assert_eq!(alpha_amount(0.4), "0");
        assert_eq!((alpha_amount(0.5), alpha_amount(1.5), alpha_amount(2.5)), ("0".into(), "2".into(), "2".into()));
        assert_eq!(alpha_amount(1_234_567_890.0), "1,234,567,890");
        let set = select(&[neuron(7, 0.9, 58_037.0, serving())], 0.25, 100_000.0, Addresses::Any);
        assert_eq!(set.skipped[0].reasons, ["stake 58,037 α below 100,000 α threshold"]);
    }

    /// bittensor's metagraph keeps vtrust and stake in float32 tensors; `gitt` compares and
    /// prints those values, so a stake a hair under the threshold in rao is at it in float32.
    #[test]
    fn thresholds_apply_to_the_metagraphs_float32_values() {
        let set = select(
            &[neuron(1, 0.8, 14_999.999_999_999, serving()), neuron(2, 0.8, 14_000.0, serving())],
            0.25,
            15_000.0,
            Addresses::Any,
        );
        assert_eq!(set.eligible.iter().map(|t| t.uid).collect::<Vec<_>>(), [1]);
        assert_eq!(set.skipped[0].vtrust, 0.800000011920929, "float(np.float32(52428 / 65535))");
        assert_eq!(set.skipped[0].stake, 14_000.0);
    }

    #[test]
    fn an_ipv6_axon_is_a_target() {
        let set = select(
            &[neuron(9, 1.0, 1e6, Some(("2001:db8::5".parse().unwrap(), 30333)))],
            0.25,
            15_000.0,
            Addresses::Any,
        );
        assert_eq!(set.eligible[0].addr().to_string(), "[2001:db8::5]:30333");
    }
}
