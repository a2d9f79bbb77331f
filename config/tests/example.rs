//! The example provisioning file that ships in the repository: it is valid, and
//! it documents every setting, so IT can rely on it as the reference.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use appliance_config::{Provisioning, SETTINGS};

fn example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("provision.example.toml");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_example_is_valid() {
    let p =
        Provisioning::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("provision.example.toml"))
            .unwrap();
    assert!(p.settings().count() >= 10);
}

/// Settings named in the file, set or shown commented out as `#name = ...`,
/// each with a comment line above it or above its group.
#[test]
fn the_example_documents_every_setting() {
    let mut section = String::new();
    let mut named = BTreeSet::new();
    let mut commented_since_section = false;
    for line in example().lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = header.to_owned();
            commented_since_section = false;
            continue;
        }
        if line.starts_with("# ") {
            commented_since_section = true;
            continue;
        }
        let assignment = line.strip_prefix('#').unwrap_or(line);
        if let Some((key, _)) = assignment.split_once(" = ") {
            let name = format!("{section}.{}", key.trim());
            assert!(
                commented_since_section,
                "{name} has no explanation above it"
            );
            named.insert(name);
        }
    }
    let all: BTreeSet<String> = SETTINGS.iter().map(|s| s.name.to_owned()).collect();
    let missing: Vec<_> = all.difference(&named).collect();
    assert!(
        missing.is_empty(),
        "the example does not document {missing:?}"
    );
    let unknown: Vec<_> = named.difference(&all).collect();
    assert!(
        unknown.is_empty(),
        "the example names unknown settings {unknown:?}"
    );
}

/// The commented-out one-line examples are valid too, once uncommented.
#[test]
fn the_commented_examples_are_valid_once_uncommented() {
    let uncommented: String = example()
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.starts_with("ssh_keys = ") => rest,
            _ => line,
        })
        .flat_map(|l| [l, "\n"])
        .collect();
    let p = Provisioning::parse("uncommented", &uncommented).unwrap();
    assert!(p.settings().any(|s| s.name == "admin.ssh_keys"));
}
