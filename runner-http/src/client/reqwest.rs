//! [`Propagate`] as a `reqwest_middleware::Middleware`.

use http::Extensions;
use reqwest_middleware::{Middleware, Next, Result};

use crate::client::Propagate;

#[async_trait::async_trait]
impl Middleware for Propagate {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<reqwest::Response> {
        // Written as the request is sent: this runs inside the task that sends it.
        self.write(request.headers_mut());
        next.run(request, extensions).await
    }
}
