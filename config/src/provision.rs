//! Provisioning files: the TOML file IT drops on the box, with one table per
//! section of setting names (`[room] name = "Room 3"` sets `room.name`).
//! Called by `appliance provision` and first boot; guarantees that a file with any
//! error changes nothing, and that every error names its line and its reason.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use toml_edit::{Document, Item, TableLike};

use crate::schema::{self, RawValue, Setting, Value};
use crate::store::{Store, StoreError};

/// Provisioning files larger than this are refused unread: a real one is a few KiB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// One thing wrong with a provisioning file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line, counted from 1, where the file has one.
    pub line: Option<usize>,
    /// The setting concerned, if any.
    pub setting: Option<String>,
    /// What is wrong, in plain words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(setting) = &self.setting {
            write!(f, "{setting}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a provisioning file was not imported. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The file could not be read.
    #[error("cannot read the provisioning file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The file has errors; every one is listed, one per line.
    #[error("{}", problems.iter().map(|p| format!("{file}: {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file's name, as given.
        file: String,
        /// What is wrong with it.
        problems: Vec<Problem>,
    },
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A validated provisioning file: the settings it sets.
#[derive(Debug)]
pub struct Provisioning {
    file: String,
    values: Vec<(&'static Setting, Value, usize)>,
}

impl Provisioning {
    /// Reads and validates the provisioning file at `path`.
    pub fn read(path: &Path) -> Result<Self, ProvisionError> {
        let read_error = |reason: String| ProvisionError::Read {
            path: path.display().to_string(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
        let mut text = String::new();
        let read = file
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| read_error(e.to_string()))?;
        if read as u64 > MAX_FILE_BYTES {
            return Err(read_error(format!(
                "it is larger than {MAX_FILE_BYTES} bytes; a provisioning file is a few KiB"
            )));
        }
        let provisioning = Self::parse(&path.display().to_string(), &text);
        zeroize::Zeroize::zeroize(&mut text);
        provisioning
    }

    /// Validates provisioning text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ProvisionError> {
        let invalid = |problems| ProvisionError::Invalid {
            file: file.to_owned(),
            problems,
        };
        let doc = Document::parse(text).map_err(|e| {
            invalid(vec![Problem {
                line: e.span().map(|s| line_of(text, s.start)),
                setting: None,
                message: format!("not valid TOML: {}", e.message().trim()),
            }])
        })?;
        let mut walk = Walk {
            text,
            values: Vec::new(),
            problems: Vec::new(),
        };
        walk.table("", doc.as_table());
        if walk.problems.is_empty() {
            Ok(Provisioning {
                file: file.to_owned(),
                values: walk.values,
            })
        } else {
            Err(invalid(walk.problems))
        }
    }

    /// Refuses the file, with every offending line, when `refuse` has
    /// something to say about one of its values: what the caller knows and
    /// this crate does not (say, which hardware the running build can drive).
    pub fn refuse_values(
        &self,
        refuse: impl Fn(&Setting, &Value) -> Option<String>,
    ) -> Result<(), ProvisionError> {
        let problems: Vec<Problem> = self
            .values
            .iter()
            .filter_map(|(setting, value, line)| {
                refuse(setting, value).map(|message| Problem {
                    line: Some(*line),
                    setting: Some(setting.name.to_owned()),
                    message,
                })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ProvisionError::Invalid {
                file: self.file.clone(),
                problems,
            })
        }
    }

    /// The settings the file sets, in file order.
    pub fn settings(&self) -> impl Iterator<Item = &'static Setting> + '_ {
        self.values.iter().map(|(s, _, _)| *s)
    }

