//! A small internet for the end-to-end tests, in network namespaces the test
//! makes and removes itself (nothing reaches the machine's own interfaces):
//!
//! ```text
//!  box 10.10.0.2 ── clinic router ──┐                      ┌── coturn 203.0.113.3
//!      (the daemon)  NAT, 203.0.113.10 ├── internet 203.0.113.0/24 ─┘
//!  patient 192.168.1.2 ── home router ─┘
//!      (the test itself)  NAT, 203.0.113.20
//! ```
//!
//! The patient is the test's own namespace (made by `in_own_network`), so
//! the browser and its driver run where the test does. The routers are
//! nftables: the clinic's masquerades and forwards 203.0.113.10:443 to the
//! box's HTTPS port; the home router is endpoint-independent (a cone), or
//! symmetric (a fresh port per destination), or drops all UDP. Each router
//! drops unsolicited packets to its own outside address: otherwise an early
//! connectivity check leaves a conntrack entry that makes masquerade pick
//! another port, and no hole ever opens. Every host on the internet segment
//! has a default route: without one coturn relaying towards a private
//! address gets "Network is unreachable" and closes the allocation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Daemon, Start, wait_for};

/// The box's HTTPS port on the clinic's LAN.
pub const BOX_PORT: u16 = 8443;
/// The clinic's public address, where patients reach the box.
pub const CLINIC: &str = "203.0.113.10";
/// coturn's address on the internet segment.
pub const TURN: &str = "203.0.113.3";
/// The secret coturn shares with the box.
pub const TURN_SECRET: &str = "north-wing-turn-secret-for-tests";

/// How the patient's home router maps their connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeNat {
    /// Endpoint-independent: one outside port per inside port.
    Cone,
    /// A fresh outside port for each destination.
    Symmetric,
    /// Endpoint-independent, and all UDP dropped: a locked-down network.
    NoUdp,
}

/// Every kind of TURN server the clinic's coturn offers: UDP, TCP and TLS.
pub const ALL_TURN: &str = "turn:203.0.113.3:3478,turn:203.0.113.3:3478?transport=tcp,\
                            turns:203.0.113.3:443";

/// TURN servers at an address of the internet segment where no host
/// answers: a relay that is down, beside a STUN server that is up.
pub const GONE_TURN: &str = "turn:203.0.113.5:3478,turn:203.0.113.5:3478?transport=tcp,\
                             turns:203.0.113.5:443";

/// The path under which the clinic's reverse proxy serves the room.
pub const ROOM_PATH: &str = "/room3/";

/// The namespaces and what runs in them; all removed when dropped.
pub struct Topology {
    prefix: String,
    dir: tempfile::TempDir,
    turn: Option<Child>,
    proxy: Option<Child>,
}

