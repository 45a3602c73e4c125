//! `Verifier::from_jwks` reads a JWKS strictly: every doubtful key refuses
//! the whole document, each with its own `JwksError`.
#![cfg(all(feature = "eddsa", feature = "es256"))]

use serde_json::{Value, json};
use tokenlife::{
    Algorithm, Error, JwksError, KeyMaterial, Keyring, MAX_JWKS_BYTES, MAX_JWKS_KEYS, Policy,
    PublicKey, UnixMillis, Verifier,
};

const NOW: UnixMillis = UnixMillis(1_764_000_000_000);

/// A published document with an Ed25519 key `e1` and a P-256 key `p1`.
fn published() -> Value {
    let mut keys = Keyring::with_algorithm(Algorithm::EdDSA, "e1", &[1; 32]).unwrap();
    keys.add_next(KeyMaterial::derive(Algorithm::ES256, "p1", &[2; 32]).unwrap())
        .unwrap();
    serde_json::from_str(&keys.jwks(NOW).to_json()).unwrap()
}

fn read(doc: &Value) -> Result<Verifier, Error> {
    Verifier::from_jwks(&doc.to_string(), Policy::default())
}

/// The document with key `i` edited by `edit`.
fn with_key(i: usize, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut doc = published();
    edit(doc["keys"][i].as_object_mut().unwrap());
    doc
}

fn refused(doc: &Value) -> JwksError {
    match read(doc) {
        Err(Error::InvalidJwks(why)) => why,
        other => panic!("accepted or wrong error: {other:?}"),
    }
}

#[test]
fn the_published_document_is_read_back() {
    let v = read(&published()).unwrap();
    let kids: Vec<&str> = v.key_ids().map(|k| k.as_str()).collect();
    assert_eq!(kids, ["e1", "p1"]);
    assert!(v.knows_key("p1") && !v.knows_key("p2"));
}

#[test]
fn private_members_are_refused_whatever_their_value() {
    for (i, member) in [(0, "d"), (1, "d"), (0, "k"), (1, "p"), (1, "qi")] {
        for value in [json!("AAAA"), Value::Null, json!({})] {
            let doc = with_key(i, |k| {
                k.insert(member.into(), value.clone());
            });
            assert_eq!(refused(&doc), JwksError::PrivateMember, "{member}={value}");
        }
    }
}

#[test]
fn a_symmetric_key_is_refused_as_private() {
    let doc = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h1", "alg": "HS256"}]});
    assert_eq!(refused(&doc), JwksError::PrivateMember);
    let doc = json!({"keys": [{"kty": "oct", "kid": "h1", "alg": "HS256"}]});
    assert_eq!(refused(&doc), JwksError::UnknownKeyType);
}

#[test]
fn duplicate_kids_are_refused() {
    let doc = with_key(1, |k| {
        k.insert("kid".into(), json!("e1"));
    });
    assert_eq!(refused(&doc), JwksError::DuplicateKeyId);
    let e1 = published()["keys"][0].clone();
    assert_eq!(
        refused(&json!({"keys": [e1.clone(), e1]})),
        JwksError::DuplicateKeyId
    );
}

#[test]
fn a_missing_or_invalid_kid_is_refused() {
    for kid in [Value::Null, json!(""), json!("a/b"), json!("x".repeat(65))] {
        let doc = with_key(0, |k| {
            k.insert("kid".into(), kid.clone());
        });
        assert_eq!(refused(&doc), JwksError::BadKeyId, "{kid}");
    }
    let doc = with_key(0, |k| {
        k.remove("kid");
    });
    assert_eq!(refused(&doc), JwksError::BadKeyId);
}

#[test]
fn mixed_or_wrong_use_is_refused() {
    let doc = with_key(1, |k| {
        k.insert("use".into(), json!("enc"));
    });
    assert_eq!(refused(&doc), JwksError::WrongUse);
    for ops in [json!(["sign"]), json!(["verify", "encrypt"]), json!([])] {
        let doc = with_key(0, |k| {
            k.insert("key_ops".into(), ops.clone());
        });
        assert_eq!(refused(&doc), JwksError::WrongUse, "{ops}");
    }
    // `use` and `key_ops` are optional (RFC 7517 §4.2, §4.3).
    let doc = with_key(0, |k| {
        k.remove("use");
        k.insert("key_ops".into(), json!(["verify"]));
    });
    assert!(read(&doc).is_ok());
}

#[test]
fn unknown_key_types_and_curves_are_refused() {
    let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r1", "alg": "RS256"});
    assert_eq!(refused(&json!({"keys": [rsa]})), JwksError::UnknownKeyType);
    for (i, crv) in [(0, "Ed448"), (0, "X25519"), (1, "P-384"), (1, "secp256k1")] {
        let doc = with_key(i, |k| {
            k.insert("crv".into(), json!(crv));
        });
        assert_eq!(refused(&doc), JwksError::UnknownCurve, "{crv}");
    }
    let doc = with_key(0, |k| {
        k.remove("kty");
    });
    assert_eq!(refused(&doc), JwksError::UnknownKeyType);
}

#[test]
fn an_alg_other_than_the_curves_is_refused() {
    for (i, alg) in [
        (0, "ES256"),
        (0, "HS256"),
        (1, "EdDSA"),
        (1, "ES384"),
        (1, "none"),
    ] {
        let doc = with_key(i, |k| {
            k.insert("alg".into(), json!(alg));
        });
        assert_eq!(refused(&doc), JwksError::AlgorithmMismatch, "{alg}");
    }
    // A missing alg is the curve's one algorithm.
    let doc = with_key(0, |k| {
        k.remove("alg");
    });
    assert!(read(&doc).is_ok());
}