    /// Imports the settings into `store` in one atomic write, after checking
    /// them together with what the store already holds. Settings the file does
    /// not name keep their values.
    pub fn apply(self, store: &mut Store) -> Result<usize, ProvisionError> {
        let mut merged = store.values()?;
        for (setting, value, _) in &self.values {
            merged.insert(setting.name, value.clone());
        }
        let lines: BTreeMap<&str, usize> = self
            .values
            .iter()
            .map(|(s, _, line)| (s.name, *line))
            .collect();
        let problems: Vec<Problem> = schema::check_together(&merged)
            .into_iter()
            .map(|(name, message)| Problem {
                line: lines.get(name).copied(),
                setting: Some(name.to_owned()),
                message,
            })
            .collect();
        if !problems.is_empty() {
            return Err(ProvisionError::Invalid {
                file: self.file,
                problems,
            });
        }
        let count = self.values.len();
        let changes = self
            .values
            .into_iter()
            .map(|(setting, value, _)| (setting, Some(value)))
            .collect();
        store.apply(changes)?;
        Ok(count)
    }
}

struct Walk<'t> {
    text: &'t str,
    values: Vec<(&'static Setting, Value, usize)>,
    problems: Vec<Problem>,
}

impl Walk<'_> {
    fn table(&mut self, prefix: &str, table: &dyn TableLike) {
        for (key, item) in table.iter() {
            let name = if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}.{key}")
            };
            let line = table
                .get_key_value(key)
                .and_then(|(k, _)| k.span())
                .or_else(|| item.span())
                .map(|s| line_of(self.text, s.start));
            self.item(name, line, item);
        }
    }

    fn item(&mut self, name: String, line: Option<usize>, item: &Item) {
        if let Some(setting) = schema::find(&name) {
            let input = to_input(item);
            match setting.validate(&input) {
                Ok(value) => self.values.push((setting, value, line.unwrap_or(0))),
                Err(message) => self.problems.push(Problem {
                    line,
                    setting: Some(name),
                    message,
                }),
            }
        } else if let Some(table) = item.as_table_like() {
            let known_section = schema::SETTINGS
                .iter()
                .any(|s| s.name.starts_with(&format!("{name}.")));
            if known_section {
                self.table(&name, table);
            } else {
                self.problems.push(Problem {
                    line,
                    setting: None,
                    message: format!("unknown section [{name}]"),
                });
            }
        } else {
            self.problems.push(Problem {
                line,
                setting: None,
                message: format!("unknown setting {name}"),
            });
        }
    }
}

fn to_input(item: &Item) -> RawValue<'_> {
    if let Some(s) = item.as_str() {
        return RawValue::Str(s);
    }
    if let Some(n) = item.as_integer() {
        return RawValue::Int(n);
    }
    if let Some(array) = item.as_array() {
        let strings: Option<Vec<&str>> = array.iter().map(|v| v.as_str()).collect();
        return match strings {
            Some(list) => RawValue::StrList(list),
            None => RawValue::Other("a list with something other than strings in it"),
        };
    }
    RawValue::Other(match item.type_name() {
        "float" => "a decimal number",
        "boolean" => "true or false",
        "datetime" => "a date",
        "table" | "inline table" => "a table",
        "array of tables" => "an array of tables",
        _ => "that type",
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        match Provisioning::parse("p.toml", text) {
            Err(ProvisionError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn sections_and_inline_tables_name_settings() {
        let p = Provisioning::parse(
            "p.toml",
            "[room]\nname = \"Room 3\"\n[hardware]\npins = { button = 17 }\n[video]\nframerate = 30\n",
        )
        .unwrap();
        let names: Vec<_> = p.settings().map(|s| s.name).collect();
        assert_eq!(
            names,
            ["room.name", "hardware.pins.button", "video.framerate"]
        );
    }

    #[test]
    fn every_problem_has_its_line() {
        let found = problems(
            "[room]\nname = \"Room 3\"\ncolour = \"blue\"\n\n[video]\nframerate = \"fast\"\n[weather]\nsun = 1\n",
        );
        let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "line 3: unknown setting room.colour",
                "line 6: video.framerate: must be a whole number, not a string",
                "line 7: unknown section [weather]",
            ]
        );
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let found = problems("[room]\nname = \"unterminated\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, Some(2));
        assert!(found[0].message.starts_with("not valid TOML"));
    }

    #[test]
    fn wrong_types_are_named() {
        let found = problems("[ice]\nstun_urls = [\"stun:a\", 3]\n[video]\nframerate = 2.5\n");
        assert!(found[0].message.contains("something other than strings"));
        assert!(found[1].message.contains("decimal"));
    }
}
