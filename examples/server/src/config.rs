//! The server's command line and environment: port, lifetimes, the session
//! store, the signing key and its algorithm.
//!
//! Several instances serve the same users when they share two things: the
//! session store (`--store sqlite:PATH` or `--store postgres:URL`) and the
//! signing key (`--key-file PATH` or `TOKENLIFE_KEY`). Without a key each
//! instance draws a random one, and its tokens mean nothing to the others.
//!
//! With `--alg eddsa` or `--alg es256` the access tokens are signed with a
//! key pair derived from that secret, and `GET /.well-known/jwks.json`
//! publishes its public half: resource servers then verify access tokens
//! without holding any secret.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use tokenlife::{Algorithm, Keyring, OsRandom, RandomSource};
use zeroize::Zeroizing;

/// The usage text, printed for `--help` and after a wrong argument.
pub const USAGE: &str = "usage: server [--port N] [--access-ttl-secs N] [--reuse-grace-secs N]
              [--store memory|sqlite:PATH|postgres:URL|redis://…] [--key-file PATH] [--key-id ID]
              [--alg hs256|eddsa|es256] [--session-refreshes-per-minute N]
  env: TOKENLIFE_PORT, TOKENLIFE_ACCESS_TTL_SECS, TOKENLIFE_REUSE_GRACE_SECS,
       TOKENLIFE_SESSION_REFRESHES_PER_MINUTE,
       TOKENLIFE_STORE, TOKENLIFE_KEY_FILE, TOKENLIFE_KEY (the secret itself, hex or base64),
       TOKENLIFE_KEY_ID, TOKENLIFE_ALG, TOKENLIFE_DEMO_PASSWORD, RUST_LOG (default info)
  flags win over the environment";

/// The key id used when none is given.
pub const DEFAULT_KEY_ID: &str = "server-1";

/// Everything the server is told at start.
#[derive(Debug)]
pub struct Config {
    /// The loopback port; 0 lets the OS choose.
    pub port: u16,
    /// The lifetime of an access token.
    pub access_ttl: Duration,
    /// The grace window for a spent refresh token; `None` keeps the
    /// library's default.
    pub reuse_grace: Option<Duration>,
    /// Where sessions live.
    pub store: StoreChoice,
    /// Where the signing key comes from.
    pub key: KeySource,
    /// The signing key's id (`kid`): equal on every instance sharing the key.
    pub key_id: String,
    /// The access tokens' signature algorithm (`--alg`, default HS256):
    /// equal on every instance sharing the key.
    pub alg: Algorithm,
    /// Refreshes allowed per session per minute; `None` keeps the web
    /// crate's default.
    pub session_refreshes: Option<u32>,
}

/// Where sessions live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// In this process only (`memory`, the default).
    Memory,
    /// A SQLite file, which several processes on one machine may share.
    Sqlite(PathBuf),
    /// A PostgreSQL database: a libpq URL or connection string.
    Postgres(String),
    /// A Redis server: a `redis://` (or `rediss://`, `redis+unix://`) URL.
    Redis(String),
}

/// Where the signing key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Drawn from the OS at start: this instance alone can verify its tokens.
    Random,
    /// Read from a file holding the secret in hex or base64.
    File(PathBuf),
    /// The `TOKENLIFE_KEY` variable, holding the secret in hex or base64.
    Env,
}

