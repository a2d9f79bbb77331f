//! The patient's page as the box serves it: its HTML (in the room's
//! language), script, styles and one table of words per language, each
//! with the headers every page of the box carries.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::language::Language;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");
const JS: &str = "text/javascript; charset=utf-8";

/// The page's words in `language` (`web/words/`).
fn words(language: Language) -> &'static str {
    match language {
        Language::En => include_str!("../../web/words/en.js"),
        Language::Nl => include_str!("../../web/words/nl.js"),
        Language::De => include_str!("../../web/words/de.js"),
    }
}

/// The page's HTML, saying the room's language: the page speaks it unless
/// the patient picks another.
fn index(language: Language) -> String {
    INDEX_HTML.replacen(
        "<html lang=\"en\">",
        &format!("<html lang=\"{}\">", language.code()),
        1,
    )
}

/// The page's files.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(language: Language) -> Router<S> {
    let html: std::sync::Arc<str> = index(language).into();
    let mut routes = Router::new()
        .route(
            "/",
            get(move || {
                let html = html.clone();
                async move { page(html.to_string(), "text/html; charset=utf-8") }
            }),
        )
        .route("/app.js", get(|| async { page(APP_JS, JS) }))
        .route(
            "/style.css",
            get(|| async { page(STYLE_CSS, "text/css; charset=utf-8") }),
        );
    for language in Language::ALL {
        routes = routes.route(
            &format!("/words/{}.js", language.code()),
            get(move || async move { page(words(language), JS) }),
        );
    }
    routes
}

fn page(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    page_headers(response.headers_mut(), content_type);
    response
}

/// A page's headers: its type, never cached, no referrer, no sniffing, and
/// a strict content policy (scripts and styles from the box only, no
/// frames). The patient's page and the staff page share them; the rest
/// (framing, permissions, HSTS) is on every answer (`headers.rs`).
pub(crate) fn page_headers(headers: &mut HeaderMap, content_type: &'static str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             media-src 'self' blob: mediastream:; img-src 'self' data:; base-uri 'none'; \
             frame-ancestors 'none'; form-action 'self'",
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_says_the_room_s_language_and_loads_every_table() {
        assert!(INDEX_HTML.contains("<html lang=\"en\">"));
        for language in Language::ALL {
            let html = index(language);
            let lang = format!("<html lang=\"{}\">", language.code());
            assert!(html.contains(&lang), "{lang}");
            let script = format!("src=\"words/{}.js\"", language.code());
            assert!(html.contains(&script), "{script}");
            let table = format!("APPLIANCE_WORDS.{} = {{", language.code());
            assert!(words(language).contains(&table), "{table}");
        }
    }
}
