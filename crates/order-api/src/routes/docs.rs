//! The API reference at `/docs`: Swagger UI over `/openapi.json`. Its assets
//! are compiled into the binary by utoipa-swagger-ui from the crates.io crate
//! utoipa-swagger-ui-vendored, so nothing is fetched at build time and the
//! page loads nothing from outside this API.

use axum::Router;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the API reference is served (`/docs` redirects to `/docs/`).
pub const DOCS_PATH: &str = "/docs";

/// The document Swagger UI shows: the one `/openapi.json` serves, not a copy.
pub const OPENAPI_URL: &str = "/openapi.json";

/// The routes of the API reference.
pub fn swagger_ui<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    // No validator badge: Swagger UI would send the document to an online
    // validator.
    let config = Config::new([OPENAPI_URL]).validator_url("none");
    SwaggerUi::new(DOCS_PATH).config(config).into()
}
