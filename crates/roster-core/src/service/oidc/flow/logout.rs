//! RP-initiated logout: the end-session request checked.

use super::*;

impl Core {
    /// Checks an end-session request: the hint (an ID token Roster signed, even expired;
    /// the literal `None` counts as absent), and the post-logout redirect URI, which must be
    /// registered for the hinted client or `client_id`.
    pub async fn oidc_end_session(&self, request: &EndSessionRequest) -> Result<EndSessionTarget, OAuthError> {
        let hint = request
            .id_token_hint
            .as_deref()
            .filter(|h| !h.is_empty() && *h != "None" && *h != "null");
        let mut hinted = None;
        let mut hinted_client = None;
        if let Some(hint) = hint {
            let keys = self.oidc_keys().await?;
            // An expired ID token is a fine hint: verify at its own issue time.
            let claims: Value = keys
                .verify(hint, self.oidc_issuer(), OffsetDateTime::UNIX_EPOCH)
                .map_err(|_| OAuthError::invalid_request("id_token_hint is not an ID token Roster issued"))?;
            let user = claims["sub"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| OAuthError::invalid_request("id_token_hint has no subject"))?;
            let sid = claims["sid"].as_str().and_then(|s| s.parse().ok()).map(SessionId);
            hinted = Some((crate::id::UserId(user), sid));
            hinted_client = claims["aud"].as_str().map(str::to_string);
        }
        if let (Some(from_hint), Some(given)) = (&hinted_client, &request.client_id)
            && from_hint != given
        {
            return Err(OAuthError::invalid_request(
                "client_id differs from the audience of id_token_hint",
            ));
        }
        let client_id = hinted_client.or_else(|| request.client_id.clone());
        let redirect = match request.post_logout_redirect_uri.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(uri) => {
                let Some(client_id) = client_id else {
                    return Err(OAuthError::invalid_request(
                        "post_logout_redirect_uri needs id_token_hint or client_id",
                    ));
                };
                let client = match self.store.get_oidc_client(&client_id).await {
                    Ok(c) => c,
                    Err(StoreError::NotFound) => return Err(OAuthError::invalid_client("unknown client")),
                    Err(e) => return Err(e.into()),
                };
                if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                    return Err(OAuthError::invalid_request(
                        "post_logout_redirect_uri is not registered for this client",
                    ));
                }
                Some(match request.state.as_deref() {
                    Some(state) => with_query(uri, &[("state", state)]),
                    None => uri.to_string(),
                })
            }
        };
        Ok(EndSessionTarget { hinted, redirect })
    }
}
