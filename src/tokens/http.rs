//! The live [`KeySetSource`]: `GET JWT_JWKS_URL` over the process's one HTTP
//! client (no redirects, the compiled-in roots), its body bounded.

use reqwest::{Client, StatusCode, Url};

use crate::tokens::KeySetSource;

/// A JWKS larger than this is not one an issuer serves.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

pub struct HttpKeySet {
    http: Client,
    url: Url,
}

impl HttpKeySet {
    pub fn new(http: Client, url: Url) -> Self {
        HttpKeySet { http, url }
    }
}

impl KeySetSource for HttpKeySet {
    async fn fetch(&self) -> Result<Vec<u8>, String> {
        let mut response = self
            .http
            .get(self.url.clone())
            .send()
            .await
            .map_err(|_| "the JWKS could not be reached".to_owned())?;
        if response.status() != StatusCode::OK {
            return Err(format!("the JWKS answered {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| "the JWKS was cut off".to_owned())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("the JWKS is larger than 64 KiB".to_owned());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
