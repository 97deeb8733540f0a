//! The authorization endpoint: the request checked, then a code, a sign-in, the consent page or
//! an error sent back to the client.

use super::*;
use crate::store::OidcCode;

impl Core {
    fn oauth_redirect_error(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &'static str,
        description: &str,
    ) -> AuthorizeOutcome {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", self.oidc_issuer()));
        AuthorizeOutcome::Redirect(with_query(redirect_uri, &params))
    }

    /// The authorization endpoint: checks the request, then decides whether to issue a code,
    /// ask the user to sign in or to consent, or send an error back. `consent` is the user's
    /// answer on the consent page (None: not asked yet). `return_to` is the path and query of
    /// this request, to come back to after signing in.
    pub async fn oidc_authorize(
        &self,
        request: &AuthorizeRequest,
        signed_in: Option<&SignedIn>,
        consent: Option<bool>,
        return_to: &str,
    ) -> Result<AuthorizeOutcome> {
        let page = |error: &'static str, description: &str| AuthorizeOutcome::ErrorPage {
            error,
            description: description.to_string(),
        };
        // Until the client and redirect URI are verified, errors are shown, never redirected.
        let Some(client_id) = request.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(page("invalid_request", "client_id is missing"));
        };
        let client = match self.store.get_oidc_client(client_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Ok(page("invalid_client", "the client is not registered")),
            Err(e) => return Err(e.into()),
        };
        let Some(redirect_uri) = request.redirect_uri.as_deref() else {
            return Ok(page("invalid_request", "redirect_uri is missing"));
        };
        if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
            return Ok(page(
                "invalid_request",
                "redirect_uri is not registered for this client (it must match exactly)",
            ));
        }
        let state = request.state.as_deref();
        let fail = |error: &'static str, description: &str| -> Result<AuthorizeOutcome> {
            Ok(self.oauth_redirect_error(redirect_uri, state, error, description))
        };
        for (field, value) in [
            ("state", &request.state),
            ("nonce", &request.nonce),
            ("login_hint", &request.login_hint),
        ] {
            if let Some(description) = too_long(field, value) {
                return fail("invalid_request", &description);
            }
        }
        if request.request.is_some() {
            return fail("request_not_supported", "request objects are not supported");
        }
        if request.request_uri.is_some() {
            return fail("request_uri_not_supported", "request_uri is not supported");
        }
        match request.response_type.as_deref() {
            Some("code") => {}
            None => return fail("invalid_request", "response_type is missing"),
            Some(_) => return fail("unsupported_response_type", "only response_type=code is supported"),
        }
        if request.response_mode.as_deref().is_some_and(|m| m != "query") {
            return fail("invalid_request", "only response_mode=query is supported");
        }
        if !client.grant_types.iter().any(|g| g == "authorization_code") {
            return fail(
                "unauthorized_client",
                "this client may not use the authorization code flow",
            );
        }
        let requested = scopes(request.scope.as_deref().unwrap_or(""));
        if requested.is_empty() {
            return fail("invalid_scope", "scope is missing");
        }
        if let Some(bad) = requested.iter().find(|s| !client.scopes.contains(s)) {
            return fail(
                "invalid_scope",
                &format!("scope {bad:?} is not allowed for this client"),
            );
        }
        let challenge = match (
            request.code_challenge.as_deref(),
            request.code_challenge_method.as_deref(),
        ) {
            (None, None) => None,
            (None, Some(_)) => return fail("invalid_request", "code_challenge_method without code_challenge"),
            (Some(c), Some("S256")) => Some(c),
            (Some(_), None) => {
                return fail(
                    "invalid_request",
                    "code_challenge_method must be S256 (plain is not supported)",
                );
            }
            (Some(_), Some(_)) => return fail("invalid_request", "code_challenge_method must be S256"),
        };
        if let Some(c) = challenge
            && (c.len() != 43 || !c.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return fail(
                "invalid_request",
                "code_challenge must be a base64url SHA-256 (43 characters)",
            );
        }
        if challenge.is_none() && client.secret_digest.is_none() {
            return fail(
                "invalid_request",
                "a public client must use PKCE (code_challenge with S256)",
            );
        }
        let prompts = scopes(request.prompt.as_deref().unwrap_or(""));
        if let Some(bad) = prompts
            .iter()
            .find(|p| !["none", "login", "consent", "select_account"].contains(&p.as_str()))
        {
            return fail("invalid_request", &format!("prompt {bad:?} is not supported"));
        }
        let prompt_none = prompts.iter().any(|p| p == "none");
        if prompt_none && prompts.len() > 1 {
            return fail("invalid_request", "prompt=none cannot be combined with other values");
        }
        let max_age = match request.max_age.as_deref() {
            None | Some("") => None,
            Some(v) => match v.parse::<u32>() {
                Ok(v) => Some(i64::from(v)),
                Err(_) => return fail("invalid_request", "max_age must be a number of seconds"),
            },
        };
        let auth_after = request.auth_after.as_deref().and_then(|v| v.parse::<i64>().ok());
        let now = self.clock.now();

        // Who is signed in.
        let Some(signed_in) = signed_in else {
            if prompt_none {
                return fail("login_required", "the user is not signed in");
            }
            return Ok(AuthorizeOutcome::SignIn {
                force: false,
                login_hint: request.login_hint.clone(),
                return_to: return_to.to_string(),
            });
        };
        let auth_time = signed_in.auth_time.unix_timestamp();
        let too_old = max_age.is_some_and(|m| now.unix_timestamp() - auth_time > m);
        let wants_login = prompts.iter().any(|p| p == "login");
        let fresh = auth_after.is_some_and(|t| auth_time >= t);
        if !fresh && (wants_login || too_old) {
            if prompt_none {
                return fail("login_required", "the user must sign in again");
            }
            // Come back without prompt=login (or a max_age already past), but require a
            // sign-in from now on.
            let return_to = with_auth_after(return_to, now.unix_timestamp());
            return Ok(AuthorizeOutcome::SignIn {
                force: true,
                login_hint: request.login_hint.clone(),
                return_to,
            });
        }
        if signed_in.user.ensure_may_sign_in_at(now).is_err() {
            return fail("access_denied", "this account may not sign in");
        }
        if !client.first_party {
            match consent {
                Some(true) => {
                    self.remember_oidc_consent(signed_in.user.id, &client, &requested)
                        .await?
                }
                Some(false) => return fail("access_denied", "the user did not allow access"),
                // A remembered consent covers scopes allowed before, unless prompt=consent.
                None if !prompts.iter().any(|p| p == "consent")
                    && self
                        .oidc_consent_covers(signed_in.user.id, &client.client_id, &requested)
                        .await? => {}
                None if prompt_none => {
                    return fail("consent_required", "the user must approve this client");
                }
                None => {
                    return Ok(AuthorizeOutcome::Consent {
                        client_id: client.client_id.clone(),
                        client_name: client.name.clone().unwrap_or_else(|| client.client_id.clone()),
                        scopes: requested,
                    });
                }
            }
        }

        // Issue the code. With offline_access (and refresh tokens), the grant lives in a
        // session of its own and outlives the browser session's sign-out.
        let code = random_secret();
        let offline = has_scope(&requested.join(" "), "offline_access")
            && client.grant_types.iter().any(|g| g == "refresh_token");
        let grant = OidcGrant {
            id: self.next_id(),
            client_id: client.client_id.clone(),
            user_id: signed_in.user.id,
            session_id: if offline {
                SessionId(self.next_id())
            } else {
                signed_in.session_id
            },
            sid: signed_in.session_id,
            offline,
            scope: requested.join(" "),
            auth_time: signed_in.auth_time,
            amr: signed_in.amr.clone(),
            created_at: now,
            expires_at: now + Duration::seconds(client.refresh_token_ttl),
        };
        let stored = OidcCode {
            grant_id: grant.id,
            redirect_uri: redirect_uri.to_string(),
            nonce: request.nonce.clone(),
            code_challenge: challenge.map(str::to_string),
            created_at: now,
            expires_at: now + CODE_TTL,
        };
        let journal = self
            .journal(Some(signed_in.user.id))
            .audit(
                action::AUTHORIZE,
                Some(signed_in.user.id),
                json!({ "client_id": client.client_id, "scope": grant.scope }),
            )
            .build();
        self.store
            .insert_oidc_grant(&grant, &digest(&code), &stored, &journal)
            .await
            .map_err(|e| match e {
                // The browser session ended meanwhile.
                StoreError::NotFound => Error::InvalidToken,
                e => e.into(),
            })?;
        let mut params = vec![("code", code.as_str())];
        if let Some(state) = state {
            params.push(("state", state));
        }
        params.push(("iss", self.oidc_issuer()));
        Ok(AuthorizeOutcome::Redirect(with_query(redirect_uri, &params)))
    }
}
