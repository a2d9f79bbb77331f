//! A patient's first name as the room keeps it: cut where a person sees a
//! character end and cleaned of what a person cannot see.
//!
//! Pure. Called by the session when a patient joins; the page cleans the
//! name the same way before sending it (web/app.js, `cleanName`). Whatever a
//! page sends as a name, a join is never refused for it: it is cleaned.

use unicode_segmentation::UnicodeSegmentation;

/// The longest first name, in characters as a person counts them (grapheme
/// clusters: an emoji with its skin tone, a flag or a letter with its accent
/// is one); longer names are cut.
pub const MAX_NAME_CHARS: usize = 40;

/// What the TV shows for a name with nothing visible left in it.
pub const NO_NAME: &str = "A patient";

/// The name cleaned and cut: control characters, line breaks, bidi controls
/// and other invisible format characters are dropped (a right-to-left
/// override would turn the TV's own words around), so is the replacement
/// character that stands for what a page sent broken, and the rest is cut to
/// [`MAX_NAME_CHARS`] grapheme clusters, never inside one, and trimmed.
pub fn clean(raw: &str) -> String {
    let visible: String = raw.chars().filter(|&c| !invisible(c)).collect();
    let cut: String = visible
        .trim()
        .graphemes(true)
        .take(MAX_NAME_CHARS)
        .collect();
    let name = cut.trim();
    if name.is_empty() {
        NO_NAME.to_owned()
    } else {
        name.to_owned()
    }
}

/// Whether `c` is dropped from a name: control characters, line and
/// paragraph separators, the replacement character, and the format
/// characters (Unicode category Cf) but the two joiners, which Arabic,
/// Persian and Indic names and emoji sequences need.
fn invisible(c: char) -> bool {
    if c == '\u{200C}' || c == '\u{200D}' {
        return false;
    }
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FFFD}')
        || FORMAT
            .iter()
            .any(|(first, last)| (*first..=*last).contains(&c))
}

/// Unicode's format characters (category Cf), as of Unicode 15.1: bidi
/// marks, embeddings, overrides and isolates, zero-width spaces and joiners,
/// invisible operators, the byte order mark, interlinear annotation marks,
/// shorthand and musical format controls, and tags.
const FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn graphemes(s: &str) -> usize {
        s.graphemes(true).count()
    }

    #[test]
    fn names_in_every_script_pass_whole() {
        for name in [
            "Ada",
            "Zoë",
            "محمد",
            "فاطمه\u{200C}ی",
            "שָׁלוֹם",
            "अनुष्का",
            "王小明",
            "Nguyễn",
            "José María",
        ] {
            assert_eq!(clean(name), name);
        }
    }

    #[test]
    fn a_cut_never_splits_what_a_person_sees_as_one() {
        // An emoji with a skin tone, a flag, a ZWJ family, a letter with a
        // combining accent and a Devanagari cluster, each at the 40th place.
        for last in [
            "👍🏽",
            "🇳🇱",
            "👨\u{200D}👩\u{200D}👧\u{200D}👦",
            "e\u{301}",
            "क्षि",
        ] {
            let name = format!("{}{last}{last}", "a".repeat(MAX_NAME_CHARS - 1));
            let cut = clean(&name);
            assert_eq!(graphemes(&cut), MAX_NAME_CHARS, "{name}");
            assert!(cut.ends_with(last), "{cut}");
            assert_eq!(cut.len(), MAX_NAME_CHARS - 1 + last.len());
        }
        let long = "王".repeat(100);
        assert_eq!(clean(&long).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn bidi_controls_and_invisible_characters_are_dropped() {
        assert_eq!(clean("Ada\u{202E}evil"), "Adaevil");
        assert_eq!(clean("\u{2067}Ada\u{2069}"), "Ada");
        assert_eq!(clean("A\u{200B}d\u{FEFF}a\u{200E}\u{200F}"), "Ada");
        assert_eq!(clean("A\u{7}da\nB\u{2028}"), "AdaB");
        assert_eq!(clean("Ada\u{E0041}\u{E0042}"), "Ada");
        // What stood for a broken character the page sent.
        assert_eq!(clean("Ad\u{FFFD}a"), "Ada");
        // The joiners stay: names and emoji need them.
        assert_eq!(clean("a\u{200D}b\u{200C}c"), "a\u{200D}b\u{200C}c");
        for name in ["Ada\u{202E}", "\u{202D}محمد\u{202C}"] {
            let cleaned = clean(name);
            assert!(
                !cleaned
                    .chars()
                    .any(|c| FORMAT.iter().any(|(a, b)| (*a..=*b).contains(&c))),
                "{cleaned:?}"
            );
        }
    }

    #[test]
    fn a_name_with_nothing_visible_still_names_someone() {
        for raw in ["", "   ", "\u{202E}\u{202C}", "\u{7}\u{200B}", "\u{FFFD}"] {
            assert_eq!(clean(raw), NO_NAME);
        }
        assert_eq!(clean("  Ada  "), "Ada");
    }
}
