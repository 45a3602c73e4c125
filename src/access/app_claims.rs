//! The application's claims as they are issued: serialised once at login
//! (or at a refresh that changes them) to the compact JSON object that is
//! stored with the session and copied into every access token.

use alloc::borrow::Cow;
use alloc::string::String;
use core::fmt;

use serde::Serialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use super::claims::Key;
use crate::error::Error;
use crate::policy::Policy;

/// The deepest nesting of the claims object (itself at depth 1) that login
/// accepts: what `verify` can read back, whose JSON reader stops at 128
/// levels, with the token's payload object around the claims' members.
pub(crate) const MAX_CLAIMS_DEPTH: usize = 127;

/// The registered claims an application may not set itself.
const REGISTERED: [&str; 8] = ["sub", "sid", "iat", "exp", "jti", "iss", "aud", "nbf"];

/// Serialises the application's claims to a compact JSON object (`None` for
/// `()`, `null` or `{}`), refusing anything else and registered names.
pub(crate) fn to_json<T: Serialize + ?Sized>(
    claims: &T,
    policy: &Policy,
) -> Result<Option<String>, Error> {
    const NOT_JSON: Error = Error::InvalidClaims("not serialisable to JSON");
    const REGISTERED_NAME: Error =
        Error::InvalidClaims("names a registered claim (sub, sid, iat, exp, jti, iss, aud, nbf)");
    // Straight to text, and one pass over the member names: no tree of
    // values built and printed again, as `serde_json::to_value` would.
    let json = serde_json::to_string(claims).map_err(|_| NOT_JSON)?;
    let json = match json.as_bytes().first() {
        Some(b'{') => match check_names(&json).map_err(|_| NOT_JSON)? {
            Names::Fine => json,
            Names::Registered => return Err(REGISTERED_NAME),
            // A repeated name (a hand-written `Serialize`), an escaped one,
            // or more than the check tracks: read back as a JSON map, where
            // the last of a repeated name wins, as before this fast path.
            Names::Unsure => {
                let map: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(&json).map_err(|_| NOT_JSON)?;
                if map.keys().any(|k| REGISTERED.contains(&k.as_str())) {
                    return Err(REGISTERED_NAME);
                }
                serde_json::to_string(&map).map_err(|_| NOT_JSON)?
            }
        },
        _ if json == "null" => return Ok(None),
        _ => return Err(Error::InvalidClaims("must serialise to a JSON object")),
    };
    if json == "{}" {
        return Ok(None);
    }
    if json.len() > policy.max_claims_bytes() {
        return Err(Error::InvalidClaims(
            "larger than the policy's max_claims_bytes",
        ));
    }
    if nesting(json.as_bytes()) > MAX_CLAIMS_DEPTH {
        return Err(Error::InvalidClaims(
            "nested deeper than an access token's claims can be read",
        ));
    }
    Ok(Some(json))
}

/// The deepest nesting of objects and arrays in valid JSON text (brackets
/// inside strings do not count).
fn nesting(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// What [`check_names`] found among an object's member names.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Names {
    /// None is registered, none repeats.
    Fine,
    /// A registered claim's name.
    Registered,
    /// A name written twice, or names it did not keep track of (more than
    /// 16, or escaped): the caller settles those the slow way.
    Unsure,
}

/// Reads the member names of the JSON object `json` (values skipped), for
/// checking an application's claims when they are issued.
fn check_names(json: &str) -> Result<Names, serde_json::Error> {
    struct NamesVisitor;
    impl<'de> Visitor<'de> for NamesVisitor {
        type Value = Names;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
            let mut seen: [&str; 16] = [""; 16];
            let mut count = 0;
            let (mut unsure, mut registered) = (false, false);
            while let Some(key) = map.next_key::<Key<'de>>()? {
                match key {
                    Key::Other(Cow::Borrowed(name)) if count < seen.len() => {
                        unsure |= seen[..count].contains(&name);
                        seen[count] = name;
                        count += 1;
                    }
                    Key::Other(_) => unsure = true,
                    _ => registered = true,
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(if registered {
                Names::Registered
            } else if unsure {
                Names::Unsure
            } else {
                Names::Fine
            })
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let names = de.deserialize_map(NamesVisitor)?;
    de.end()?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(nesting(b"{}"), 1);
        assert_eq!(nesting(br#"{"a":[1,{"b":[]}],"c":{}}"#), 4);
        assert_eq!(nesting(br#"{"a":"[[[{{{","b":"\\\"[["}"#), 1);
    }

    #[test]
    fn names_are_checked_in_one_pass() {
        assert_eq!(
            check_names(r#"{"role":"r","n":{"sub":1}}"#).unwrap(),
            Names::Fine
        );
        assert_eq!(
            check_names(r#"{"role":"r","jti":1}"#).unwrap(),
            Names::Registered
        );
        assert_eq!(check_names(r#"{"\u0073ub":1}"#).unwrap(), Names::Registered);
        assert_eq!(
            check_names(r#"{"a":1,"b":2,"a":3}"#).unwrap(),
            Names::Unsure
        );
        assert_eq!(check_names(r#"{"\u0061":1}"#).unwrap(), Names::Unsure);
        let many: String = (0..17).map(|i| alloc::format!(",\"k{i}\":0")).collect();
        assert_eq!(
            check_names(&alloc::format!("{{{}}}", &many[1..])).unwrap(),
            Names::Unsure
        );
        assert_eq!(check_names("{}").unwrap(), Names::Fine);
        assert!(check_names("[1]").is_err());
        assert!(check_names(r#"{"a":1} x"#).is_err());
    }
}