fn run(args: &[&str]) {
    let output = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{} is needed for the NAT tests: {e}", args[0]));
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `args` with `input` on its standard input; panics when it fails.
pub fn run_with_input(args: &[&str], input: &str) {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} is needed for the NAT tests: {e}", args[0]));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{args:?} failed: {}\n{input}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Topology {
    /// Builds the networks, with the home router mapping as `home`. Call in
    /// the test's own namespace: it becomes the patient's computer.
    pub fn build(home_nat: HomeNat) -> Topology {
        let topology = Topology {
            prefix: format!("ap{}", std::process::id()),
            dir: tempfile::tempdir().unwrap(),
            turn: None,
            proxy: None,
        };
        for role in ["box", "clinic", "inet", "home", "turn"] {
            let ns = topology.ns(role);
            // A namespace left over by a killed run of the same process id.
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
            run(&["ip", "netns", "add", &ns]);
            topology.exec(role, &["ip", "link", "set", "lo", "up"]);
            topology.sysctl(role, "net.ipv6.conf.all.disable_ipv6=1");
            topology.sysctl(role, "net.ipv4.conf.all.rp_filter=0");
        }
        // The patient's computer: this namespace, on IPv4 only (no
        // link-local addresses among the candidates).
        run(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);

        let inet = topology.ns("inet");
        run(&["ip", "-n", &inet, "link", "add", "br0", "type", "bridge"]);
        run(&["ip", "-n", &inet, "link", "set", "br0", "up"]);
        run(&[
            "ip",
            "-n",
            &inet,
            "addr",
            "add",
            "203.0.113.1/24",
            "dev",
            "br0",
        ]);
        for (role, outside, address) in [
            ("clinic", "wan0", "203.0.113.10/24"),
            ("home", "wan0", "203.0.113.20/24"),
            ("turn", "eth0", "203.0.113.3/24"),
        ] {
            let port = format!("i-{role}");
            topology.veth(role, outside, "inet", &port);
            run(&["ip", "-n", &inet, "link", "set", &port, "master", "br0"]);
            topology.address(role, outside, address);
            topology.exec(
                role,
                &["ip", "route", "add", "default", "via", "203.0.113.1"],
            );
        }
        topology.veth("box", "eth0", "clinic", "lan0");
        topology.address("box", "eth0", "10.10.0.2/24");
        topology.exec(
            "box",
            &["ip", "route", "add", "default", "via", "10.10.0.1"],
        );
        topology.address("clinic", "lan0", "10.10.0.1/24");
        // The patient's side of the home LAN is made here, its peer in the router.
        let home = topology.ns("home");
        run(&[
            "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "lan0", "netns", &home,
        ]);
        run(&["ip", "link", "set", "eth1", "up"]);
        run(&["ip", "addr", "add", "192.168.1.2/24", "dev", "eth1"]);
        run(&["ip", "route", "add", "default", "via", "192.168.1.1"]);
        topology.exec("home", &["ip", "link", "set", "lan0", "up"]);
        topology.address("home", "lan0", "192.168.1.1/24");
        for router in ["clinic", "home"] {
            topology.sysctl(router, "net.ipv4.ip_forward=1");
        }
        topology.nft("clinic", &clinic_rules(true));
        topology.nft("home", &home_rules(home_nat));
        topology
    }

    /// A namespace's name.
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// `args` run in the namespace of `role`.
    pub fn command(&self, role: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns(role)]).args(args);
        command
    }

    fn exec(&self, role: &str, args: &[&str]) {
        let ns = self.ns(role);
        let mut all = vec!["ip", "netns", "exec", ns.as_str()];
        all.extend(args);
        run(&all);
    }

    fn sysctl(&self, role: &str, setting: &str) {
        self.exec(role, &["sysctl", "-qw", setting]);
    }

    fn address(&self, role: &str, dev: &str, address: &str) {
        self.exec(role, &["ip", "addr", "add", address, "dev", dev]);
    }

    /// A veth pair made in `a`'s namespace with its peer born in `b`'s, so
    /// that neither end is ever in this one.
    fn veth(&self, a: &str, a_dev: &str, b: &str, b_dev: &str) {
        let (na, nb) = (self.ns(a), self.ns(b));
        run(&[
            "ip", "-n", &na, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns",
            &nb,
        ]);
        run(&["ip", "-n", &na, "link", "set", a_dev, "up"]);
        run(&["ip", "-n", &nb, "link", "set", b_dev, "up"]);
    }

    fn nft(&self, role: &str, rules: &str) {
        let ns = self.ns(role);
        run_with_input(&["ip", "netns", "exec", &ns, "nft", "-f", "-"], rules);
    }

    /// The daemon in simulation in the box's namespace, behind the clinic's
    /// NAT, with the clinic's STUN and, unless `turn_urls` is empty, its
    /// TURN; patients reach it at the clinic's address. `more` settings are
    /// set after these, so they may change them.
    pub fn start_box(&self, turn_urls: &str, more: &[(&str, &str)]) -> Daemon {
        let listen = format!("10.10.0.2:{BOX_PORT}");
        let public_url = format!("https://{CLINIC}");
        let stun = format!("stun:{TURN}:3478");
        let mut settings = vec![
            ("room.public_url", public_url.as_str()),
            ("ice.stun_urls", stun.as_str()),
        ];
        if !turn_urls.is_empty() {
            settings.push(("ice.turn_urls", turn_urls));
            settings.push(("ice.turn_shared_secret", TURN_SECRET));
        }
        settings.extend(more);
        let box_ns = self.ns("box");
        Daemon::start(
            super::BIN,
            Start {
                settings: &settings,
                args: &[
                    "--sim",
                    "--listen",
                    &listen,
                    "--sim-shutter-travel-ms",
                    "300",
                ],
                netns: Some(&box_ns),
                ..Start::default()
            },
        )
    }

    /// Starts coturn on the internet segment: UDP and TCP on 3478, TLS on
    /// 443, REST-API credentials from [`TURN_SECRET`].
    pub fn start_turn(&mut self) {
        self.start_turn_with(TURN_SECRET);
    }

    /// Stops coturn.
    pub fn stop_turn(&mut self) {
        if let Some(mut turn) = self.turn.take() {
            let _ = turn.kill();
            let _ = turn.wait();
        }
    }

    /// Starts the clinic's STUN server at [`TURN`]'s address: coturn, with a
    /// secret the box does not have, for a clinic whose TURN servers are
    /// elsewhere ([`GONE_TURN`]).
    pub fn start_stun(&mut self) {
        self.start_turn_with("a-secret-the-box-does-not-have");
    }

    /// Makes coturn answer slowly: everything it sends leaves at `rate`
    /// (e.g. "4kbit"), with no burst, so each answer waits for those before
    /// it and its own length at that rate (a STUN answer, a quarter second
    /// or more). This kernel has no netem; a token bucket does the waiting.
    pub fn slow_turn(&self, rate: &str) {
        let tc = |args: &str| {
            let mut all = vec!["tc"];
            all.extend(args.split_whitespace());
            self.exec("turn", &all);
        };
        tc("qdisc add dev eth0 root handle 1: htb default 1");
        tc(&format!(
            "class add dev eth0 parent 1: classid 1:1 htb rate {rate} ceil {rate} burst 1 cburst 1"
        ));
    }

    /// Starts coturn sharing `secret`, which may not be the box's.
    pub fn start_turn_with(&mut self, secret: &str) {
        let dir = self.dir.path();
        let (cert, key) = self_signed(dir, "turn", "turn.clinic.test", TURN);
        let config = dir.join("turnserver.conf");
        std::fs::write(&config, turn_config(dir, &cert, &key, secret)).unwrap();
        let child = self
            .command("turn", &["turnserver", "-c", &config.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("coturn (turnserver) is needed for the NAT tests");
        self.turn = Some(child);
        self.wait_listening("turn", &[&format!("{TURN}:443"), &format!("{TURN}:3478")]);
    }

    /// Puts the clinic's reverse proxy (nginx) on the clinic's 443 instead of
    /// the port forward: TLS with the clinic's own certificate, the room under
    /// [`ROOM_PATH`] (the path taken off on the way to the box), WebSocket
    /// upgrades passed on, and `X-Forwarded-For` added.
    pub fn start_proxy(&mut self) {
        let dir = self.dir.path().to_owned();
        let (cert, key) = self_signed(&dir, "clinic", "clinic.test", CLINIC);
        self.nft("clinic", "delete table ip clinic\n");
        self.nft("clinic", &clinic_rules(false));
        let config = dir.join("nginx.conf");
        std::fs::write(&config, proxy_config(&dir, &cert, &key)).unwrap();
        let child = self
            .command("clinic", &["nginx", "-c", &config.display().to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("nginx.err")).unwrap())
            .spawn()
            .expect("nginx is needed for the NAT tests");
        self.proxy = Some(child);
        self.wait_listening("clinic", &[&format!("{CLINIC}:443")]);
    }

    /// Waits until something in `role`'s namespace listens on each of
    /// `addresses` (TCP or UDP).
    fn wait_listening(&self, role: &str, addresses: &[&str]) {
        let ns = self.ns(role);
        wait_for(
            &format!("{addresses:?} to listen"),
            Duration::from_secs(10),
            || {
                let listening = Command::new("ip")
                    .args(["netns", "exec", &ns, "ss", "-ltnu"])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&listening.stdout).into_owned();
                addresses.iter().all(|a| text.contains(a)).then_some(())
            },
        );
    }

    /// What the clinic's proxy logged of each request.
    pub fn proxy_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nginx-access.log")).unwrap_or_default()
    }

    /// Starts capturing every packet on the internet segment (tcpdump on its
    /// bridge), until [`Capture::stop`].
    pub fn capture_internet(&self) -> Capture {
        self.capture("inet", "br0", &[])
    }

    /// Starts capturing the packets `filter` (tcpdump's words) sees on
    /// `dev` in the namespace of `role`, until [`Capture::stop`].
    pub fn capture(&self, role: &str, dev: &str, filter: &[&str]) -> Capture {
        let file = self.dir.path().join(format!("{role}-{dev}.pcap"));
        let child = self
            .command(
                role,
                &["tcpdump", "-i", dev, "-U", "-s", "0", "-Z", "root", "-w"],
            )
            .arg(&file)
            .args(filter)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump is needed for the NAT tests");
        wait_for("tcpdump to start", Duration::from_secs(10), || {
            file.exists().then_some(())
        });
        Capture { child, file }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for mut child in [self.turn.take(), self.proxy.take()].into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for role in ["box", "clinic", "inet", "home", "turn"] {
            let ns = self.ns(role);
            // Whatever still runs inside ends with its namespace's removal
            // only once killed: a daemon the test dropped is gone already.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}

/// A self-signed certificate for `ip`, named `cn`, as `dir/name.crt` and its
/// key as `dir/name.key`.
fn self_signed(dir: &Path, name: &str, cn: &str, ip: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let subject = format!("/CN={cn}");
    let san = format!("subjectAltName=IP:{ip}");
    let (key_arg, cert_arg) = (key.display().to_string(), cert.display().to_string());
    run(&[
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        &subject, "-addext", &san, "-keyout", &key_arg, "-out", &cert_arg,
    ]);
    (cert, key)
}

/// The clinic's router: masquerade out, and the box's HTTPS on the
/// outside's 443 (`forward`), or its own 443 open for the proxy.
fn clinic_rules(forward: bool) -> String {
    let port_forward = if forward {
        format!("ip daddr {CLINIC} tcp dport 443 dnat to 10.10.0.2:{BOX_PORT}")
    } else {
        String::new()
    };
    format!(
        "table ip clinic {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        {port_forward}
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname \"wan0\" masquerade
    }}
    chain forward {{
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        ct status dnat accept
        iifname \"lan0\" accept
    }}
    chain input {{
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iifname {{ \"lo\", \"lan0\" }} accept
        ip protocol icmp accept
        iifname \"wan0\" ip daddr {CLINIC} tcp dport 443 accept
    }}
}}
"
    )
}

