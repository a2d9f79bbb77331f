//! Who is knocking: the client's address (from `X-Forwarded-For` only when
//! the connection comes from one of `http.trusted_proxies`), and a limit on
//! refused joins per address, so that a stranger guessing links is turned
//! away at the door. Addresses are kept in memory for a minute at most and
//! never logged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use appliance_config::schema::parse_network;

/// The reverse proxies whose `X-Forwarded-For` the box believes.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// From the setting's items; an item that does not parse (the store
    /// holds only validated ones) is left out.
    pub fn new(items: &[String]) -> Self {
        TrustedProxies(items.iter().filter_map(|i| parse_network(i)).collect())
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0
            .iter()
            .any(|&(network, prefix)| within(address, canonical(network), prefix))
    }

    /// The client of a request that came over a connection from `peer`,
    /// with `headers`: see [`Self::client`].
    pub fn client_of(&self, peer: SocketAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let forwarded_for = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        self.client(peer, forwarded_for)
    }

    /// The client's address: the connection's, or, when that is a trusted
    /// proxy, the nearest address in `X-Forwarded-For` that is not one.
    pub fn client(&self, peer: SocketAddr, forwarded_for: Option<&str>) -> IpAddr {
        let mut client = canonical(peer.ip());
        if !self.trusts(client) {
            return client;
        }
        // Proxies append: the last entry is the one the nearest proxy saw.
        for entry in forwarded_for.unwrap_or_default().rsplit(',') {
            let Ok(address) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            client = canonical(address);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 as the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn within(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Refused attempts per address (joins, resumes, the API's tokens): after
/// `limit` in a `period`, the address is turned away for a whole period
/// from the attempt that reached the limit.
#[derive(Debug)]
pub struct JoinGuard<K = IpAddr> {
    limit: u32,
    period: Duration,
    refused: Mutex<HashMap<K, (Instant, u32)>>,
}

/// Addresses remembered at once; past it the oldest windows go first, so
/// a flood of addresses cannot grow memory.
const REMEMBERED: usize = 4096;

impl<K: Eq + std::hash::Hash + Clone> JoinGuard<K> {
    /// At most `limit` refused joins an address (or whatever `K` is: the
    /// staff page also counts per account) in `period`.
    pub fn new(limit: u32, period: Duration) -> Self {
        JoinGuard {
            limit,
            period,
            refused: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `address` is turned away now.
    pub fn blocked(&self, address: K, now: Instant) -> bool {
        let Ok(refused) = self.refused.lock() else {
            return false;
        };
        refused.get(&address).is_some_and(|&(since, count)| {
            count >= self.limit && now.duration_since(since) < self.period
        })
    }

    /// Counts a refused join from `address`.
    pub fn refused(&self, address: K, now: Instant) {
        let Ok(mut refused) = self.refused.lock() else {
            return;
        };
        refused.retain(|_, (since, _)| now.duration_since(*since) < self.period);
        if refused.len() >= REMEMBERED
            && !refused.contains_key(&address)
            && let Some(oldest) = refused.iter().min_by_key(|(_, (since, _))| *since)
        {
            let oldest = oldest.0.clone();
            refused.remove(&oldest);
        }
        let entry = refused.entry(address).or_insert((now, 0));
        entry.1 += 1;
        if entry.1 == self.limit {
            // The lockout runs a whole period from here.
            entry.0 = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(address: &str) -> SocketAddr {
        SocketAddr::new(address.parse().unwrap(), 40_000)
    }

    fn ip(address: &str) -> IpAddr {
        address.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::new(&["10.10.0.0/24".into(), "fd00::1".into()]);
        let xff = Some("198.51.100.7");
        assert_eq!(proxies.client(peer("10.10.0.1"), xff), ip("198.51.100.7"));
        assert_eq!(proxies.client(peer("fd00::1"), xff), ip("198.51.100.7"));
        // From anyone else the header is a stranger's word: ignored.
        assert_eq!(
            proxies.client(peer("203.0.113.20"), xff),
            ip("203.0.113.20")
        );
        assert_eq!(
            TrustedProxies::default().client(peer("10.10.0.1"), xff),
            ip("10.10.0.1")
        );
        // An IPv4 peer on a dual-stack socket is the IPv4 address.
        assert_eq!(
            proxies.client(peer("::ffff:10.10.0.1"), xff),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_nearest_untrusted_address_is_the_client() {
        let proxies = TrustedProxies::new(&["10.10.0.0/24".into()]);
        // The client forged the first entry; the proxy appended the truth.
        let xff = Some("192.0.2.66, 198.51.100.7, 10.10.0.9");
        assert_eq!(proxies.client(peer("10.10.0.1"), xff), ip("198.51.100.7"));
        // Nothing usable: the proxy is the client.
        assert_eq!(proxies.client(peer("10.10.0.1"), None), ip("10.10.0.1"));
        assert_eq!(
            proxies.client(peer("10.10.0.1"), Some("not an address")),
            ip("10.10.0.1")
        );
    }

    #[test]
    fn an_address_that_keeps_failing_is_turned_away_for_the_period() {
        let guard = JoinGuard::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let (a, b) = (ip("198.51.100.7"), ip("198.51.100.8"));
        for _ in 0..3 {
            assert!(!guard.blocked(a, t0));
            guard.refused(a, t0);
        }
        assert!(guard.blocked(a, t0 + Duration::from_secs(30)));
        assert!(!guard.blocked(b, t0), "others are not");
        assert!(!guard.blocked(a, t0 + Duration::from_secs(61)));
        // The limit reached late in a window: a whole period from then.
        let late = t0 + Duration::from_secs(120);
        guard.refused(b, late);
        guard.refused(b, late + Duration::from_secs(50));
        guard.refused(b, late + Duration::from_secs(59));
        assert!(guard.blocked(b, late + Duration::from_secs(100)));
        assert!(!guard.blocked(b, late + Duration::from_secs(120)));
    }

    #[test]
    fn a_flood_of_addresses_is_bounded() {
        let guard = JoinGuard::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for n in 0..(REMEMBERED as u32 + 100) {
            guard.refused(IpAddr::from(n.to_be_bytes()), t0);
        }
        assert!(guard.refused.lock().unwrap().len() <= REMEMBERED);
    }
}
