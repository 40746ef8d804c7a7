//! The rules, as pure functions and types: who the caller is, which user a
//! session is for, what a body may hold, and every way a request can fail.
//! Nothing here knows about API Gateway, HTTP or AWS.

pub mod body;
pub mod caller;
pub mod error;
pub mod external_id;
pub mod policy;
pub mod trust;