impl Config {
    /// The configuration from the environment (through `env`) and `args`;
    /// `None` for `--help`.
    ///
    /// # Errors
    /// A message naming the argument or variable that is wrong.
    pub fn parse(
        mut args: impl Iterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        let env_number = |name: &str| env(name).map(|v| number(name, Some(v))).transpose();
        let mut port = env_number("TOKENLIFE_PORT")?.unwrap_or(8055);
        let mut ttl = env_number("TOKENLIFE_ACCESS_TTL_SECS")?.unwrap_or(900);
        let mut grace = env_number("TOKENLIFE_REUSE_GRACE_SECS")?;
        let mut store = env("TOKENLIFE_STORE")
            .map(|s| StoreChoice::parse(&s))
            .transpose()?
            .unwrap_or(StoreChoice::Memory);
        let mut key = match (env("TOKENLIFE_KEY_FILE"), env("TOKENLIFE_KEY")) {
            (Some(_), Some(_)) => {
                return Err("set TOKENLIFE_KEY_FILE or TOKENLIFE_KEY, not both".into());
            }
            (Some(path), None) => KeySource::File(path.into()),
            (None, Some(_)) => KeySource::Env,
            (None, None) => KeySource::Random,
        };
        let mut key_id = env("TOKENLIFE_KEY_ID").unwrap_or_else(|| DEFAULT_KEY_ID.to_owned());
        let mut alg = env("TOKENLIFE_ALG")
            .map(|a| parse_algorithm(&a))
            .transpose()
            .map_err(|e| format!("TOKENLIFE_ALG: {e}"))?
            .unwrap_or(Algorithm::HS256);
        let mut refreshes = env_number("TOKENLIFE_SESSION_REFRESHES_PER_MINUTE")?;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--port" => port = number(&arg, args.next())?,
                "--access-ttl-secs" => ttl = number(&arg, args.next())?,
                "--reuse-grace-secs" => grace = Some(number(&arg, args.next())?),
                "--store" => store = StoreChoice::parse(&value(&arg, args.next())?)?,
                "--key-file" => key = KeySource::File(value(&arg, args.next())?.into()),
                "--key-id" => key_id = value(&arg, args.next())?,
                "--alg" => {
                    alg = parse_algorithm(&value(&arg, args.next())?)
                        .map_err(|e| format!("--alg: {e}"))?;
                }
                "--session-refreshes-per-minute" => refreshes = Some(number(&arg, args.next())?),
                "-h" | "--help" => return Ok(None),
                _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
            }
        }
        let port = u16::try_from(port).map_err(|_| format!("port {port} is out of range"))?;
        if ttl == 0 {
            return Err("the access token lifetime must be at least 1 s".into());
        }
        let session_refreshes = refreshes
            .map(|n| u32::try_from(n).ok().filter(|n| *n > 0))
            .map(|n| n.ok_or("refreshes per minute must be 1 to 4294967295"))
            .transpose()?;
        Ok(Some(Self {
            port,
            access_ttl: Duration::from_secs(ttl),
            reuse_grace: grace.map(Duration::from_secs),
            store,
            key,
            key_id,
            alg,
            session_refreshes,
        }))
    }

    /// The keyring with the configured key for the configured algorithm,
    /// and a line saying where it came from (never the key itself).
    ///
    /// # Errors
    /// When the file cannot be read, the secret is neither hex nor base64,
    /// is shorter than 32 bytes, or the key id is not acceptable.
    pub fn keyring(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Keyring, String), String> {
        let kid = &self.key_id;
        let (secret, shown) = match &self.key {
            KeySource::Random => {
                let mut secret = Zeroizing::new(vec![0u8; 32]);
                OsRandom
                    .fill(&mut secret)
                    .map_err(|e| format!("random key: {e}"))?;
                let shown = format!(
                    "random, kid {kid}: only this instance can verify its tokens \
                     (give every instance the same --key-file or TOKENLIFE_KEY to share)"
                );
                (secret, shown)
            }
            KeySource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map(Zeroizing::new)
                    .map_err(|e| format!("--key-file {}: {e}", path.display()))?;
                let secret = decode_secret(&text)
                    .map_err(|e| format!("--key-file {}: {e}", path.display()))?;
                (secret, format!("from {}, kid {kid}", path.display()))
            }
            KeySource::Env => {
                let text = Zeroizing::new(env("TOKENLIFE_KEY").unwrap_or_default());
                let secret = decode_secret(&text).map_err(|e| format!("TOKENLIFE_KEY: {e}"))?;
                (secret, format!("from TOKENLIFE_KEY, kid {kid}"))
            }
        };
        let keys = Keyring::with_algorithm(self.alg, kid, &secret)
            .map_err(|e| format!("signing key: {e}"))?;
        Ok((keys, format!("{}, {shown}", self.alg)))
    }
}

/// An access-token algorithm the server does not offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm {
    /// What was given.
    pub given: String,
}

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown algorithm {:?}: expected hs256, eddsa or es256",
            self.given
        )
    }
}

impl std::error::Error for UnknownAlgorithm {}