/// nginx as a clinic would put it in front of a room: the snippet in the
/// README, with this test's files.
fn proxy_config(dir: &Path, cert: &Path, key: &Path) -> String {
    let dir = dir.display();
    format!(
        "daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/nginx-access.log;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen {CLINIC}:443 ssl;
        ssl_certificate {};
        ssl_certificate_key {};
        location {ROOM_PATH} {{
            proxy_pass https://10.10.0.2:{BOX_PORT}/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
        }}
    }}
}}
",
        cert.display(),
        key.display()
    )
}

/// The home router's rules for `mode`.
fn home_rules(mode: HomeNat) -> String {
    let (masquerade, udp) = match mode {
        HomeNat::Cone => ("masquerade", ""),
        HomeNat::Symmetric => ("masquerade fully-random", ""),
        HomeNat::NoUdp => ("masquerade", "meta l4proto udp drop"),
    };
    format!(
        "table ip home {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname \"wan0\" {masquerade}
    }}
    chain forward {{
        type filter hook forward priority filter; policy drop;
        {udp}
        ct state established,related accept
        iifname \"lan0\" oifname \"wan0\" accept
    }}
    chain input {{
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        iifname {{ \"lo\", \"lan0\" }} accept
        ip protocol icmp accept
    }}
}}
"
    )
}

