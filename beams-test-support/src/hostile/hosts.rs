//! Hosts as URLs name them, in every spelling resolvers read: an IPv4 address in decimal,
//! octal and hexadecimal parts, one to four of them, with or without a trailing dot; IPv6
//! compressed or not, with an IPv4 address inside; names public or local-only. Each
//! generated host knows what it stands for, so a check can judge the address meant, not the
//! text.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use beams_core::is_public_address;
use proptest::prelude::*;

use super::text::text_of;

/// What a generated host stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMeaning {
    /// An address, and the IPv4 address it carries when it is an IPv6 form that embeds one.
    Address {
        /// The address spelled.
        ip: IpAddr,
        /// The IPv4 address inside an IPv4-mapped, -compatible, NAT64 or 6to4 address.
        embeds: Option<Ipv4Addr>,
    },
    /// A name: local-only (one label, `localhost`, `.local`, `.internal`, …) or not.
    Name {
        /// Whether only a local network can resolve it.
        local: bool,
        /// Whether it is `localhost` itself.
        loopback: bool,
    },
}

/// A host as written in a URL, and what it stands for.
#[derive(Debug, Clone)]
pub struct Host {
    /// The host as written (`0x7f.1`, `[::ffff:127.0.0.1]`, `push.example.com.`).
    pub spelled: String,
    /// What it stands for.
    pub meaning: HostMeaning,
}

impl Host {
    /// Whether the host is on the public internet.
    pub fn is_public(&self) -> bool {
        match self.meaning {
            HostMeaning::Address { ip, .. } => is_public_address(ip),
            HostMeaning::Name { local, .. } => !local,
        }
    }

    /// Whether the host is the machine itself, as `std` says of addresses.
    pub fn is_loopback(&self) -> bool {
        match self.meaning {
            HostMeaning::Address {
                ip: IpAddr::V4(ip), ..
            } => ip.is_loopback(),
            HostMeaning::Address {
                ip: IpAddr::V6(ip), ..
            } => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
            HostMeaning::Name { loopback, .. } => loopback,
        }
    }
}

