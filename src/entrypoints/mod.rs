//! What calls the function: the raw Lambda event in, the API Gateway response
//! out, and the one path of a request between them (checks in the contract's
//! order, then `finish`).

pub mod request;
pub mod identity;
pub mod lambda;
pub mod response;
