//! Real life on the patient's network, made in the test's own namespace:
//! traffic cut and mended with nftables, and an address that changes.

use std::process::Command;

use super::nat;

/// Cuts the namespace's traffic that `rules` (nftables, in a chain on the
/// input hook; rules separated by "; ") drop or reject, until [`mend`].
pub fn cut(rules: &str) {
    let rules = rules.replace("; ", "\n");
    let table = format!(
        "table inet cut {{\n chain cut {{\n type filter hook input priority 0;\n {rules}\n }}\n}}\n"
    );
    nat::run_with_input(&["nft", "-f", "-"], &table);
}

/// Ends the cut [`cut`] made.
pub fn mend() {
    nat::run_with_input(&["nft", "-f", "-"], "delete table inet cut");
}

/// Every packet but those to or from the TCP ports `kept` (the
/// signalling, and the test's own control of the browser): UDP, and TCP,
/// which ICE over TCP would carry the call on.
pub fn all_but(kept: &[u16]) -> String {
    let kept = kept
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!("meta l4proto udp drop; tcp dport != {{ {kept} }} tcp sport != {{ {kept} }} drop")
}

/// The patient's computer (the namespace, in the NAT topology) moves from
/// address `from` to `to` on its home network, as a phone moving from Wi-Fi
/// to mobile data does: the new address comes, the old one goes.
pub fn move_address(from: &str, to: &str) {
    nat::run_with_input(
        &["sysctl", "-q", "-p", "-"],
        "net.ipv4.conf.eth1.promote_secondaries=1\n",
    );
    ip(&format!("addr add {to}/24 dev eth1"));
    ip(&format!("addr del {from}/24 dev eth1"));
    ip("route replace default via 192.168.1.1");
}

fn ip(args: &str) {
    let status = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .unwrap();
    assert!(status.success(), "ip {args}");
}