/// `hs256`, `eddsa` or `es256`, in any case (`EdDSA`, `ES256` as JOSE
/// writes them).
///
/// # Errors
/// [`UnknownAlgorithm`] for anything else.
pub fn parse_algorithm(text: &str) -> Result<Algorithm, UnknownAlgorithm> {
    match text.trim().to_ascii_lowercase().as_str() {
        "hs256" => Ok(Algorithm::HS256),
        "eddsa" => Ok(Algorithm::EdDSA),
        "es256" => Ok(Algorithm::ES256),
        _ => Err(UnknownAlgorithm {
            given: text.chars().take(32).collect(),
        }),
    }
}

impl StoreChoice {
    /// `memory`, `sqlite:PATH`, `postgres:URL` (the URL may also be given
    /// whole: `postgres://…` or `postgresql://…`) or a Redis URL
    /// (`redis://…`, `rediss://…`, `redis+unix://…`).
    ///
    /// # Errors
    /// When `text` is none of these, or the path or URL is empty.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let choice = if text == "memory" {
            Self::Memory
        } else if let Some(path) = text.strip_prefix("sqlite:") {
            Self::Sqlite(path.into())
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Self::Postgres(text.to_owned())
        } else if let Some(url) = text.strip_prefix("postgres:") {
            Self::Postgres(url.to_owned())
        } else if ["redis://", "rediss://", "redis+unix://"]
            .iter()
            .any(|scheme| text.starts_with(scheme))
        {
            Self::Redis(text.to_owned())
        } else {
            return Err(format!(
                "store {:?}: expected memory, sqlite:PATH, postgres:URL or redis://…",
                redact(text)
            ));
        };
        match &choice {
            Self::Sqlite(path) if path.as_os_str().is_empty() => {
                Err("store sqlite: needs a file path".into())
            }
            Self::Postgres(url) if url.is_empty() => Err("store postgres: needs a URL".into()),
            _ => Ok(choice),
        }
    }
}

impl fmt::Display for StoreChoice {
    /// What the startup output says; a PostgreSQL password is not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("in memory, this process only"),
            Self::Sqlite(path) => write!(f, "SQLite file {}", path.display()),
            Self::Postgres(url) => write!(f, "PostgreSQL {}", redact(url)),
            Self::Redis(url) => write!(f, "Redis {}", redact(url)),
        }
    }
}

/// A secret written as hex (an even number of hex digits) or base64
/// (standard or URL-safe alphabet, padded or not); surrounding whitespace
/// is ignored.
///
/// # Errors
/// When it is neither.
pub fn decode_secret(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the secret is empty".into());
    }
    if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut secret = Zeroizing::new(Vec::with_capacity(text.len() / 2));
        for pair in text.as_bytes().chunks_exact(2) {
            secret.push((hex_digit(pair[0]) << 4) | hex_digit(pair[1]));
        }
        return Ok(secret);
    }
    let standard: Zeroizing<String> = Zeroizing::new(
        text.trim_end_matches('=')
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect(),
    );
    STANDARD_NO_PAD
        .decode(standard.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| "the secret is neither hex nor base64".to_owned())
}

fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// A PostgreSQL or Redis URL, or a PostgreSQL connection string, with its
/// password replaced by `***`.
pub fn redact(url: &str) -> String {
    // URL form: scheme://user:password@host…
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let shown = if user.len() < userinfo.len() {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            return format!("{scheme}://{shown}@{host}{}", redact_query(tail));
        }
        return format!("{scheme}://{authority}{}", redact_query(tail));
    }
    // Key-value form: host=… password=… …
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{path}?{query}")
}

fn value(name: &str, value: Option<String>) -> Result<String, String> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{name} needs a value"))
}

fn number(name: &str, value: Option<String>) -> Result<u64, String> {
    let value = value.ok_or_else(|| format!("{name} needs a value"))?;
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}: {value:?} is not a whole number"))
}