/// IPv4 addresses, most from the blocks that are not public, the rest anywhere.
pub fn ipv4_address() -> impl Strategy<Value = Ipv4Addr> {
    // (prefix, prefix length) of blocks worth hitting often.
    const BLOCKS: &[(u32, u32)] = &[
        (0x0000_0000, 8),  // this network
        (0x0a00_0000, 8),  // private
        (0x6440_0000, 10), // shared (CGNAT)
        (0x7f00_0000, 8),  // loopback
        (0xa9fe_0000, 16), // link-local, metadata services
        (0xac10_0000, 12), // private
        (0xc000_0000, 24), // IETF
        (0xc000_0200, 24), // TEST-NET-1
        (0xc058_6300, 24), // 6to4 relay
        (0xc0a8_0000, 16), // private
        (0xc612_0000, 15), // benchmarking
        (0xc633_6400, 24), // TEST-NET-2
        (0xcb00_7100, 24), // TEST-NET-3
        (0xe000_0000, 4),  // multicast
        (0xf000_0000, 4),  // reserved, broadcast
        (0x0808_0808, 32), // public
        (0x8efa_4a6e, 32), // public
        (0x6480_0000, 10), // public, next to CGNAT
        (0xac20_0000, 12), // public, next to 172.16/12
    ];
    prop_oneof![
        3 => (proptest::sample::select(BLOCKS), any::<u32>()).prop_map(|((prefix, len), low)| {
            let host_bits = 32 - len;
            let mask = if host_bits == 0 { 0 } else { u32::MAX >> len };
            Ipv4Addr::from(prefix | (low & mask))
        }),
        1 => any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

/// How one part of an IPv4 address is written.
#[derive(Debug, Clone, Copy)]
pub enum Radix {
    /// `127`
    Decimal,
    /// `0177`
    Octal,
    /// `0x7f`, `0X7F` or `0x007f`
    Hex {
        /// Upper-case `0X` and digits.
        upper: bool,
        /// Leading zeros after `0x`.
        padded: bool,
    },
}

fn radix() -> impl Strategy<Value = Radix> {
    prop_oneof![
        3 => Just(Radix::Decimal),
        1 => Just(Radix::Octal),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(upper, padded)| Radix::Hex { upper, padded }),
    ]
}

fn spell_part(value: u32, radix: Radix) -> String {
    match radix {
        Radix::Decimal => value.to_string(),
        Radix::Octal => format!("0{value:o}"),
        Radix::Hex { upper, padded } => {
            let zeros = if padded { "00" } else { "" };
            if upper {
                format!("0X{zeros}{value:X}")
            } else {
                format!("0x{zeros}{value:x}")
            }
        }
    }
}

/// `ip` written as `inet_aton` reads it: `parts` parts (1 to 4), the last filling the bytes
/// the others leave, each in its radix.
pub fn spell_ipv4(ip: Ipv4Addr, parts: usize, radixes: &[Radix; 4]) -> String {
    let parts = parts.clamp(1, 4);
    let bytes = ip.octets();
    let address = u32::from(ip);
    let leading = parts - 1;
    let last = if leading == 0 {
        address
    } else {
        address & (u32::MAX >> (8 * leading))
    };
    let mut spelled: Vec<String> = bytes[..leading]
        .iter()
        .zip(radixes)
        .map(|(byte, radix)| spell_part(u32::from(*byte), *radix))
        .collect();
    spelled.push(spell_part(last, radixes[leading]));
    spelled.join(".")
}

/// IPv4 hosts in every spelling.
pub fn ipv4_host() -> impl Strategy<Value = Host> {
    (
        ipv4_address(),
        1..=4_usize,
        [radix(), radix(), radix(), radix()],
        any::<bool>(),
    )
        .prop_map(|(ip, parts, radixes, trailing_dot)| {
            let mut spelled = spell_ipv4(ip, parts, &radixes);
            if trailing_dot {
                spelled.push('.');
            }
            Host {
                spelled,
                meaning: HostMeaning::Address {
                    ip: IpAddr::V4(ip),
                    embeds: None,
                },
            }
        })
}

/// IPv6 addresses, with the IPv4 address they embed: IPv4-mapped, IPv4-compatible, NAT64 and
/// 6to4 forms, special blocks, global unicast, and any address at all.
pub fn ipv6_address() -> impl Strategy<Value = (Ipv6Addr, Option<Ipv4Addr>)> {
    let embedded = (ipv4_address(), 0..4_u8, any::<u64>()).prop_map(|(v4, form, rest)| {
        let [a, b, c, d] = v4.octets();
        let (hi, lo) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
        let segments = match form {
            0 => [0, 0, 0, 0, 0, 0xffff, hi, lo],
            1 => [0, 0, 0, 0, 0, 0, hi, lo],
            2 => [0x64, 0xff9b, 0, 0, 0, 0, hi, lo],
            _ => {
                let [r0, r1, r2, r3, ..] = rest.to_be_bytes();
                let r = |x: u8, y: u8| u16::from_be_bytes([x, y]);
                [0x2002, hi, lo, r(r0, r1), 0, 0, r(r2, r3), 1]
            }
        };
        // `::` and `::1` carry no IPv4 address: they are IPv6's own unspecified and loopback.
        let embeds = (segments != [0; 8] && segments != [0, 0, 0, 0, 0, 0, 0, 1]).then_some(v4);
        (Ipv6Addr::from(segments), embeds)
    });
    const PREFIXES: &[(u128, u32)] = &[
        (0, 128),                // ::
        (1, 128),                // ::1
        (0xfe80 << 112, 10),     // link-local
        (0xfc00 << 112, 7),      // unique local
        (0xff00 << 112, 8),      // multicast
        (0x2001_0db8 << 96, 32), // documentation
        (0x2001 << 112, 23),     // IETF, Teredo, ORCHID
        (0x3fff << 112, 20),     // documentation
        (0x0100 << 112, 64),     // discard
        (0x2a00_1450 << 96, 32), // public
        (0x2606_4700 << 96, 32), // public
        (0x2000 << 112, 3),      // global unicast
    ];
    let blocks =
        (proptest::sample::select(PREFIXES), any::<u128>()).prop_map(|((prefix, len), low)| {
            let mask = if len == 128 { 0 } else { u128::MAX >> len };
            (Ipv6Addr::from(prefix | (low & mask)), None)
        });
    prop_oneof![
        2 => embedded,
        2 => blocks,
        1 => any::<u128>().prop_map(|bits| (Ipv6Addr::from(bits), None)),
    ]
}

/// `ip` written in one of the ways `std` reads: compressed, all eight groups (padded or not,
/// in either case), or with its last 32 bits as an IPv4 address.
pub fn spell_ipv6(ip: Ipv6Addr, style: u8, upper: bool) -> String {
    let segments = ip.segments();
    let hex = |segment: u16, padded: bool| match (padded, upper) {
        (true, true) => format!("{segment:04X}"),
        (true, false) => format!("{segment:04x}"),
        (false, true) => format!("{segment:X}"),
        (false, false) => format!("{segment:x}"),
    };
    let spelled = match style % 4 {
        0 => ip.to_string(),
        1 | 2 => segments
            .iter()
            .map(|s| hex(*s, style == 2))
            .collect::<Vec<_>>()
            .join(":"),
        _ => {
            let [.., a, b, c, d] = ip.octets();
            let head: Vec<String> = segments[..6].iter().map(|s| hex(*s, false)).collect();
            format!("{}:{a}.{b}.{c}.{d}", head.join(":"))
        }
    };
    if upper {
        spelled.to_uppercase()
    } else {
        spelled
    }
}

/// IPv6 hosts, bracketed, in several spellings.
pub fn ipv6_host() -> impl Strategy<Value = Host> {
    (ipv6_address(), any::<u8>(), any::<bool>()).prop_map(|((ip, embeds), style, upper)| Host {
        spelled: format!("[{}]", spell_ipv6(ip, style, upper)),
        meaning: HostMeaning::Address {
            ip: IpAddr::V6(ip),
            embeds,
        },
    })
}

/// Suffixes that only a local network resolves.
const LOCAL_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "localdomain",
    "internal",
    "home.arpa",
    "lan",
];
/// Top-level labels of the public internet.
const PUBLIC_TLDS: &[&str] = &["com", "net", "org", "dev", "io", "example", "apple"];

