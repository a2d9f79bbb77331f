//! The headers every answer of the box's HTTPS server carries, whatever
//! answers it (a page, the API, the staff page, an error, an unknown path):
//! no sniffing, no referrer, no framing, nothing cached unless the answer
//! says otherwise, a content policy that allows nothing where the answer
//! brings none of its own, and a permissions policy that lets only the
//! room's own pages use the camera and microphone. HSTS too, when the room
//! has a certificate a browser trusts (browsers ignore it otherwise).

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;

/// The browser features the pages may use: camera and microphone, for the
/// room's own pages only; sound output and autoplay as browsers default
/// them; nothing else.
pub const PERMISSIONS: &str = "camera=(self), microphone=(self), display-capture=(), \
     geolocation=(), payment=(), usb=(), serial=(), hid=(), bluetooth=(), midi=(), \
     accelerometer=(), gyroscope=(), magnetometer=(), publickey-credentials-get=()";

/// For answers with no content policy of their own (JSON, errors): nothing
/// may load and nothing may frame them.
const NOTHING: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
                       form-action 'none'";

/// A year: long enough to matter, the figure browsers' preload lists ask.
const HSTS: &str = "max-age=31536000";

/// `router` with the headers on every answer; HSTS when `hsts`.
pub fn everywhere(router: Router, hsts: bool) -> Router {
    router.layer(axum::middleware::map_response(
        move |mut response: Response| async move {
            secure(response.headers_mut(), hsts);
            response
        },
    ))
}

/// Adds what is missing of the headers to `headers`.
pub fn secure(headers: &mut HeaderMap, hsts: bool) {
    let mut default = |name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    default(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    default(header::REFERRER_POLICY, "no-referrer");
    default(header::X_FRAME_OPTIONS, "DENY");
    default(header::CACHE_CONTROL, "no-store");
    default(header::CONTENT_SECURITY_POLICY, NOTHING);
    default(HeaderName::from_static("permissions-policy"), PERMISSIONS);
    default(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    default(
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    if hsts {
        default(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_gets_them_and_a_page_keeps_its_own_policy() {
        let mut headers = HeaderMap::new();
        let own = "default-src 'none'; script-src 'self'";
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(own),
        );
        secure(&mut headers, false);
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], own);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers["permissions-policy"], PERMISSIONS);
        assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY));

        let mut error = HeaderMap::new();
        secure(&mut error, true);
        assert_eq!(error[header::CONTENT_SECURITY_POLICY], NOTHING);
        assert_eq!(error[header::STRICT_TRANSPORT_SECURITY], HSTS);
        assert_eq!(error[header::X_FRAME_OPTIONS], "DENY");
    }
}
