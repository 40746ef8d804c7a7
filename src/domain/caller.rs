//! Who is calling: every front door of the contract ends up as one [`Caller`],
//! a kind, a map of claims and a set of scopes. `entrypoints/identity.rs`
//! reads it out of API Gateway's authorizer contexts.

use std::collections::BTreeMap;

use serde_json::Value;

/// A claim's value as the caller's claims hold it: strings as they are, numbers and booleans
/// as their JSON text, anything else (objects, arrays, null) not a claim of text.
pub fn claim_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Which authorizer vouched for the caller; logged as the caller kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    Jwt,
    LambdaAuthorizer,
    Iam,
    Cognito,
}

impl CallerKind {
    pub const ALL: [CallerKind; 4] =
        [CallerKind::Jwt, CallerKind::LambdaAuthorizer, CallerKind::Iam, CallerKind::Cognito];

    /// The kind as the audit line writes it (`jwt`, `lambda_authorizer`, `iam`, `cognito`).
    pub fn parse(text: &str) -> Option<CallerKind> {
        CallerKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallerKind::Jwt => "jwt",
            CallerKind::LambdaAuthorizer => "lambda_authorizer",
            CallerKind::Iam => "iam",
            CallerKind::Cognito => "cognito",
        }
    }
}

/// An IAM caller whose credentials came from a Cognito identity pool. Its
/// `userArn` is one assumed-role session shared by every user of the pool;
/// the identity id (claim `cognitoIdentityId`) is what tells users apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolIdentity {
    /// `false` for a guest (unauthenticated) identity.
    pub authenticated: bool,
}

/// The IAM claims that name the pool's shared role session, not a user.
pub const POOL_SHARED_CLAIMS: &[&str] = &["userArn", "callerId", "userId", "accountId", "principalOrgId"];

/// An authenticated caller. The only way to get one is [`Caller::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    kind: CallerKind,
    claims: BTreeMap<String, String>,
    scopes: Vec<String>,
    pool_identity: Option<PoolIdentity>,
}

impl Caller {
    pub fn kind(&self) -> CallerKind {
        self.kind
    }

    /// A claim's value as text; numbers and booleans in their JSON form.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).map(String::as_str)
    }

    /// Every claim, by name, as text.
    pub fn claims(&self) -> impl Iterator<Item = (&str, &str)> {
        self.claims.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Set for IAM callers signed with Cognito identity pool credentials.
    pub fn pool_identity(&self) -> Option<PoolIdentity> {
        self.pool_identity
    }

    /// A name for the audit log: who the authorizer says this is. For a
    /// Cognito identity pool caller, its identity id (the role is shared).
    pub fn principal(&self) -> &str {
        let keys: &[&str] = match self.kind {
            CallerKind::Iam => &["cognitoIdentityId", "userArn", "callerId"],
            CallerKind::LambdaAuthorizer => &["principalId", "sub"],
            CallerKind::Jwt | CallerKind::Cognito => &["sub", "client_id", "username"],
        };
        keys.iter().find_map(|k| self.claim(k)).unwrap_or("unknown")
    }

    /// A caller vouched for by `kind` with these claims and scopes; `None`
    /// when there are no claims (an authorizer that vouched for nobody).
    pub fn new(kind: CallerKind, claims: BTreeMap<String, String>, scopes: Vec<String>) -> Option<Self> {
        (!claims.is_empty()).then_some(Caller { kind, claims, scopes, pool_identity: None })
    }

    /// The same caller, marked as signed with Cognito identity pool credentials.
    pub fn with_pool_identity(mut self, identity: PoolIdentity) -> Self {
        self.pool_identity = Some(identity);
        self
    }
}
