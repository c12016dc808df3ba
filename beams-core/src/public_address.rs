//! Where a push service can be: an address on the public internet.
//!
//! The device API is open to anyone, and a Web Push subscription names the URL the server
//! will POST to. Without a rule, a caller could make the server send requests to the cloud
//! metadata service, to `localhost` or to any internal host. These checks refuse such hosts
//! when a subscription is registered; beams-push checks again, after DNS, the address it
//! actually connects to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is an address a public service can have: not loopback, private, link-local,
/// shared (CGNAT), multicast, broadcast, unspecified, documentation, benchmarking or
/// otherwise reserved. An IPv6 address that embeds an IPv4 one (mapped, compatible, NAT64,
/// 6to4) is judged by the IPv4 address it carries.
///
/// ```
/// use std::net::IpAddr;
/// use beams_core::is_public_address;
///
/// let public = |ip: &str| is_public_address(ip.parse::<IpAddr>().unwrap());
/// assert!(public("142.250.74.110"));
/// assert!(public("2a00:1450:4001:82f::200a"));
/// assert!(!public("169.254.169.254"));
/// assert!(!public("::ffff:127.0.0.1"));
/// ```
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_ipv4(v4),
        IpAddr::V6(v6) => is_public_ipv6(v6),
    }
}

/// Whether `ip` is a loopback address (`127.0.0.0/8`, `::1`, or `127.x` mapped into IPv6):
/// what [`EndpointRules::allow_loopback`](crate::EndpointRules) admits for tests.
///
/// ```
/// use beams_core::is_loopback_address;
///
/// assert!(is_loopback_address("::ffff:127.0.0.2".parse().unwrap()));
/// assert!(!is_loopback_address("10.0.0.1".parse().unwrap()));
/// ```
pub fn is_loopback_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn is_public_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = a == 0 // "this network"
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, cloud metadata services
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
        || a >= 224; // multicast, reserved, broadcast
    !reserved
}

