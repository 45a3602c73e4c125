//! The server's command line and environment: port, lifetimes, the session
//! store and the signing key.
//!
//! Several instances serve the same users when they share two things: the
//! session store (`--store sqlite:PATH` or `--store postgres:URL`) and the
//! signing key (`--key-file PATH` or `TOKENLIFE_KEY`). Without a key each
//! instance draws a random one, and its tokens mean nothing to the others.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use tokenlife::{Keyring, OsRandom, RandomSource};
use zeroize::Zeroizing;

/// The usage text, printed for `--help` and after a wrong argument.
pub const USAGE: &str = "usage: server [--port N] [--access-ttl-secs N] [--reuse-grace-secs N]
              [--store memory|sqlite:PATH|postgres:URL] [--key-file PATH] [--key-id ID]
  env: TOKENLIFE_PORT, TOKENLIFE_ACCESS_TTL_SECS, TOKENLIFE_REUSE_GRACE_SECS,
       TOKENLIFE_STORE, TOKENLIFE_KEY_FILE, TOKENLIFE_KEY (the secret itself, hex or base64),
       TOKENLIFE_KEY_ID, TOKENLIFE_DEMO_PASSWORD
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
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--port" => port = number(&arg, args.next())?,
                "--access-ttl-secs" => ttl = number(&arg, args.next())?,
                "--reuse-grace-secs" => grace = Some(number(&arg, args.next())?),
                "--store" => store = StoreChoice::parse(&value(&arg, args.next())?)?,
                "--key-file" => key = KeySource::File(value(&arg, args.next())?.into()),
                "--key-id" => key_id = value(&arg, args.next())?,
                "-h" | "--help" => return Ok(None),
                _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
            }
        }
        let port = u16::try_from(port).map_err(|_| format!("port {port} is out of range"))?;
        if ttl == 0 {
            return Err("the access token lifetime must be at least 1 s".into());
        }
        Ok(Some(Self {
            port,
            access_ttl: Duration::from_secs(ttl),
            reuse_grace: grace.map(Duration::from_secs),
            store,
            key,
            key_id,
        }))
    }

    /// The keyring with the configured key, and a line saying where it came
    /// from (never the key itself).
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
        let keys = Keyring::new(kid, &secret).map_err(|e| format!("signing key: {e}"))?;
        Ok((keys, shown))
    }
}

impl StoreChoice {
    /// `memory`, `sqlite:PATH` or `postgres:URL` (the URL may also be given
    /// whole: `postgres://…` or `postgresql://…`).
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
        } else {
            return Err(format!(
                "store {:?}: expected memory, sqlite:PATH or postgres:URL",
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

/// A PostgreSQL URL or connection string with its password replaced by `***`.
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
