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
use clap::Parser;
use clap::builder::TypedValueParser;
use tokenlife::{Algorithm, Keyring, OsRandom, RandomSource};
use zeroize::Zeroizing;

/// The key id used when none is given.
pub const DEFAULT_KEY_ID: &str = "server-1";

/// Everything the server is told at start: flags, each with an environment
/// variable beside it (the flag wins).
#[derive(Debug, Parser)]
#[command(
    name = "server",
    about = "A Directus-compatible auth server on tokenlife (listens on 127.0.0.1 only).",
    after_help = "Also read from the environment: TOKENLIFE_KEY (the signing secret itself, \
                  hex or base64; never a flag, so that it stays out of `ps`), \
                  TOKENLIFE_DEMO_PASSWORD, RUST_LOG (default info)."
)]
pub struct Config {
    /// The loopback port; 0 lets the OS choose.
    #[arg(long, env = "TOKENLIFE_PORT", default_value_t = 8055)]
    pub port: u16,
    /// The lifetime of an access token, in seconds.
    #[arg(long = "access-ttl-secs", env = "TOKENLIFE_ACCESS_TTL_SECS", value_name = "SECS",
          default_value = "900", value_parser = positive_secs)]
    pub access_ttl: Duration,
    /// The grace window for a spent refresh token, in seconds [default: the library's].
    #[arg(long = "reuse-grace-secs", env = "TOKENLIFE_REUSE_GRACE_SECS", value_name = "SECS",
          value_parser = secs)]
    pub reuse_grace: Option<Duration>,
    /// Where sessions live: memory, sqlite:PATH, postgres:URL or redis://…
    #[arg(long, env = "TOKENLIFE_STORE", default_value = "memory", hide_env_values = true,
          value_parser = StoreParser)]
    pub store: StoreChoice,
    /// A file holding the signing secret, hex or base64 [default: a random
    /// key, which only this instance can verify].
    #[arg(long = "key-file", env = "TOKENLIFE_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// The signing key's id (`kid`): equal on every instance sharing the key.
    #[arg(long = "key-id", env = "TOKENLIFE_KEY_ID", value_name = "ID",
          default_value = DEFAULT_KEY_ID)]
    pub key_id: String,
    /// The access tokens' signature algorithm.
    #[arg(long, env = "TOKENLIFE_ALG", default_value = "hs256", ignore_case = true,
          value_parser = algorithm())]
    pub alg: Algorithm,
    /// Refreshes allowed per session per minute [default: the web crate's].
    #[arg(long = "session-refreshes-per-minute", env = "TOKENLIFE_SESSION_REFRESHES_PER_MINUTE",
          value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
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
    /// A Redis server: a `redis://` (or `redis+unix://`) URL.
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
    /// Where the signing key comes from: `--key-file`, else `TOKENLIFE_KEY`
    /// (read through `env`), else a random one.
    ///
    /// # Errors
    /// When both a key file and `TOKENLIFE_KEY` are given.
    pub fn key_source(&self, env: impl Fn(&str) -> Option<String>) -> Result<KeySource, String> {
        match (&self.key_file, env("TOKENLIFE_KEY").is_some()) {
            (Some(_), true) => {
                Err("give --key-file (TOKENLIFE_KEY_FILE) or TOKENLIFE_KEY, not both".into())
            }
            (Some(path), false) => Ok(KeySource::File(path.clone())),
            (None, true) => Ok(KeySource::Env),
            (None, false) => Ok(KeySource::Random),
        }
    }

    /// The keyring with the configured key for the configured algorithm,
    /// and a line saying where it came from (never the key itself).
    ///
    /// # Errors
    /// When both key sources are given, the file cannot be read, the secret
    /// is neither hex nor base64, is shorter than 32 bytes, or the key id
    /// is not acceptable.
    pub fn keyring(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Keyring, String), String> {
        let kid = &self.key_id;
        let (secret, shown) = match self.key_source(&env)? {
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
                let text = std::fs::read_to_string(&path)
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

/// `hs256`, `eddsa` or `es256`, in any case (`EdDSA`, `ES256` as JOSE
/// writes them).
fn algorithm() -> impl TypedValueParser<Value = Algorithm> {
    clap::builder::PossibleValuesParser::new(["hs256", "eddsa", "es256"]).map(|name| {
        match name.to_ascii_lowercase().as_str() {
            "eddsa" => Algorithm::EdDSA,
            "es256" => Algorithm::ES256,
            _ => Algorithm::HS256,
        }
    })
}

impl StoreChoice {
    /// `memory`, `sqlite:PATH`, `postgres:URL` (the URL may also be given
    /// whole: `postgres://…` or `postgresql://…`) or a Redis URL
    /// (`redis://…`, `redis+unix://…`).
    ///
    /// # Errors
    /// When `text` is none of these, or the path or URL is empty; and for
    /// `rediss://`, as the Redis client is built without TLS.
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
        } else if ["redis://", "redis+unix://"]
            .iter()
            .any(|scheme| text.starts_with(scheme))
        {
            Self::Redis(text.to_owned())
        } else if text.starts_with("rediss://") {
            return Err(format!(
                "store {:?}: TLS to Redis is not built in; use redis:// on a trusted \
                 network, or a TLS tunnel",
                redact(text)
            ));
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

/// Parses `--store` with [`StoreChoice::parse`], whose message hides a
/// password; clap's own message would quote the whole value back.
#[derive(Clone)]
struct StoreParser;

impl TypedValueParser for StoreParser {
    type Value = StoreChoice;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StoreChoice, clap::Error> {
        let refused = |message: String| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, message + "\n").with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refused("--store: not UTF-8".into()))?;
        StoreChoice::parse(text).map_err(refused)
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

/// A whole number of seconds.
fn secs(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("{text:?} is not a whole number of seconds"))
}

/// A whole number of seconds, at least 1.
fn positive_secs(text: &str) -> Result<Duration, String> {
    match secs(text)? {
        Duration::ZERO => Err("must be at least 1 s".into()),
        d => Ok(d),
    }
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
        // Not a URL that would parse and then fail at connect.
        let e = parse("rediss://:hunter2@h:6380").unwrap_err();
        assert!(e.contains("TLS") && !e.contains("hunter2"), "{e}");
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

    /// The flags alone: the ambient environment's `TOKENLIFE_*` variables
    /// are not read (the environment is tested on the binary, in `tests/cli.rs`).
    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let command = Config::command().mut_args(|arg| arg.env(None));
        let matches =
            command.try_get_matches_from(std::iter::once("server").chain(args.iter().copied()))?;
        Config::from_arg_matches(&matches)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory as _;
        Config::command().debug_assert();
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
        let from_file = parse(&["--key-file", &file.display().to_string()]).unwrap();
        assert_eq!(
            from_file.key_source(no_env),
            Ok(KeySource::File(file.clone()))
        );
        let env_key = |name: &str| (name == "TOKENLIFE_KEY").then(|| hex.clone());
        let from_env = parse(&[]).unwrap();
        assert_eq!(from_env.key_source(env_key), Ok(KeySource::Env));
        let (file_keys, shown) = from_file.keyring(no_env).unwrap();
        assert!(!shown.contains(&hex[..8]), "{shown}");
        let (env_keys, _) = from_env.keyring(env_key).unwrap();
        assert_eq!(file_keys.signing_key_id().as_str(), DEFAULT_KEY_ID);
        assert_eq!(
            *file_keys.access_token_secret(DEFAULT_KEY_ID).unwrap(),
            *env_keys.access_token_secret(DEFAULT_KEY_ID).unwrap()
        );
        // Both at once is refused rather than one silently chosen.
        assert!(from_file.key_source(env_key).is_err());
        assert!(from_file.keyring(env_key).is_err());

        // Without a key, each instance draws its own.
        let random = parse(&[]).unwrap();
        assert_eq!(random.key_source(no_env), Ok(KeySource::Random));
        let (one, shown) = random.keyring(no_env).unwrap();
        let (two, _) = random.keyring(no_env).unwrap();
        assert!(shown.contains("random"), "{shown}");
        assert_ne!(
            *one.access_token_secret(DEFAULT_KEY_ID).unwrap(),
            *two.access_token_secret(DEFAULT_KEY_ID).unwrap()
        );

        // Too short a secret is refused.
        let short = |name: &str| (name == "TOKENLIFE_KEY").then(|| "00".repeat(16));
        assert!(parse(&[]).unwrap().keyring(short).is_err());
    }

    #[test]
    fn the_defaults_and_the_flags() {
        let default = parse(&[]).unwrap();
        assert_eq!(default.port, 8055);
        assert_eq!(default.access_ttl, Duration::from_secs(900));
        assert_eq!(default.reuse_grace, None);
        assert_eq!(default.store, StoreChoice::Memory);
        assert_eq!(default.key_file, None);
        assert_eq!(default.key_id, DEFAULT_KEY_ID);
        assert_eq!(default.session_refreshes, None);

        let args = [
            "--port",
            "0",
            "--access-ttl-secs",
            "30",
            "--store",
            "sqlite:/tmp/s.db",
            "--reuse-grace-secs",
            "0",
            "--key-id",
            "k2",
            "--session-refreshes-per-minute",
            "600",
        ];
        let flags = parse(&args).unwrap();
        assert_eq!(flags.port, 0);
        assert_eq!(flags.access_ttl, Duration::from_secs(30));
        assert_eq!(flags.store, StoreChoice::Sqlite("/tmp/s.db".into()));
        assert_eq!(flags.reuse_grace, Some(Duration::ZERO));
        assert_eq!(flags.key_id, "k2");
        assert_eq!(flags.session_refreshes, Some(600));

        for wrong in [
            &["--store"][..],
            &["--store", "mysql:x"],
            &["--port", "65536"],
            &["--access-ttl-secs", "0"],
            &["--reuse-grace-secs", "-1"],
            &["--key-file"],
            &["--session-refreshes-per-minute", "0"],
            &["--frobnicate"],
            &["stray"],
        ] {
            assert!(parse(wrong).is_err(), "{wrong:?}");
        }
        // A wrong store does not echo a password back.
        let e = parse(&["--store", "postgre://u:hunter2@h/db"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expected memory") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn the_algorithm_is_hs256_unless_told_and_an_unknown_one_is_refused() {
        let no_env = |_: &str| None;
        let default = parse(&[]).unwrap();
        assert_eq!(default.alg, Algorithm::HS256);
        let (keys, shown) = default.keyring(no_env).unwrap();
        assert_eq!(keys.algorithm(DEFAULT_KEY_ID), Some(Algorithm::HS256));
        assert!(shown.starts_with("HS256, random"), "{shown}");

        for (given, alg) in [
            ("eddsa", Algorithm::EdDSA),
            ("EdDSA", Algorithm::EdDSA),
            ("es256", Algorithm::ES256),
            ("HS256", Algorithm::HS256),
        ] {
            let config = parse(&["--alg", given]).unwrap();
            assert_eq!(config.alg, alg);
            let (keys, _) = config.keyring(no_env).unwrap();
            assert_eq!(keys.algorithm(DEFAULT_KEY_ID), Some(alg));
        }

        for wrong in [
            &["--alg"][..],
            &["--alg", "none"],
            &["--alg", "ed25519"],
            &["--alg", "rs256"],
        ] {
            assert!(parse(wrong).is_err(), "{wrong:?}");
        }
    }

    fn base64_of(bytes: &[u8], engine: impl base64::Engine) -> String {
        engine.encode(bytes)
    }
}