// Unit tests of the options; the processes are tested in `tests/multi_instance.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_choices_parse() {
        let parse = |s: &str| StoreChoice::parse(s);
        assert_eq!(parse("memory"), Ok(StoreChoice::Memory));
        assert_eq!(
            parse("sqlite:/tmp/s.db"),
            Ok(StoreChoice::Sqlite("/tmp/s.db".into()))
        );
        for url in [
            "postgres:postgres://u:p@127.0.0.1/db",
            "postgres://u:p@127.0.0.1/db",
        ] {
            assert_eq!(
                parse(url),
                Ok(StoreChoice::Postgres("postgres://u:p@127.0.0.1/db".into()))
            );
        }
        assert_eq!(
            parse("redis://127.0.0.1:6379/0"),
            Ok(StoreChoice::Redis("redis://127.0.0.1:6379/0".into()))
        );
        assert_eq!(
            StoreChoice::Redis("redis://:hunter2@h:6379".into()).to_string(),
            "Redis redis://:***@h:6379"
        );
        for wrong in ["", "sqlite:", "postgres:", "redis:x", "Memory"] {
            assert!(parse(wrong).is_err(), "{wrong:?}");
        }
        // A wrong choice does not echo a password back.
        let e = parse("postgre://u:hunter2@h/db").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn postgres_passwords_are_not_shown() {
        for (url, shown) in [
            (
                "postgres://app:hunter2@db:5432/auth?sslmode=disable",
                "postgres://app:***@db:5432/auth?sslmode=disable",
            ),
            ("postgres://app@db/auth", "postgres://app@db/auth"),
            (
                "postgres://db/auth?user=app&password=hunter2",
                "postgres://db/auth?user=app&password=***",
            ),
            (
                "host=db user=app password=hunter2 dbname=auth",
                "host=db user=app password=*** dbname=auth",
            ),
        ] {
            assert_eq!(redact(url), shown);
            let choice = StoreChoice::Postgres(url.into()).to_string();
            assert!(!choice.contains("hunter2"), "{choice}");
        }
    }

    #[test]
    fn a_key_in_hex_or_base64_gives_the_same_keyring() {
        let secret: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let encodings = [
            hex.clone(),
            hex.to_uppercase(),
            format!("  {hex}\n"),
            base64_of(&secret, base64::engine::general_purpose::STANDARD),
            base64_of(&secret, base64::engine::general_purpose::URL_SAFE_NO_PAD),
        ];
        for text in &encodings {
            assert_eq!(*decode_secret(text).unwrap(), secret, "{text:?}");
        }
        for wrong in ["", "   ", "not a key!", "a"] {
            assert!(decode_secret(wrong).is_err(), "{wrong:?}");
        }

        // Two instances given the key, one in a file and one in the
        // environment, sign with the same key under the same id.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, &encodings[3]).unwrap();
        let no_env = |_: &str| None;
        let from_file = Config::parse(
            ["--key-file".to_owned(), file.display().to_string()].into_iter(),
            no_env,
        )
        .unwrap()
        .unwrap();
        assert_eq!(from_file.key, KeySource::File(file.clone()));
        let env_key = |name: &str| (name == "TOKENLIFE_KEY").then(|| hex.clone());
        let from_env = Config::parse(std::iter::empty(), env_key).unwrap().unwrap();
        assert_eq!(from_env.key, KeySource::Env);
        let (file_keys, shown) = from_file.keyring(no_env).unwrap();
        assert!(!shown.contains(&hex[..8]), "{shown}");
        let (env_keys, _) = from_env.keyring(env_key).unwrap();
        assert_eq!(file_keys.signing_key_id().as_str(), DEFAULT_KEY_ID);
        assert_eq!(
            *file_keys.access_token_secret(DEFAULT_KEY_ID).unwrap(),
            *env_keys.access_token_secret(DEFAULT_KEY_ID).unwrap()
        );

        // Without a key, each instance draws its own.
        let random = Config::parse(std::iter::empty(), no_env).unwrap().unwrap();
        assert_eq!(random.key, KeySource::Random);
        let (one, shown) = random.keyring(no_env).unwrap();
        let (two, _) = random.keyring(no_env).unwrap();
        assert!(shown.contains("random"), "{shown}");
        assert_ne!(
            *one.access_token_secret(DEFAULT_KEY_ID).unwrap(),
            *two.access_token_secret(DEFAULT_KEY_ID).unwrap()
        );

        // Too short a secret is refused.
        let short = |name: &str| (name == "TOKENLIFE_KEY").then(|| "00".repeat(16));
        let config = Config::parse(std::iter::empty(), short).unwrap().unwrap();
        assert!(config.keyring(short).is_err());
    }

    #[test]
    fn flags_win_over_the_environment() {
        let env = |name: &str| match name {
            "TOKENLIFE_PORT" => Some("9000".to_owned()),
            "TOKENLIFE_STORE" => Some("sqlite:/tmp/env.db".to_owned()),
            "TOKENLIFE_REUSE_GRACE_SECS" => Some("5".to_owned()),
            _ => None,
        };
        let from_env = Config::parse(std::iter::empty(), env).unwrap().unwrap();
        assert_eq!(from_env.port, 9000);
        assert_eq!(from_env.store, StoreChoice::Sqlite("/tmp/env.db".into()));
        assert_eq!(from_env.reuse_grace, Some(Duration::from_secs(5)));
        let args = [
            "--port",
            "0",
            "--store",
            "memory",
            "--reuse-grace-secs",
            "0",
        ];
        let flags = Config::parse(args.iter().map(|s| (*s).to_owned()), env)
            .unwrap()
            .unwrap();
        assert_eq!(flags.port, 0);
        assert_eq!(flags.store, StoreChoice::Memory);
        assert_eq!(flags.reuse_grace, Some(Duration::ZERO));
        assert_eq!(flags.session_refreshes, None);
        let args = ["--session-refreshes-per-minute", "600"].map(str::to_owned);
        let limited = Config::parse(args.into_iter(), env).unwrap().unwrap();
        assert_eq!(limited.session_refreshes, Some(600));
        for wrong in [
            &["--store"][..],
            &["--store", "mysql:x"],
            &["--reuse-grace-secs", "-1"],
            &["--key-file"],
            &["--session-refreshes-per-minute", "0"],
            &["--frobnicate"],
        ] {
            let args = wrong.iter().map(|s| (*s).to_owned());
            assert!(Config::parse(args, env).is_err(), "{wrong:?}");
        }
        let both = |name: &str| {
            matches!(name, "TOKENLIFE_KEY" | "TOKENLIFE_KEY_FILE").then(|| "x".to_owned())
        };
        assert!(Config::parse(std::iter::empty(), both).is_err());
    }

    #[test]
    fn the_algorithm_is_hs256_unless_told_and_an_unknown_one_is_refused() {
        let no_env = |_: &str| None;
        let default = Config::parse(std::iter::empty(), no_env).unwrap().unwrap();
        assert_eq!(default.alg, Algorithm::HS256);
        let (keys, shown) = default.keyring(no_env).unwrap();
        assert_eq!(keys.algorithm(DEFAULT_KEY_ID), Some(Algorithm::HS256));
        assert!(shown.starts_with("HS256, random"), "{shown}");

        for (given, alg) in [
            ("eddsa", Algorithm::EdDSA),
            ("EdDSA", Algorithm::EdDSA),
            ("es256", Algorithm::ES256),
            (" HS256 ", Algorithm::HS256),
        ] {
            assert_eq!(parse_algorithm(given), Ok(alg), "{given:?}");
            let args = ["--alg", given].map(str::to_owned);
            let config = Config::parse(args.into_iter(), no_env).unwrap().unwrap();
            assert_eq!(config.alg, alg);
            let (keys, _) = config.keyring(no_env).unwrap();
            assert_eq!(keys.algorithm(DEFAULT_KEY_ID), Some(alg));
        }

        let env = |name: &str| (name == "TOKENLIFE_ALG").then(|| "es256".to_owned());
        let from_env = Config::parse(std::iter::empty(), env).unwrap().unwrap();
        assert_eq!(from_env.alg, Algorithm::ES256);
        let args = ["--alg", "eddsa"].map(str::to_owned);
        let flag = Config::parse(args.into_iter(), env).unwrap().unwrap();
        assert_eq!(flag.alg, Algorithm::EdDSA, "the flag wins");

        assert_eq!(
            parse_algorithm("rs256"),
            Err(UnknownAlgorithm {
                given: "rs256".into()
            })
        );
        for wrong in [&["--alg"][..], &["--alg", "none"], &["--alg", "ed25519"]] {
            let args = wrong.iter().map(|s| (*s).to_owned());
            assert!(Config::parse(args, no_env).is_err(), "{wrong:?}");
        }
        let bad_env = |name: &str| (name == "TOKENLIFE_ALG").then(|| "HS512".to_owned());
        let e = Config::parse(std::iter::empty(), bad_env).unwrap_err();
        assert!(e.contains("TOKENLIFE_ALG") && e.contains("HS512"), "{e}");
    }

    fn base64_of(bytes: &[u8], engine: impl base64::Engine) -> String {
        engine.encode(bytes)
    }
}
