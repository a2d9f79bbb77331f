//! The daemon's code stays in pieces a newcomer can read (docs/design.md,
//! "The code's shape"): no file under `appliance/src` over 500 lines and no
//! function over 80, tests aside. Read as text: a file's tests start at its
//! first `#[cfg(test)]` that opens a module in place; files named `tests.rs`
//! are tests.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

const FILE_LINES: usize = 500;
const FUNCTION_LINES: usize = 80;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The lines before the file's tests.
fn code_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let tests = (0..lines.len()).find(|&i| {
        lines[i].starts_with("#[cfg(test)]")
            && !lines
                .get(i + 1)
                .is_some_and(|l| l.trim_end().ends_with(';'))
    });
    lines[..tests.unwrap_or(lines.len())].to_vec()
}

/// A line without its strings, characters and comment, for counting braces.
fn braces(line: &str) -> (usize, usize) {
    let mut open = 0;
    let mut close = 0;
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, '\'') => {
                // A character literal ('{', '\n'); a lifetime has no closing quote.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            (false, '{') => open += 1,
            (false, '}') => close += 1,
            _ => {}
        }
    }
    (open, close)
}

/// The name of the function a line starts, if it starts one.
fn function_name(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word == "fn" {
            return words
                .next()
                .map(|w| w.split(['(', '<']).next().unwrap_or(w));
        }
        let modifier = word.starts_with("pub")
            || matches!(word, "async" | "const" | "unsafe" | "extern" | "\"C\"");
        if !modifier {
            return None;
        }
    }
    None
}

/// Every function's name, first line and length in lines.
fn functions(lines: &[&str]) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = function_name(line) else {
            continue;
        };
        let mut depth = 0usize;
        let mut opened = false;
        for (i, l) in lines.iter().enumerate().skip(start) {
            let (open, close) = braces(l);
            opened |= open > 0;
            depth = (depth + open).saturating_sub(close);
            if !opened && l.trim_end().ends_with(';') {
                break;
            }
            if opened && depth == 0 {
                found.push((name.to_owned(), start + 1, i - start + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn no_file_over_500_lines_and_no_function_over_80() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "the sources were not found in {root:?}");
    let mut too_long = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let lines = code_lines(&text);
        let shown = file.strip_prefix(&root).unwrap().display();
        if lines.len() > FILE_LINES {
            too_long.push(format!("{shown}: {} lines", lines.len()));
        }
        for (name, at, length) in functions(&lines) {
            if length > FUNCTION_LINES {
                too_long.push(format!("{shown}:{at}: fn {name} is {length} lines"));
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "over {FILE_LINES} lines a file or {FUNCTION_LINES} a function:\n{}",
        too_long.join("\n")
    );
}

#[test]
fn the_measure_counts_what_it_should() {
    let text = "fn a() {\n    let s = \"}\";\n    let c = '{';\n}\n\
                pub(crate) async fn b<T>(x: T)\nwhere T: Copy,\n{\n    // }\n}\n\
                fn c();\n#[cfg(test)]\nmod tests;\nfn d() {}\n#[cfg(test)]\nmod t {\nfn e() {}\n}\n";
    let lines = code_lines(text);
    assert_eq!(
        lines.len(),
        13,
        "tests in place are left out, a test file's line is not"
    );
    let found = functions(&lines);
    let shape: Vec<(&str, usize, usize)> = found
        .iter()
        .map(|(n, at, len)| (n.as_str(), *at, *len))
        .collect();
    assert_eq!(shape, [("a", 1, 4), ("b", 5, 5), ("d", 13, 1)]);
}