fn label() -> BoxedStrategy<String> {
    prop_oneof![
        4 => text_of("abcdefghijklmnopqrstuvwxyz0123456789-", 1..=12),
        1 => proptest::sample::select(&["localhost", "push", "fcm", "0x7f", "127", "metadata"][..])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

/// Host names: public ones (labels under a public top-level label), local ones (one label,
/// `localhost`, or under a local suffix), in any case, with or without a trailing dot.
pub fn name_host() -> impl Strategy<Value = Host> {
    let labels = proptest::collection::vec(label(), 0..=3);
    let public = (
        labels.clone(),
        label(),
        proptest::sample::select(PUBLIC_TLDS),
    )
        .prop_map(|(mut labels, first, tld)| {
            labels.insert(0, first);
            labels.push(tld.to_owned());
            (labels.join("."), false, false)
        });
    let under_local =
        (labels, proptest::sample::select(LOCAL_SUFFIXES)).prop_map(|(mut labels, suffix)| {
            let loopback = labels.is_empty() && suffix == "localhost";
            labels.push(suffix.to_owned());
            (labels.join("."), true, loopback)
        });
    let single = text_of("abcdefghijklmnopqrstuvwxyz-", 1..=12)
        .prop_map(|name| (name.clone(), true, name == "localhost"));
    (
        prop_oneof![3 => public, 2 => under_local, 1 => single],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|((name, local, loopback), upper, trailing_dot)| {
            let mut spelled = if upper { name.to_uppercase() } else { name };
            if trailing_dot {
                spelled.push('.');
            }
            Host {
                spelled,
                meaning: HostMeaning::Name { local, loopback },
            }
        })
}

/// Any host this module spells.
pub fn host() -> impl Strategy<Value = Host> {
    prop_oneof![3 => ipv4_host(), 2 => ipv6_host(), 2 => name_host()]
}
