//! Who may have a session for whom: the scope rule and the choice of
//! `external_id`, in both modes. Pure functions of the caller and the body.

use crate::domain::caller::{Caller, POOL_SHARED_CLAIMS};
use crate::domain::error::BrokerError;
use crate::domain::external_id::ExternalId;
use crate::domain::trust::TrustedCallers;

/// Where the Parsec user a session is for comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalIdSource {
    /// From the caller's identity claim; a body value must match it.
    Claim,
    /// From the request body, for trusted backends acting for their users
    /// (`TRUSTED_CALLERS`); every other caller as in claim mode.
    Body,
}

/// Claims a user can edit (OIDC profile claims, Cognito's writable standard
/// attributes, and any `custom:` attribute): naming a Parsec user by one of
/// them lets a user take over another's identity.
const USER_EDITABLE_CLAIMS: &[&str] = &[
    "email",
    "phone_number",
    "preferred_username",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "middle_name",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "address",
];

/// Whether users can change `claim` themselves: such a claim must not name
/// a Parsec user (unless an operator explicitly allows it).
pub fn is_user_editable_claim(claim: &str) -> bool {
    let claim = claim.to_ascii_lowercase();
    claim.starts_with("custom:") || USER_EDITABLE_CLAIMS.contains(&claim.as_str())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub source: ExternalIdSource,
    pub claim: String,
    pub required_scope: Option<String>,
    pub trusted: TrustedCallers,
}

impl Policy {
    /// `403` for a guest of a Cognito identity pool, and when a scope is
    /// required and the caller does not hold it.
    pub fn check_caller(&self, caller: &Caller) -> Result<(), BrokerError> {
        if caller.pool_identity().is_some_and(|identity| !identity.authenticated) {
            return Err(BrokerError::Forbidden("A guest identity cannot have a session."));
        }
        match &self.required_scope {
            Some(scope) if !caller.has_scope(scope) => {
                Err(BrokerError::Forbidden("The caller lacks the scope this service requires."))
            }
            _ => Ok(()),
        }
    }

    /// The user the session is for. A trusted caller in body mode names it in
    /// the body; every other caller gets its own claim, which a body value may
    /// only repeat.
    pub fn external_id(&self, caller: &Caller, from_body: Option<&str>) -> Result<ExternalId, BrokerError> {
        let chosen = if self.source == ExternalIdSource::Body && self.trusted.admits(caller) {
            from_body.ok_or(BrokerError::InvalidRequest("The body must name the user in external_id."))?
        } else {
            let own = self.own_claim(caller)?;
            if from_body.is_some_and(|requested| requested != own) {
                return Err(BrokerError::Forbidden("A caller may only request a session for itself."));
            }
            own
        };
        ExternalId::parse(chosen).map_err(BrokerError::InvalidExternalId)
    }

    /// The caller's own `EXTERNAL_ID_CLAIM`. For a Cognito identity pool caller
    /// the IAM claims name the pool's shared role session, so they name nobody.
    fn own_claim<'c>(&self, caller: &'c Caller) -> Result<&'c str, BrokerError> {
        let no_user = BrokerError::Forbidden(
            "The caller's identity does not name a user this service can create a session for.",
        );
        if caller.pool_identity().is_some() && POOL_SHARED_CLAIMS.contains(&self.claim.as_str()) {
            return Err(no_user);
        }
        caller.claim(&self.claim).ok_or(no_user)
    }
}