fn is_public_ipv6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_ipv4(ip) {
        return is_public_ipv4(v4);
    }
    let segments = ip.segments();
    // Only global unicast (2000::/3) is public, less the special blocks inside it.
    let global_unicast = segments[0] & 0xe000 == 0x2000;
    // 2001::/23: IETF protocol assignments, Teredo, ORCHID; 2001:db8::/32 and 3fff::/20:
    // documentation.
    let special = (segments[0] == 0x2001 && (segments[1] < 0x0200 || segments[1] == 0x0db8))
        || (segments[0] & 0xfff0 == 0x3ff0);
    global_unicast && !special
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that embed one:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`)
/// or 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(low(hi, lo)),
        // `::` and `::1` are judged as IPv6 (unspecified, loopback), both refused.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// What the host of a URL is, read the way resolvers read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host<'a> {
    /// An address, in whatever spelling it was written.
    Ip(IpAddr),
    /// A name to look up (lower case letters, digits, `-` and `.`; no trailing dot).
    Name(&'a str),
}

/// Reads a URL's host (`[v6]`, an IPv4 address in any spelling, or a name). IPv4 spellings
/// follow what `inet_aton` and the WHATWG URL standard accept, since that is what resolvers
/// and browsers do with them: `127.1`, `0x7f000001`, `2130706433` and `0177.0.0.1` are all
/// 127.0.0.1. A trailing dot is ignored. `None` when the host is neither.
pub(crate) fn parse_host(host: &str) -> Option<Host<'_>> {
    if let Some(v6) = host.strip_prefix('[') {
        let v6 = v6.strip_suffix(']')?;
        return v6
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| Host::Ip(IpAddr::V6(ip)));
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.contains("..") || host.starts_with('.') {
        return None;
    }
    let last = host.rsplit('.').next()?;
    // The WHATWG rule: a host whose last label is a number is an IPv4 address, or invalid.
    if parse_ipv4_part(last).is_some() || last.bytes().all(|b| b.is_ascii_digit()) {
        return parse_ipv4(host).map(|ip| Host::Ip(IpAddr::V4(ip)));
    }
    let valid = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then_some(Host::Name(host))
}

/// An IPv4 address in `inet_aton` form: one to four parts, each decimal, octal (leading
/// `0`) or hexadecimal (`0x`); the last part fills the bytes the others leave.
fn parse_ipv4(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u32> = host
        .split('.')
        .map(parse_ipv4_part)
        .collect::<Option<_>>()?;
    let (last, leading) = parts.split_last()?;
    if leading.len() > 3 || leading.iter().any(|&part| part > 255) {
        return None;
    }
    let last_bits = 8 * (4 - leading.len() as u32);
    if last_bits < 32 && *last >= 1 << last_bits {
        return None;
    }
    let high = leading
        .iter()
        .fold(0_u32, |address, &part| (address << 8) | part);
    let address = if leading.is_empty() {
        *last
    } else {
        (high << last_bits) | last
    };
    Some(Ipv4Addr::from(address))
}

/// One part of an `inet_aton` address: `0x…` hexadecimal, `0…` octal, else decimal.
fn parse_ipv4_part(part: &str) -> Option<u32> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        // `0x` alone is zero, as resolvers read it; an empty part is nothing.
        return (radix == 16).then_some(0);
    }
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// Whether a host name can only be local: `localhost` and its subdomains, a single label
/// (resolved through local search domains), or a suffix reserved for local networks.
pub(crate) fn is_local_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    const LOCAL_SUFFIXES: [&str; 6] = [
        "localhost",
        "local",
        "localdomain",
        "internal",
        "home.arpa",
        "lan",
    ];
    !name.contains('.')
        || LOCAL_SUFFIXES
            .iter()
            .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(host: &str) -> Option<IpAddr> {
        match parse_host(host)? {
            Host::Ip(ip) => Some(ip),
            Host::Name(_) => None,
        }
    }

    #[test]
    fn every_spelling_of_loopback_is_read_as_loopback() {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for host in [
            "127.0.0.1",
            "127.0.0.1.",
            "127.1",
            "127.0.1",
            "0x7f000001",
            "0X7F000001",
            "2130706433",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "0x7f.1",
        ] {
            assert_eq!(ip(host), Some(loopback), "{host}");
        }
        assert_eq!(ip("[::1]"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(ip("0"), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    }

    #[test]
    fn numbers_that_are_no_address_are_no_host() {
        for host in [
            "256.0.0.1",
            "1.2.3.4.5",
            "4294967296",
            "1.2.65536",
            "08.0.0.1",
            "1..2",
            "[::1",
            "[zz]",
            "a.b.123",
            "",
            ".",
        ] {
            assert_eq!(parse_host(host), None, "{host}");
        }
    }

    #[test]
    fn names_are_names() {
        assert_eq!(
            parse_host("fcm.googleapis.com"),
            Some(Host::Name("fcm.googleapis.com"))
        );
        assert_eq!(
            parse_host("updates.push.services.mozilla.com."),
            Some(Host::Name("updates.push.services.mozilla.com"))
        );
        assert_eq!(
            parse_host("a.b-c.0x"),
            None,
            "a last label that is a number"
        );
        assert_eq!(
            parse_host("cdn.0xfg"),
            Some(Host::Name("cdn.0xfg")),
            "not a hexadecimal number, so a name"
        );
        assert_eq!(parse_host("bad_host.com"), None);
    }

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for address in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
        ] {
            let parsed: IpAddr = address.parse().unwrap();
            assert!(!is_public_address(parsed), "{address}");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for address in [
            "8.8.8.8",
            "142.250.74.110",
            "100.128.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "2a00:1450:4001:82f::200a",
            "2606:4700::6810:84e5",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            let parsed: IpAddr = address.parse().unwrap();
            assert!(is_public_address(parsed), "{address}");
        }
    }

    #[test]
    fn local_names_are_recognised() {
        for name in [
            "localhost",
            "LOCALHOST",
            "api.localhost",
            "metadata",
            "printer.local",
            "db.internal",
            "nas.home.arpa",
            "router.lan",
            "host.localdomain",
        ] {
            assert!(is_local_name(name), "{name}");
        }
        for name in [
            "fcm.googleapis.com",
            "web.push.apple.com",
            "wns2-by3p.notify.windows.com",
            "localhost.example.com",
        ] {
            assert!(!is_local_name(name), "{name}");
        }
    }
}
