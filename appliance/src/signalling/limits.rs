//! How many connections the HTTPS server holds at once, so that a stranger
//! cannot take the box's file descriptors (its own, and GStreamer's, which
//! fails in strange ways without them): at most [`TOTAL`] in all and
//! [`PER_ADDRESS`] from one address. A connection past either is closed as
//! soon as it is accepted, and said so in the log at most once a minute.
//! The clinic's trusted proxies carry every patient's connections, so only
//! the total applies to them. A connection counts until its HTTP exchange
//! ends; a WebSocket upgraded from it no longer counts here (a socket that
//! does not join in time is closed, and joins are limited per address).
//! Counting those too is still to do.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client::TrustedProxies;
use super::server::RateLimit;

/// Connections held at once in all: far below the descriptors the daemon
/// may open (systemd's LimitNOFILE, 1024 at the least), leaving room for
/// each patient's media (a dozen each) and the camera, TV and store.
pub const TOTAL: usize = 512;
/// Connections held at once from one address: a page takes two or three (the
/// page's files, its socket), a clinic's NAT a few patients' more.
pub const PER_ADDRESS: u32 = 32;

/// The connections held, by address.
#[derive(Debug)]
pub struct Connections {
    total: usize,
    per_address: u32,
    proxies: TrustedProxies,
    held: Mutex<(usize, HashMap<IpAddr, u32>)>,
    log: RateLimit,
}

/// A connection held: counted until it is dropped.
#[derive(Debug)]
pub struct Held {
    connections: Arc<Connections>,
    address: IpAddr,
}

impl Connections {
    /// At most `total` connections, and `per_address` from one address
    /// unless it is one of `proxies`.
    pub fn new(total: usize, per_address: u32, proxies: TrustedProxies) -> Arc<Self> {
        Arc::new(Connections {
            total,
            per_address,
            proxies,
            held: Mutex::new((0, HashMap::new())),
            log: RateLimit::new(1, Duration::from_secs(60)),
        })
    }

    /// Holds a connection from `address`, or None (and a line in the log,
    /// at most once a minute) when that would pass a limit.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Held> {
        let Ok(mut held) = self.held.lock() else {
            return None;
        };
        let (total, by_address) = &mut *held;
        let from = by_address.get(&address).copied().unwrap_or(0);
        let proxy = self.proxies.trusts(address);
        if *total >= self.total || (!proxy && from >= self.per_address) {
            drop(held);
            self.log
                .log("too many connections at once (in all, or from one address); refusing more");
            return None;
        }
        *total += 1;
        by_address.insert(address, from + 1);
        Some(Held {
            connections: self.clone(),
            address,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Ok(mut held) = self.connections.held.lock() else {
            return;
        };
        let (total, by_address) = &mut *held;
        *total = total.saturating_sub(1);
        if let Some(count) = by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_cannot_take_more_than_its_share_nor_all_more_than_the_total() {
        let connections = Connections::new(5, 2, TrustedProxies::new(&["10.0.0.1".into()]));
        let stranger = ip("198.51.100.7");
        let a = connections.admit(stranger).unwrap();
        let _b = connections.admit(stranger).unwrap();
        assert!(connections.admit(stranger).is_none(), "its share");
        drop(a);
        let _c = connections.admit(stranger).expect("one closed, one more");
        // The proxy carries everyone's: only the total limits it.
        let proxy: Vec<_> = (0..3).map(|_| connections.admit(ip("10.0.0.1"))).collect();
        assert!(proxy.iter().all(Option::is_some));
        assert!(connections.admit(ip("203.0.113.9")).is_none(), "the total");
        drop(proxy);
        assert!(connections.admit(ip("203.0.113.9")).is_some());
    }
}
