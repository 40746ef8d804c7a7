//! Who is calling: every front door of the contract ends up as one [`Caller`],
//! a kind, a map of claims and a set of scopes. `entrypoints/identity.rs`
//! reads it out of API Gateway's authorizer contexts.

use std::collections::BTreeMap;

/// Which authorizer vouched for the caller; logged as the caller kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    Jwt,
    LambdaAuthorizer,
    Iam,
    Cognito,
}

impl CallerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallerKind::Jwt => "jwt",
            CallerKind::LambdaAuthorizer => "lambda_authorizer",
            CallerKind::Iam => "iam",
            CallerKind::Cognito => "cognito",
        }
    }
}

/// An authenticated caller. The only way to get one is [`Caller::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    kind: CallerKind,
    claims: BTreeMap<String, String>,
    scopes: Vec<String>,
}

impl Caller {
    pub fn kind(&self) -> CallerKind {
        self.kind
    }

    /// A claim's value as text; numbers and booleans in their JSON form.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).map(String::as_str)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// A name for the audit log: who the authorizer says this is.
    pub fn principal(&self) -> &str {
        let keys: &[&str] = match self.kind {
            CallerKind::Iam => &["userArn", "callerId"],
            CallerKind::LambdaAuthorizer => &["principalId", "sub"],
            CallerKind::Jwt | CallerKind::Cognito => &["sub", "client_id", "username"],
        };
        keys.iter().find_map(|k| self.claim(k)).unwrap_or("unknown")
    }

    /// A caller vouched for by `kind` with these claims and scopes; `None`
    /// when there are no claims (an authorizer that vouched for nobody).
    pub fn new(kind: CallerKind, claims: BTreeMap<String, String>, scopes: Vec<String>) -> Option<Self> {
        (!claims.is_empty()).then_some(Caller { kind, claims, scopes })
    }
}
