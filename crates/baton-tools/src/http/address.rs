//! The IP addresses an HTTP tool does not connect to unless the team file allows the host: the
//! ones that lead into the machine or its network rather than to a public service (loopback,
//! private, link-local, shared, unspecified, multicast, reserved) and the cloud metadata
//! services among them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of internal address `ip` is, for a message ("a loopback address"), or `None` for
/// an address on the public internet. An IPv6 address that carries an IPv4 one (mapped,
/// `::ffff:a.b.c.d`; compatible, `::a.b.c.d`; NAT64, `64:ff9b::a.b.c.d` and the local-use
/// `64:ff9b:1::/48`; 6to4, `2002:aabb:ccdd::/48`) is judged by the IPv4 address.
pub(crate) fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => internal_v4(ip),
        IpAddr::V6(ip) => match embedded_v4(ip) {
            Some(v4) => internal_v4(v4),
            None => internal_v6(ip),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("a cloud metadata address")
    } else if a == 0 {
        Some("an unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (CGNAT) address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if a >= 240 || (a == 192 && b == 0 && ip.octets()[2] == 0) || (a == 198 && (18..20).contains(&b)) {
        Some("a reserved address")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        Some("a cloud metadata address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if ip.is_loopback() {
        Some("a loopback address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if first & 0xffc0 == 0xfec0 {
        Some("a site-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// The IPv4 address an IPv6 one stands for: IPv4-mapped or -compatible, or in a NAT64 prefix
/// (the well-known `64:ff9b::/96` or the local-use `64:ff9b:1::/48`), all in the last 32 bits;
/// or 6to4, in bits 16 to 47.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let [a, b, c, d, e, f, g, h] = ip.segments();
    let v4 = |high: u16, low: u16| {
        let [w, x] = high.to_be_bytes();
        let [y, z] = low.to_be_bytes();
        Ipv4Addr::new(w, x, y, z)
    };
    let last = v4(g, h);
    match [a, b, c, d, e, f] {
        // IPv4-compatible (deprecated, still routed by some stacks); :: and ::1 are not.
        [0, 0, 0, 0, 0, 0] if g != 0 => Some(last),
        [0x64, 0xff9b, 0, 0, 0, 0] => Some(last),
        [0x64, 0xff9b, 1, ..] => Some(last),
        [0x2002, ..] => Some(v4(b, c)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(address: &str) -> Option<&'static str> {
        internal(address.parse().unwrap_or_else(|_| panic!("{address} is not an address")))
    }

    #[test]
    fn internal_addresses_are_named_by_kind() {
        let cases = [
            ("127.0.0.1", "a loopback address"),
            ("127.255.0.9", "a loopback address"),
            ("::1", "a loopback address"),
            ("10.1.2.3", "a private address"),
            ("172.16.0.1", "a private address"),
            ("172.31.255.255", "a private address"),
            ("192.168.1.1", "a private address"),
            ("fc00::1", "a private address"),
            ("fd12:3456::1", "a private address"),
            ("169.254.0.1", "a link-local address"),
            ("fe80::1", "a link-local address"),
            ("febf::1", "a link-local address"),
            ("169.254.169.254", "a cloud metadata address"),
            ("fd00:ec2::254", "a cloud metadata address"),
            ("100.100.100.200", "a cloud metadata address"),
            ("100.64.0.1", "a shared (CGNAT) address"),
            ("100.127.255.255", "a shared (CGNAT) address"),
            ("0.0.0.0", "an unspecified address"),
            ("0.1.2.3", "an unspecified address"),
            ("::", "an unspecified address"),
            ("224.0.0.1", "a multicast address"),
            ("ff02::1", "a multicast address"),
            ("255.255.255.255", "a reserved address"),
            ("::ffff:127.0.0.1", "a loopback address"),
            ("::ffff:169.254.169.254", "a cloud metadata address"),
            ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
            ("64:ff9b::10.0.0.1", "a private address"),
            ("::7f00:1", "a loopback address"),
            ("::a9fe:a9fe", "a cloud metadata address"),
            ("64:ff9b:1::7f00:1", "a loopback address"),
            ("2002:a9fe:a9fe::1", "a cloud metadata address"),
            ("2002:c0a8:0101::", "a private address"),
            ("fec0::1", "a site-local address"),
            ("192.0.0.8", "a reserved address"),
            ("198.18.0.1", "a reserved address"),
            ("198.19.255.255", "a reserved address"),
        ];
        for (address, expected) in cases {
            assert_eq!(kind(address), Some(expected), "{address}");
        }
    }

    #[test]
    fn public_addresses_are_not_internal() {
        for address in [
            "93.184.215.14",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "169.253.255.255",
            "2606:4700::1111",
            "64:ff9b::8.8.8.8",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
            "198.20.0.1",
            "192.0.1.1",
        ] {
            assert_eq!(kind(address), None, "{address}");
        }
    }
}