/// coturn's configuration: the clinic's relay, with the REST-API secret,
/// private ranges denied as peers (the relay must not reach into a LAN).
fn turn_config(dir: &Path, cert: &Path, key: &Path, secret: &str) -> String {
    let dir = dir.display();
    format!(
        "listening-ip={TURN}
relay-ip={TURN}
listening-port=3478
tls-listening-port=443
min-port=49152
max-port=49352
realm=clinic.test
use-auth-secret
static-auth-secret={secret}
fingerprint
cert={}
pkey={}
no-cli
no-multicast-peers
denied-peer-ip=0.0.0.0-0.255.255.255
denied-peer-ip=10.0.0.0-10.255.255.255
denied-peer-ip=100.64.0.0-100.127.255.255
denied-peer-ip=127.0.0.0-127.255.255.255
denied-peer-ip=169.254.0.0-169.254.255.255
denied-peer-ip=172.16.0.0-172.31.255.255
denied-peer-ip=192.168.0.0-192.168.255.255
allowed-peer-ip=203.0.113.0-203.0.113.255
log-file=stdout
simple-log
pidfile={dir}/turnserver.pid
userdb={dir}/turndb
",
        cert.display(),
        key.display()
    )
}

/// A capture of the internet segment.
pub struct Capture {
    child: Child,
    file: std::path::PathBuf,
}

