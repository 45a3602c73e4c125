//! Cookie mode's defence against cross-site request forgery.
//!
//! A browser attaches cookies to requests that another site makes it send.
//! A request that acts on a cookie (refresh or log out with the refresh
//! cookie, log in in cookie mode, a state-changing request authorised by the
//! access cookie) is therefore accepted only when
//!
//! 1. it proves it was not sent by a plain HTML form or a "simple" fetch:
//!    it declares `Content-Type: application/json` or carries the
//!    [`CSRF_HEADER`], either of which forces a CORS preflight that a
//!    foreign origin does not pass; and
//! 2. it does not come from a foreign origin: `Origin`, when present, must be
//!    this server's own (its authority equal to `Host`) or on the configured
//!    allow-list; without `Origin`, `Sec-Fetch-Site` must be `same-origin`
//!    or `none`. A request with neither header is not from a browser, which
//!    is the only party that attaches cookies unasked.
//!
//! The cookies are also `SameSite=Lax`, which keeps them off cross-site
//! subrequests in current browsers; the checks above cover older browsers
//! and same-site attackers (a sibling subdomain).

use http::{HeaderMap, header};

use crate::ApiError;

/// The custom header that a script may send instead of a JSON body
/// (any value); the same name Angular and jQuery use.
pub const CSRF_HEADER: &str = "x-requested-with";

/// Checks a request that acts on a cookie.
///
/// # Errors
/// 415 when it proves neither a JSON body nor the custom header; 403 when
/// it comes from a foreign origin.
pub(crate) fn check_cookie_request(
    headers: &HeaderMap,
    allowed_origins: &[String],
) -> Result<(), ApiError> {
    if !crate::body::is_json(headers) && !headers.contains_key(CSRF_HEADER) {
        return Err(ApiError::unsupported_media_type());
    }
    check_origin(headers, allowed_origins)
}

/// Checks `Origin` / `Sec-Fetch-Site` as the module docs say.
///
/// # Errors
/// 403 `FORBIDDEN` for a foreign origin.
pub(crate) fn check_origin(
    headers: &HeaderMap,
    allowed_origins: &[String],
) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| ApiError::forbidden())?;
        if allowed_origins
            .iter()
            .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return Ok(());
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        return match (authority, host) {
            (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host) => Ok(()),
            _ => Err(ApiError::forbidden()),
        };
    }
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        None | Some(b"same-origin" | b"none") => Ok(()),
        Some(_) => Err(ApiError::forbidden()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn own_origin_allow_list_and_non_browsers_pass() {
        let list = vec!["https://app.example.com".to_owned()];
        for ok in [
            headers(&[
                ("origin", "https://api.example.com"),
                ("host", "api.example.com"),
            ]),
            headers(&[
                ("origin", "https://app.example.com"),
                ("host", "api.example.com"),
            ]),
            headers(&[("sec-fetch-site", "same-origin")]),
            headers(&[("sec-fetch-site", "none")]),
            headers(&[]),
        ] {
            assert_eq!(check_origin(&ok, &list), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn foreign_origins_are_forbidden() {
        let list = vec!["https://app.example.com".to_owned()];
        for refused in [
            headers(&[
                ("origin", "https://evil.example"),
                ("host", "api.example.com"),
            ]),
            headers(&[("origin", "null"), ("host", "api.example.com")]),
            headers(&[("origin", "https://evil.example")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
        ] {
            let e = check_origin(&refused, &list).unwrap_err();
            assert_eq!(e.code(), "FORBIDDEN", "{refused:?}");
        }
    }

    #[test]
    fn a_cookie_request_needs_json_or_the_custom_header() {
        let form = headers(&[("content-type", "text/plain")]);
        assert_eq!(
            check_cookie_request(&form, &[]).unwrap_err().code(),
            "UNSUPPORTED_MEDIA_TYPE"
        );
        assert_eq!(
            check_cookie_request(&headers(&[]), &[]).unwrap_err().code(),
            "UNSUPPORTED_MEDIA_TYPE"
        );
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        assert_eq!(check_cookie_request(&json, &[]), Ok(()));
        let custom = headers(&[(CSRF_HEADER, "XMLHttpRequest")]);
        assert_eq!(check_cookie_request(&custom, &[]), Ok(()));
    }
}
