//! The demo user table: argon2id password hashes, looked up by email or id.

use std::collections::HashMap;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Serialize;
use tokenlife::{OsRandom, RandomSource};

/// A user as `GET /users/me` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// The user id: the `sub` of its access tokens.
    pub id: String,
    /// The login name, lower-cased.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// The role, carried as an application claim in access tokens.
    pub role: String,
    #[serde(skip)]
    password_hash: String,
}

/// The user table. `Debug` shows the users' emails only, no hash.
pub struct Users {
    argon2: Argon2<'static>,
    by_email: HashMap<String, User>,
    email_by_id: HashMap<String, String>,
    /// The hash that a login with an unknown email is checked against, so
    /// that it costs what a wrong password costs.
    dummy_hash: String,
}

/// Why a user could not be added.
pub type UserError = Box<dyn std::error::Error + Send + Sync>;

impl Users {
    /// An empty table hashing with argon2id and `params` (`Params::DEFAULT`
    /// in production; tests pass cheaper ones).
    ///
    /// # Errors
    /// When the random source fails or argon2 refuses the parameters.
    pub fn new(params: Params) -> Result<Self, UserError> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash(&argon2, &random_hex(16)?)?;
        Ok(Self {
            argon2,
            by_email: HashMap::new(),
            email_by_id: HashMap::new(),
            dummy_hash,
        })
    }

    /// Adds a user with a fresh random id; returns it.
    ///
    /// # Errors
    /// When the email is taken, the random source fails or hashing fails.
    pub fn add(
        &mut self,
        email: &str,
        password: &str,
        name: (&str, &str),
        role: &str,
    ) -> Result<User, UserError> {
        let id = random_hex(16)?;
        self.add_with_id(&id, email, password, name, role)
    }

    /// Adds a user with the given id. Instances that share a session store
    /// must give a user the same id, the `sub` of its tokens.
    ///
    /// # Errors
    /// When the id or email is taken, the random source fails or hashing fails.
    pub fn add_with_id(
        &mut self,
        id: &str,
        email: &str,
        password: &str,
        (first_name, last_name): (&str, &str),
        role: &str,
    ) -> Result<User, UserError> {
        let email = normalise_email(email);
        if self.by_email.contains_key(&email) || self.email_by_id.contains_key(id) {
            return Err(format!("a user with email {email} or id {id} exists").into());
        }
        let user = User {
            id: id.to_owned(),
            email: email.clone(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            role: role.to_owned(),
            password_hash: hash(&self.argon2, password)?,
        };
        self.email_by_id.insert(user.id.clone(), email.clone());
        self.by_email.insert(email, user.clone());
        Ok(user)
    }

    /// The user with this id.
    pub fn by_id(&self, id: &str) -> Option<&User> {
        self.by_email.get(self.email_by_id.get(id)?)
    }

    /// The user whose email and password these are. Blocking (argon2).
    ///
    /// Exactly one argon2id verification runs whether or not the email
    /// exists, so the time taken does not tell which emails have accounts.
    pub fn check(&self, email: &str, password: &str) -> Option<&User> {
        let user = self.by_email.get(&normalise_email(email));
        let hash = user.map_or(self.dummy_hash.as_str(), |u| u.password_hash.as_str());
        let verified = self
            .argon2
            .verify_password(password.as_bytes(), hash)
            .is_ok();
        user.filter(|_| verified)
    }
}

fn hash(argon2: &Argon2<'_>, password: &str) -> Result<String, UserError> {
    let mut salt = [0u8; 16];
    OsRandom.fill(&mut salt)?;
    let hash = argon2
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| format!("argon2: {e}"))?;
    Ok(hash.to_string())
}

fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `bytes` random bytes from the OS, hex-encoded.
///
/// # Errors
/// When the OS random source fails.
pub fn random_hex(bytes: usize) -> Result<String, tokenlife::Error> {
    let mut raw = vec![0u8; bytes];
    OsRandom.fill(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("emails", &self.by_email.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