/// What crossed the internet segment, as far as the relay could read it.
#[derive(Debug, Default)]
pub struct Seen {
    /// UDP datagrams in all.
    pub datagrams: usize,
    /// DTLS handshake records (ClientHello and the rest), bare or inside
    /// TURN's ChannelData.
    pub dtls_handshakes: usize,
    /// SRTP and SRTCP packets: RTP's header in the clear, the rest sealed.
    pub srtp: usize,
}

impl Capture {
    /// Stops capturing; the pcap file's bytes.
    pub fn stop(mut self) -> Vec<u8> {
        // SIGINT: tcpdump writes out what it has.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        wait_for("tcpdump to stop", Duration::from_secs(10), || {
            self.child.try_wait().ok().flatten()
        });
        std::fs::read(&self.file).unwrap()
    }
}

/// Reads a pcap file (Ethernet, IPv4) and sorts its UDP payloads.
pub fn seen(pcap: &[u8]) -> Seen {
    let mut seen = Seen::default();
    let mut at = 24; // the file's header
    while at + 16 <= pcap.len() {
        let captured = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &pcap[(at + 16).min(pcap.len())..(at + 16 + captured).min(pcap.len())];
        at += 16 + captured;
        // Ethernet, then IPv4 with UDP (17).
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 17 {
            continue;
        }
        let ip_header = usize::from(frame[14] & 0x0f) * 4;
        let Some(payload) = frame.get(14 + ip_header + 8..) else {
            continue;
        };
        seen.datagrams += 1;
        // TURN's ChannelData wraps what it relays behind four bytes.
        let inner = if (0x40..0x80).contains(&payload.first().copied().unwrap_or(0)) {
            payload.get(4..).unwrap_or_default()
        } else {
            payload
        };
        match inner {
            [22, 0xfe, 0xfd | 0xff, ..] => seen.dtls_handshakes += 1,
            [first, second, ..]
                if (0x80..0xc0).contains(first) && {
                    let pt = second & 0x7f;
                    pt == 96 || pt == 111 || (72..=79).contains(&pt)
                } =>
            {
                seen.srtp += 1
            }
            _ => {}
        }
    }
    seen
}

/// Whether `haystack` holds `needle` anywhere.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