#[test]
fn coordinates_that_are_no_public_key_are_refused() {
    let identity = format!("AQ{}", "A".repeat(41));
    // A point of order 8 (Ed25519 small-order list, e.g. RFC 8032 errata / libsodium).
    let order8 = b64(&hex(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    ));
    for x in [
        identity,
        order8,
        "AAAA".into(),
        format!("{}=", "A".repeat(43)),
    ] {
        let doc = with_key(0, |k| {
            k.insert("x".into(), json!(x));
        });
        assert_eq!(refused(&doc), JwksError::BadKey, "{x}");
    }
    let doc = with_key(0, |k| {
        k.insert("y".into(), json!("A".repeat(43)));
    });
    assert_eq!(refused(&doc), JwksError::BadKey);
    // Off the curve: y edited.
    let doc = with_key(1, |k| {
        let y = k["y"].as_str().unwrap();
        let flipped = if y.starts_with('A') { "B" } else { "A" };
        k.insert("y".into(), json!(format!("{flipped}{}", &y[1..])));
    });
    assert_eq!(refused(&doc), JwksError::BadKey);
    let doc = with_key(1, |k| {
        k.remove("y");
    });
    assert_eq!(refused(&doc), JwksError::BadKey);
}

#[test]
fn what_is_not_a_jwks_is_refused() {
    for text in [
        "",
        "[]",
        "{}",
        "null",
        r#"{"keys": {}}"#,
        r#"{"keys": [1]}"#,
        "{\"keys\":[]} x",
    ] {
        assert!(
            matches!(
                Verifier::from_jwks(text, Policy::default()),
                Err(Error::InvalidJwks(JwksError::NotJwks))
            ),
            "{text:?}"
        );
    }
    let doc = with_key(0, |k| {
        k.insert("x".into(), json!(7));
    });
    assert_eq!(refused(&doc), JwksError::NotJwks);
    // A member twice in one key.
    let text = published()
        .to_string()
        .replacen("\"x\":", "\"x\":\"AAAA\",\"x\":", 1);
    assert!(matches!(
        Verifier::from_jwks(&text, Policy::default()),
        Err(Error::InvalidJwks(JwksError::NotJwks))
    ));
}

#[test]
fn oversized_documents_are_refused() {
    let pad = " ".repeat(MAX_JWKS_BYTES);
    assert!(matches!(
        Verifier::from_jwks(&format!("{}{pad}", published()), Policy::default()),
        Err(Error::InvalidJwks(JwksError::TooLarge))
    ));
    let e1 = published()["keys"][0].clone();
    let many: Vec<Value> = (0..=MAX_JWKS_KEYS)
        .map(|i| {
            let mut k = e1.clone();
            k["kid"] = json!(format!("k{i}"));
            k
        })
        .collect();
    assert_eq!(refused(&json!({ "keys": many })), JwksError::TooLarge);
}

#[test]
fn an_empty_set_verifies_nothing() {
    let v = Verifier::from_jwks(r#"{"keys":[]}"#, Policy::default()).unwrap();
    assert_eq!(v.key_ids().count(), 0);
    let keys = Keyring::with_algorithm(Algorithm::EdDSA, "e1", &[1; 32]).unwrap();
    let (_, token) = issue(&keys);
    assert!(matches!(
        v.verify::<()>(&token, NOW),
        Err(Error::UnknownKey)
    ));
}

#[test]
fn public_keys_can_be_given_directly() {
    let keys = Keyring::with_algorithm(Algorithm::EdDSA, "e1", &[1; 32]).unwrap();
    let jwk = keys.jwks(NOW).keys.remove(0);
    let x: [u8; 32] = unb64(&jwk.x).try_into().unwrap();
    let v = Verifier::from_public_keys([PublicKey::ed25519("e1", &x).unwrap()], Policy::default())
        .unwrap();
    let (_, token) = issue(&keys);
    assert!(v.verify::<()>(&token, NOW).is_ok());
    let twice = [
        PublicKey::ed25519("e1", &x).unwrap(),
        PublicKey::ed25519("e1", &x).unwrap(),
    ];
    assert!(matches!(
        Verifier::from_public_keys(twice, Policy::default()),
        Err(Error::InvalidJwks(JwksError::DuplicateKeyId))
    ));
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(matches!(
        PublicKey::ed25519("e1", &identity),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        PublicKey::p256("p1", &[4; 65]),
        Err(Error::InvalidKey(_))
    ));
}

#[test]
fn errors_name_the_reason_and_no_key_material() {
    let doc = with_key(0, |k| {
        k.insert("d".into(), json!("c2VjcmV0LXNlY3JldA"));
    });
    let shown = read(&doc).unwrap_err().to_string();
    assert_eq!(shown, "invalid JWKS: a key carries private key material");
    assert!(!shown.contains("c2VjcmV0"));
}

fn issue(keys: &Keyring) -> (tokenlife::Session, String) {
    use tokenlife::session::{self, Login};
    let login = Login {
        id: tokenlife::SessionId::from_bytes([3; 16]),
        subject: "alice".into(),
        claims: None,
        metadata: Default::default(),
        secret: [4; 32].into(),
    };
    let policy = Policy::default();
    let (record, _) = session::start(keys, &policy, login, NOW);
    let token = tokenlife::access::sign(keys, &policy, &record, [5; 16], NOW).token;
    (record, token)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
