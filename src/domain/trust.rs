//! Who may name a user in `body` mode: the `TRUSTED_CALLERS` rules (see
//! `docs/contract.md`, "Which user the session is for"). Every other caller,
//! however it authenticated, only ever gets a session for itself.

use crate::domain::caller::{Caller, CallerKind};

/// One `TRUSTED_CALLERS` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustRule {
    /// `scope:<scope>`: callers holding that scope.
    Scope(String),
    /// `client_id:<id>`: JWT or Cognito callers whose `client_id` claim (or
    /// `azp` where there is none) is that id.
    ClientId(String),
    /// `role:<IAM role ARN>`: IAM callers that are the role or one of its
    /// assumed-role sessions, never a Cognito identity pool caller.
    Role(RoleArn),
    /// `principal:<kind>:<value>`: callers of that kind (`jwt`, `lambda_authorizer`,
    /// `iam`, `cognito`, as the audit line writes it) whose audited principal is
    /// exactly that value: a Lambda authorizer's backend named `user-42` is not an
    /// end user whose token says `sub: user-42`.
    Principal(CallerKind, String),
}

/// An IAM role ARN, `arn:<partition>:iam::<account>:role/<path/><name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    arn: String,
    partition: String,
    account: String,
    name: String,
}

impl RoleArn {
    pub fn parse(arn: &str) -> Option<RoleArn> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let path = resource.strip_prefix("role/")?;
        let name = path.rsplit('/').next().filter(|n| !n.is_empty())?;
        let valid_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        (valid_account && !partition.is_empty()).then(|| RoleArn {
            arn: arn.to_owned(),
            partition: partition.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `user_arn` is this role, or a session of it:
    /// `arn:<partition>:sts::<account>:assumed-role/<name>/<session>`.
    fn admits(&self, user_arn: &str) -> bool {
        if user_arn == self.arn {
            return true;
        }
        let session = format!("arn:{}:sts::{}:assumed-role/{}/", self.partition, self.account, self.name);
        user_arn.strip_prefix(&session).is_some_and(|name| !name.is_empty() && !name.contains('/'))
    }
}

/// The parsed `TRUSTED_CALLERS`; empty when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedCallers(Vec<TrustRule>);

impl TrustedCallers {
    /// Comma-separated entries; the error quotes the entry that is not one of
    /// the four forms.
    pub fn parse(text: &str) -> Result<TrustedCallers, String> {
        let mut rules = Vec::new();
        for entry in text.split(',').map(str::trim) {
            let bad =
                || format!("has an entry that is not scope:, client_id:, role: or principal: ({entry:?})");
            let (form, value) = entry.split_once(':').ok_or_else(bad)?;
            let value = value.trim();
            if value.is_empty() {
                return Err(bad());
            }
            rules.push(match form.trim() {
                "scope" => TrustRule::Scope(value.to_owned()),
                "client_id" => TrustRule::ClientId(value.to_owned()),
                "role" => {
                    TrustRule::Role(RoleArn::parse(value).ok_or_else(|| {
                        format!("has a role: entry that is not an IAM role ARN ({value:?})")
                    })?)
                }
                "principal" => {
                    let qualified = || {
                        format!(
                            "has a principal: entry without a caller kind ({entry:?}); write principal:<kind>:<value>, \
                             kind one of jwt, lambda_authorizer, iam, cognito (e.g. principal:lambda_authorizer:{value})"
                        )
                    };
                    let (kind, principal) = value.split_once(':').ok_or_else(qualified)?;
                    let kind = CallerKind::parse(kind.trim()).ok_or_else(qualified)?;
                    let principal = principal.trim();
                    if principal.is_empty() {
                        return Err(qualified());
                    }
                    TrustRule::Principal(kind, principal.to_owned())
                }
                _ => return Err(bad()),
            });
        }
        Ok(TrustedCallers(rules))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `caller` may name a user in `body` mode.
    pub fn admits(&self, caller: &Caller) -> bool {
        self.0.iter().any(|rule| match rule {
            TrustRule::Scope(scope) => caller.has_scope(scope),
            TrustRule::ClientId(id) => {
                matches!(caller.kind(), CallerKind::Jwt | CallerKind::Cognito)
                    && caller.claim("client_id").or_else(|| caller.claim("azp")) == Some(id.as_str())
            }
            TrustRule::Role(role) => {
                caller.kind() == CallerKind::Iam
                    && caller.pool_identity().is_none()
                    && caller.claim("userArn").is_some_and(|arn| role.admits(arn))
            }
            TrustRule::Principal(kind, principal) => {
                caller.kind() == *kind && caller.principal() == principal
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::caller::PoolIdentity;
    use std::collections::BTreeMap;

    fn caller(kind: CallerKind, claims: &[(&str, &str)], scopes: &[&str]) -> Caller {
        let claims: BTreeMap<String, String> =
            claims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Caller::new(kind, claims, scopes.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    fn trusted(rules: &str) -> TrustedCallers {
        TrustedCallers::parse(rules).unwrap()
    }

    #[test]
    fn every_entry_of_another_form_is_refused() {
        for bad in [
            "",
            "backend",
            "scope:",
            "client:abc",
            "scope:a,,scope:b",
            "role:game-backend",
            "role:arn:aws:iam::123456789012:user/alice",
            "role:arn:aws:sts::123456789012:assumed-role/game-backend/s",
            "role:arn:aws:iam::1234:role/game-backend",
        ] {
            assert!(TrustedCallers::parse(bad).is_err(), "{bad:?}");
        }
        let all = trusted(
            " scope:parsec/admin , client_id:abc,role:arn:aws:iam::123456789012:role/x,principal:iam:p ",
        );
        assert_eq!(all.0.len(), 4);
    }

    #[test]
    fn a_scope_entry_trusts_holders_of_that_scope_only() {
        let rules = trusted("scope:parsec/backend");
        assert!(rules.admits(&caller(CallerKind::Jwt, &[("sub", "svc")], &["parsec/backend"])));
        assert!(!rules.admits(&caller(CallerKind::Jwt, &[("sub", "u")], &["parsec/sessions"])));
    }

    #[test]
    fn a_client_id_entry_matches_client_id_or_else_azp_for_token_callers_only() {
        let rules = trusted("client_id:backend-client");
        assert!(rules.admits(&caller(CallerKind::Jwt, &[("client_id", "backend-client")], &[])));
        assert!(rules.admits(&caller(CallerKind::Cognito, &[("azp", "backend-client")], &[])));
        assert!(!rules.admits(&caller(
            CallerKind::Jwt,
            &[("client_id", "app"), ("azp", "backend-client")],
            &[]
        )));
        assert!(!rules.admits(&caller(CallerKind::Jwt, &[("client_id", "app-client")], &[])));
        assert!(!rules.admits(&caller(
            CallerKind::LambdaAuthorizer,
            &[("client_id", "backend-client")],
            &[]
        )));
    }

    #[test]
    fn a_role_entry_trusts_the_role_and_its_sessions_and_nothing_else() {
        let rules = trusted("role:arn:aws:iam::123456789012:role/service/game-backend");
        let iam = |arn: &str| caller(CallerKind::Iam, &[("userArn", arn)], &[]);
        assert!(rules.admits(&iam("arn:aws:sts::123456789012:assumed-role/game-backend/backend")));
        assert!(rules.admits(&iam("arn:aws:iam::123456789012:role/service/game-backend")));
        for other in [
            "arn:aws:sts::123456789012:assumed-role/game-backend-2/backend",
            "arn:aws:sts::210987654321:assumed-role/game-backend/backend",
            "arn:aws-cn:sts::123456789012:assumed-role/game-backend/backend",
            "arn:aws:sts::123456789012:assumed-role/game-backend/",
            "arn:aws:iam::123456789012:user/game-backend",
        ] {
            assert!(!rules.admits(&iam(other)), "{other}");
        }
        let jwt = caller(
            CallerKind::Jwt,
            &[("userArn", "arn:aws:sts::123456789012:assumed-role/game-backend/x")],
            &[],
        );
        assert!(!rules.admits(&jwt), "only IAM callers carry a verified userArn");
    }

    #[test]
    fn a_role_entry_never_trusts_a_cognito_identity_pool_caller() {
        let rules = trusted("role:arn:aws:iam::123456789012:role/Cognito_GameAuth_Role");
        let pool = caller(
            CallerKind::Iam,
            &[(
                "userArn",
                "arn:aws:sts::123456789012:assumed-role/Cognito_GameAuth_Role/CognitoIdentityCredentials",
            )],
            &[],
        )
        .with_pool_identity(PoolIdentity { authenticated: true });
        assert!(!rules.admits(&pool));
    }

    #[test]
    fn a_principal_entry_without_a_known_caller_kind_stops_start_up_showing_the_qualified_form() {
        for bad in [
            "principal:user-42",
            "principal:arn:aws:iam::123456789012:user/x",
            "principal:jwt:",
            "principal:JWT:x",
        ] {
            let message = TrustedCallers::parse(bad).unwrap_err();
            assert!(message.contains("principal:<kind>:<value>"), "{bad}: {message}");
        }
    }

    #[test]
    fn a_principal_entry_trusts_its_caller_kind_only() {
        let rules = trusted("principal:lambda_authorizer:user-42");
        assert!(rules.admits(&caller(CallerKind::LambdaAuthorizer, &[("principalId", "user-42")], &[])));
        assert!(
            !rules.admits(&caller(CallerKind::Jwt, &[("sub", "user-42")], &[])),
            "an end user named user-42"
        );
        let iam = trusted("principal:iam:arn:aws:iam::123456789012:user/backend");
        assert!(iam.admits(&caller(
            CallerKind::Iam,
            &[("userArn", "arn:aws:iam::123456789012:user/backend")],
            &[]
        )));
    }

    #[test]
    fn a_principal_entry_matches_the_audited_principal_exactly() {
        let rules = trusted("principal:lambda_authorizer:svc-backend");
        assert!(rules.admits(&caller(CallerKind::LambdaAuthorizer, &[("principalId", "svc-backend")], &[])));
        assert!(!rules.admits(&caller(
            CallerKind::LambdaAuthorizer,
            &[("principalId", "svc-backend2")],
            &[]
        )));
        assert!(!TrustedCallers::default().admits(&caller(CallerKind::Jwt, &[("sub", "svc-backend")], &[])));
    }
}
