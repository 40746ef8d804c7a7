//! The [`SecretSource`] backed by AWS Secrets Manager.

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::Client;

use crate::secrets::{ApiKeyField, ReadSecret, SecretError, SecretSource, Versioned};

/// One secret, read as `R` says: the API key by default, the seal keys for the session store.
pub struct SecretsManagerSource<R = ApiKeyField> {
    client: Client,
    secret_id: String,
    reader: R,
}

impl SecretsManagerSource {
    /// The API key, from `field` of the secret (or the whole SecretString).
    pub fn new(client: Client, secret_id: String, field: String) -> Self {
        SecretsManagerSource::reading(client, secret_id, ApiKeyField(field))
    }
}

impl<R: ReadSecret> SecretsManagerSource<R> {
    pub fn reading(client: Client, secret_id: String, reader: R) -> Self {
        SecretsManagerSource { client, secret_id, reader }
    }
}

impl<R: ReadSecret> SecretSource for SecretsManagerSource<R> {
    type Value = R::Value;

    async fn fetch(&self) -> Result<Versioned<R::Value>, SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(classify)?;
        let secret = output
            .secret_string()
            .ok_or_else(|| SecretError::Misconfigured("the secret has no SecretString".into()))?;
        let key = self.reader.read(secret)?;
        let version = output.version_id().unwrap_or_default().into();
        Ok(Versioned { key, version })
    }
}

/// Sorts a failure into one that will not fix itself (500 misconfigured) and
/// one worth retrying (503, or the cached key). Only the error code is kept.
fn classify(err: SdkError<GetSecretValueError>) -> SecretError {
    let SdkError::ServiceError(service) = &err else {
        return SecretError::Transient(format!("request failed: {}", sdk_error_kind(&err)));
    };
    let code = service.err().code().unwrap_or("unknown").to_owned();
    match service.err() {
        GetSecretValueError::ResourceNotFoundException(_)
        | GetSecretValueError::DecryptionFailure(_)
        | GetSecretValueError::InvalidParameterException(_)
        | GetSecretValueError::InvalidRequestException(_) => SecretError::Misconfigured(code),
        GetSecretValueError::InternalServiceError(_) => SecretError::Transient(code),
        _ if matches!(
            code.as_str(),
            "AccessDeniedException" | "AccessDenied" | "KMSAccessDeniedException"
        ) =>
        {
            SecretError::Misconfigured(code)
        }
        _ => SecretError::Transient(code),
    }
}

fn sdk_error_kind<E>(err: &SdkError<E>) -> &'static str {
    match err {
        SdkError::ConstructionFailure(_) => "construction failure (credentials or configuration)",
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch failure",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ServiceError(_) => "service error",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::error::ErrorMetadata;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_sdk_secretsmanager::types::error::{InternalServiceError, ResourceNotFoundException};
    use aws_smithy_mocks::{mock, mock_client, Rule};

    fn source(rule: &Rule) -> SecretsManagerSource {
        let client = mock_client!(aws_sdk_secretsmanager, [rule]);
        SecretsManagerSource::new(client, "parsec/key".into(), "api_key".into())
    }

    #[tokio::test]
    async fn the_current_version_of_the_named_secret_is_read() {
        let rule = mock!(Client::get_secret_value)
            .match_requests(|r| {
                r.secret_id() == Some("parsec/key") && r.version_stage() == Some("AWSCURRENT")
            })
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .secret_string(r#"{"api_key":"k1"}"#)
                    .version_id("ver-1")
                    .build()
            });
        let key = source(&rule).fetch().await.unwrap();
        assert_eq!(key.key.header_value(), "k1");
        assert_eq!(&*key.version, "ver-1");
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_missing_secret_is_misconfigured() {
        let rule = mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::ResourceNotFoundException(ResourceNotFoundException::builder().build())
        });
        assert!(matches!(source(&rule).fetch().await, Err(SecretError::Misconfigured(_))));
    }

    #[tokio::test]
    async fn access_denied_is_misconfigured() {
        let rule = mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::generic(ErrorMetadata::builder().code("AccessDeniedException").build())
        });
        assert!(matches!(source(&rule).fetch().await, Err(SecretError::Misconfigured(_))));
    }

    #[tokio::test]
    async fn throttling_and_internal_errors_are_transient() {
        let rule = mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::generic(ErrorMetadata::builder().code("ThrottlingException").build())
        });
        assert!(matches!(source(&rule).fetch().await, Err(SecretError::Transient(_))));
        let rule = mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::InternalServiceError(InternalServiceError::builder().build())
        });
        assert!(matches!(source(&rule).fetch().await, Err(SecretError::Transient(_))));
    }

    #[tokio::test]
    async fn a_binary_only_secret_is_misconfigured() {
        let rule = mock!(Client::get_secret_value).then_output(|| {
            GetSecretValueOutput::builder()
                .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new("k"))
                .version_id("v")
                .build()
        });
        assert!(matches!(source(&rule).fetch().await, Err(SecretError::Misconfigured(_))));
    }
}
