//! Does the event's authorizer context agree with the verified token? Whoever
//! invokes the function directly writes the context; API Gateway writes it from
//! the token. A claim the context reports must be the token's value, as it is or
//! as API Gateway renders it: numbers and booleans as text, arrays as `[a b]`
//! (HTTP API) or `a,b` (REST Cognito's groups), REST Cognito's date text for
//! numeric times (`Thu Jan 01 00:00:00 UTC 2026`). A context scope must be one
//! the token holds. Claims the context leaves out are fine; object and null
//! claims are not compared (the broker reads neither, and gateways render them
//! differently).

use serde_json::Value;

use crate::domain::caller::{claim_text, Caller};
use crate::tokens::VerifiedToken;

/// Where the context and the token differ: a forgery, or a context from elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disagreement {
    /// The context reports this claim with a value the token does not have (or the token lacks it).
    Claim(String),
    /// The context reports a scope the token does not hold.
    Scope,
}

pub fn context_agrees(context: &Caller, token: &VerifiedToken) -> Result<(), Disagreement> {
    for (name, reported) in context.claims() {
        let agrees = match token.claim(name) {
            None => false,
            Some(value) => renders_as(value, reported),
        };
        if !agrees {
            return Err(Disagreement::Claim(name.to_owned()));
        }
    }
    let held = token.scopes();
    if context.scopes().iter().all(|scope| held.contains(scope)) {
        Ok(())
    } else {
        Err(Disagreement::Scope)
    }
}

fn renders_as(value: &Value, reported: &str) -> bool {
    match value {
        Value::String(text) => text == reported,
        Value::Bool(b) => b.to_string() == reported,
        Value::Number(n) => {
            n.to_string() == reported || n.as_i64().and_then(java_date_text).is_some_and(|d| d == reported)
        }
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(claim_text).collect();
            let Some(parts) = parts else { return false };
            reported == format!("[{}]", parts.join(" "))
                || reported == parts.join(",")
                || serde_json::to_string(value).is_ok_and(|json| json == reported)
        }
        Value::Object(_) | Value::Null => true,
    }
}

/// Epoch seconds as Java's `Date.toString()` in UTC, which REST API's Cognito
/// authorizer uses for `exp`, `iat` and `auth_time`: `Thu Jan 01 00:00:00 UTC 2026`.
fn java_date_text(epoch_seconds: i64) -> Option<String> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    if !(0..=253_402_300_799).contains(&epoch_seconds) {
        return None; // before 1970 or after 9999: no token has such a time
    }
    let days = epoch_seconds / 86_400;
    let secs = epoch_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    Some(format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        year
    ))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_times_render_as_java_date_text_in_utc() {
        assert_eq!(java_date_text(0).as_deref(), Some("Thu Jan 01 00:00:00 UTC 1970"));
        assert_eq!(java_date_text(1_767_225_600).as_deref(), Some("Thu Jan 01 00:00:00 UTC 2026"));
        assert_eq!(java_date_text(1_709_210_096).as_deref(), Some("Thu Feb 29 12:34:56 UTC 2024"));
        assert_eq!(java_date_text(-1), None);
    }

    #[test]
    fn each_of_api_gateways_renderings_agrees_and_another_value_does_not() {
        assert!(renders_as(&json!("u1"), "u1"));
        assert!(!renders_as(&json!("u1"), "u2"));
        assert!(renders_as(&json!(12345), "12345"));
        assert!(renders_as(&json!(true), "true"));
        assert!(!renders_as(&json!(true), "false"));
        assert!(renders_as(&json!(1_767_225_600), "Thu Jan 01 00:00:00 UTC 2026"));
        assert!(!renders_as(&json!(1_767_225_600), "Fri Jan 02 00:00:00 UTC 2026"));
        assert!(renders_as(&json!(["a", "b"]), "[a b]"));
        assert!(renders_as(&json!(["a", "b"]), "a,b"));
        assert!(renders_as(&json!(["a", "b"]), r#"["a","b"]"#));
        assert!(!renders_as(&json!(["a", "b"]), "[a b c]"));
    }
}
