//! The languages the patient's page and the TV speak: the room's is the
//! setting `room.language`, and a patient may pick another on their page.
//! The page's words are in `web/words/<code>.js`, the TV's in
//! `room/tv_words.rs`: one table per language in each.

/// A language the room speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// English.
    #[default]
    En,
    /// Dutch.
    Nl,
    /// German.
    De,
}

impl Language {
    /// Every language, in the order the page lists them.
    pub const ALL: [Language; 3] = [Language::En, Language::Nl, Language::De];

    /// Its code, as in `room.language` and `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Nl => "nl",
            Language::De => "de",
        }
    }

    /// The language with `code`; None for one the room does not speak.
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_offers_exactly_the_languages_there_are() {
        let setting = appliance_config::schema::SETTINGS
            .iter()
            .find(|s| s.name == "room.language")
            .map(|s| s.kind);
        let Some(appliance_config::schema::Kind::Choice(codes)) = setting else {
            panic!("room.language is a choice: {setting:?}");
        };
        let ours: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
        assert_eq!(codes, ours.as_slice());
        assert_eq!(Language::from_code("fr"), None);
        assert_eq!(Language::from_code("nl"), Some(Language::Nl));
    }
}
