//! Whom to count a message against: the caller's address from the payload
//! (Auth0 gives it "in IPv6 format"), folded so one attacker is one key.

use std::net::{IpAddr, Ipv6Addr};

/// The address a message is counted against: the payload's `ip` when it
/// holds an address, else the peer's. IPv4-mapped IPv6 (`::ffff:203.0.113.9`)
/// is the IPv4 address; any other IPv6 address counts as its network of
/// `v6_prefix_len` bits (one subscriber holds a whole /64).
pub fn network(payload_ip: &str, peer: Option<IpAddr>, v6_prefix_len: u8) -> Option<IpAddr> {
    let ip = payload_ip.trim().parse::<IpAddr>().ok().or(peer)?;
    Some(match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(mask(v6, v6_prefix_len)),
        },
    })
}

fn mask(ip: Ipv6Addr, bits: u8) -> Ipv6Addr {
    let bits = u32::from(bits.min(128));
    let keep = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    Ipv6Addr::from(u128::from(ip) & keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn addresses_fold_to_what_one_caller_holds() {
        let peer = ip("198.51.100.7");
        let cases = [
            ("203.0.113.9", 64, ip("203.0.113.9")),
            ("::ffff:203.0.113.9", 64, ip("203.0.113.9")),
            ("2001:db8:1:2:aaaa::1", 64, ip("2001:db8:1:2::")),
            ("2001:db8:1:2:bbbb::9", 64, ip("2001:db8:1:2::")),
            ("2001:db8:1:2:bbbb::9", 48, ip("2001:db8:1::")),
            ("2001:db8::1", 128, ip("2001:db8::1")),
            // No usable address in the payload: the peer's.
            ("", 64, peer),
            ("not an address", 64, peer),
        ];
        for (payload, bits, want) in cases {
            assert_eq!(network(payload, peer, bits), want, "{payload} /{bits}");
        }
        assert_eq!(network("", None, 64), None);
    }
}
