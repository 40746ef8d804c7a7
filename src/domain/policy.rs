//! Who may have a session for whom: the scope rule and the choice of
//! `external_id`, in both modes. Pure functions of the caller and the body.

use crate::domain::caller::Caller;
use crate::domain::error::BrokerError;
use crate::domain::external_id::ExternalId;

/// Where the Parsec user a session is for comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalIdSource {
    /// From the caller's identity claim; a body value must match it.
    Claim,
    /// From the request body, for trusted backends acting for their users.
    Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub source: ExternalIdSource,
    pub claim: String,
    pub required_scope: Option<String>,
}

impl Policy {
    /// `403` when a scope is required and the caller does not hold it.
    pub fn check_scope(&self, caller: &Caller) -> Result<(), BrokerError> {
        match &self.required_scope {
            Some(scope) if !caller.has_scope(scope) => {
                Err(BrokerError::Forbidden("The caller lacks the scope this service requires."))
            }
            _ => Ok(()),
        }
    }

    /// The user the session is for. In claim mode it is the caller's own claim
    /// and a body value may only repeat it; in body mode the body names it.
    pub fn external_id(&self, caller: &Caller, from_body: Option<&str>) -> Result<ExternalId, BrokerError> {
        let chosen = match self.source {
            ExternalIdSource::Claim => {
                let own = caller.claim(&self.claim).ok_or(BrokerError::Forbidden(
                    "The caller's identity does not name a user this service can create a session for.",
                ))?;
                if from_body.is_some_and(|requested| requested != own) {
                    return Err(BrokerError::Forbidden("A caller may only request a session for itself."));
                }
                own
            }
            ExternalIdSource::Body => {
                from_body.ok_or(BrokerError::InvalidRequest("The body must name the user in external_id."))?
            }
        };
        ExternalId::parse(chosen).map_err(BrokerError::InvalidExternalId)
    }
}
