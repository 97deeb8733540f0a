//! The token endpoint: the client authenticated, then a code, a refresh token or the client's
//! credentials exchanged for tokens, with the profile claims of their scope.

use super::*;
use crate::service::oidc::clients::secret_matches;
use crate::store::{CodeRedemption, OidcClient, RefreshRotation};

impl Core {
    /// Authenticates the client of a token, revocation or introspection request.
    /// `require_confidential`: a public client (no secret) is refused.
    pub async fn oidc_authenticate_client(
        &self,
        auth: &ClientAuth,
        require_confidential: bool,
    ) -> Result<OidcClient, OAuthError> {
        let (id, secret) = match (&auth.basic, &auth.client_id, &auth.client_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method (Basic or client_secret), not both",
                ));
            }
            (Some((id, _)), Some(body_id), None) if body_id != id => {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            (Some((id, secret)), _, None) => (id.clone(), Some(secret.clone())),
            (None, Some(id), secret) => (id.clone(), secret.clone()),
            (None, None, _) => {
                return Err(OAuthError::invalid_client("client authentication is missing"));
            }
        };
        let client = match self.store.get_oidc_client(&id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => {
                let _ = digest(secret.as_deref().unwrap_or(""));
                return Err(OAuthError::invalid_client("unknown client or wrong secret"));
            }
            Err(e) => return Err(e.into()),
        };
        match (&client.secret_digest, secret) {
            (Some(_), Some(s)) if secret_matches(&client, &s) => Ok(client),
            (Some(_), _) => Err(OAuthError::invalid_client("unknown client or wrong secret")),
            (None, Some(_)) => Err(OAuthError::invalid_client("a public client has no secret")),
            (None, None) if require_confidential => Err(OAuthError::invalid_client(
                "this endpoint needs a confidential client's credentials",
            )),
            (None, None) => Ok(client),
        }
    }

    /// The token endpoint.
    pub async fn oidc_token(&self, request: &TokenRequest, auth: &ClientAuth) -> Result<TokenResponse, OAuthError> {
        let grant_type = request
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
        if !crate::service::oidc::SUPPORTED_GRANT_TYPES.contains(&grant_type) {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type {grant_type:?} is not supported"),
            ));
        }
        let client = self.oidc_authenticate_client(auth, false).await?;
        if !client.grant_types.iter().any(|g| g == grant_type) {
            return Err(OAuthError::unauthorized_client(format!(
                "this client may not use the {grant_type} grant"
            )));
        }
        match grant_type {
            "authorization_code" => {
                let outcome = self.exchange_code(&client, request).await;
                let label = match &outcome {
                    Ok(_) => "success",
                    Err(e) if e.error == "invalid_grant" => "invalid_credentials",
                    Err(e) if e.error == "server_error" => "error",
                    Err(_) => "refused",
                };
                crate::telemetry::login(crate::telemetry::LoginMethod::Oidc, label);
                outcome
            }
            "refresh_token" => self.exchange_refresh_token(&client, request).await,
            _ => self.client_credentials(&client, request).await,
        }
    }

    async fn exchange_code(&self, client: &OidcClient, request: &TokenRequest) -> Result<TokenResponse, OAuthError> {
        let code = request
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
        let now = self.clock.now();
        let (stored, grant, user) = match self.store.redeem_oidc_code(&digest(code), now).await? {
            CodeRedemption::Unknown => return Err(OAuthError::invalid_grant("the code is invalid or expired")),
            CodeRedemption::Replayed { grant_id } => {
                // A replayed code has leaked: end what it issued.
                self.end_oidc_grant(grant_id, "code_replayed").await?;
                return Err(OAuthError::invalid_grant("the code was already used"));
            }
            CodeRedemption::Redeemed(found) => *found,
        };
        if grant.client_id != client.client_id {
            return Err(OAuthError::invalid_grant("the code was issued to another client"));
        }
        if stored.expires_at <= now {
            return Err(OAuthError::invalid_grant("the code is invalid or expired"));
        }
        if stored.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        match (&stored.code_challenge, request.code_verifier.as_deref()) {
            (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => {}
            (Some(_), Some(_)) => return Err(OAuthError::invalid_grant("code_verifier does not match")),
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier given, but the authorization request had no code_challenge",
                ));
            }
            (None, None) => {}
        }
        if user.ensure_may_sign_in_at(now).is_err() {
            self.end_oidc_grant(grant.id, "account_may_not_sign_in").await?;
            return Err(OAuthError::invalid_grant("this account may not sign in"));
        }
        self.issue_tokens(
            client,
            &grant,
            &user,
            &grant.scope,
            stored.nonce.as_deref(),
            "authorization_code",
        )
        .await
    }

    async fn exchange_refresh_token(
        &self,
        client: &OidcClient,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let token = request
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let old = digest(token);
        let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
        // The token must be this client's before anything changes.
        let Some((grant_id, _)) = self.store.get_oidc_refresh_token(&old).await? else {
            return Err(invalid());
        };
        let (grant, _) = match self.store.get_oidc_grant(grant_id).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(invalid()),
            Err(e) => return Err(e.into()),
        };
        if grant.client_id != client.client_id {
            return Err(invalid());
        }
        let now = self.clock.now();
        if grant.expires_at <= now {
            self.end_oidc_grant(grant.id, "expired").await?;
            return Err(invalid());
        }
        let scope = match request.scope.as_deref().filter(|s| !s.trim().is_empty()) {
            None => grant.scope.clone(),
            Some(asked) => {
                let asked = scopes(asked);
                if let Some(bad) = asked.iter().find(|s| !has_scope(&grant.scope, s)) {
                    return Err(OAuthError::invalid_scope(format!("scope {bad:?} was not granted")));
                }
                asked.join(" ")
            }
        };
        let next = random_secret();
        let (grant, user) = match self.store.rotate_oidc_refresh_token(&old, &digest(&next), now).await? {
            RefreshRotation::Unknown => return Err(invalid()),
            RefreshRotation::Reused { grant_id } => {
                tracing::warn!(grant = grant_id, client = %client.client_id, "oidc refresh token reused; grant revoked");
                self.end_oidc_grant(grant_id, "refresh_token_reused").await?;
                return Err(invalid());
            }
            RefreshRotation::Rotated(found) => *found,
        };
        if user.ensure_may_sign_in_at(now).is_err() {
            self.end_oidc_grant(grant.id, "account_may_not_sign_in").await?;
            return Err(OAuthError::invalid_grant("this account may not sign in"));
        }
        let mut response = self
            .issue_tokens_inner(client, &grant, &user, &scope, None, "refresh_token", false)
            .await?;
        response.refresh_token = Some(next);
        Ok(response)
    }

    async fn client_credentials(
        &self,
        client: &OidcClient,
        request: &TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        if client.secret_digest.is_none() {
            return Err(OAuthError::unauthorized_client(
                "client_credentials needs a confidential client",
            ));
        }
        let asked = scopes(request.scope.as_deref().unwrap_or(""));
        if let Some(bad) = asked
            .iter()
            .find(|s| ["openid", "offline_access"].contains(&s.as_str()) || !client.scopes.contains(s))
        {
            return Err(OAuthError::invalid_scope(format!(
                "scope {bad:?} is not allowed for client_credentials"
            )));
        }
        let scope = asked.join(" ");
        let now = self.clock.now();
        let claims = json!({
            "iss": self.oidc_issuer(),
            "sub": client.client_id,
            "aud": client.audience.clone().unwrap_or_else(|| client.client_id.clone()),
            "exp": (now + Duration::seconds(client.access_token_ttl)).unix_timestamp(),
            "iat": now.unix_timestamp(),
            "jti": random_secret(),
            "client_id": client.client_id,
            "scope": scope,
            "token_use": "access",
        });
        let keys = self.oidc_keys().await?;
        let access_token = keys.sign(&client.signing_alg, Some("at+jwt"), &claims)?;
        let journal = self
            .journal(None)
            .audit(
                action::TOKEN,
                None,
                json!({ "client_id": client.client_id, "grant_type": "client_credentials" }),
            )
            .build();
        self.store.append_journal(&journal).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: client.access_token_ttl,
            scope,
            id_token: None,
            refresh_token: None,
        })
    }

    async fn issue_tokens(
        &self,
        client: &OidcClient,
        grant: &OidcGrant,
        user: &User,
        scope: &str,
        nonce: Option<&str>,
        grant_type: &str,
    ) -> Result<TokenResponse, OAuthError> {
        self.issue_tokens_inner(client, grant, user, scope, nonce, grant_type, true)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn issue_tokens_inner(
        &self,
        client: &OidcClient,
        grant: &OidcGrant,
        user: &User,
        scope: &str,
        nonce: Option<&str>,
        grant_type: &str,
        new_refresh_token: bool,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let profile = self.oidc_profile_claims(client, user, scope).await?;
        let keys = self.oidc_keys().await?;
        let sid = grant.sid.to_string();
        let mut access = Map::new();
        access.insert("iss".into(), json!(self.oidc_issuer()));
        access.insert("sub".into(), json!(user.id.to_string()));
        access.insert(
            "aud".into(),
            json!(client.audience.clone().unwrap_or_else(|| client.client_id.clone())),
        );
        access.insert(
            "exp".into(),
            json!((now + Duration::seconds(client.access_token_ttl)).unix_timestamp()),
        );
        access.insert("iat".into(), json!(now.unix_timestamp()));
        access.insert("auth_time".into(), json!(grant.auth_time.unix_timestamp()));
        access.insert("jti".into(), json!(random_secret()));
        access.insert("client_id".into(), json!(client.client_id));
        access.insert("azp".into(), json!(client.client_id));
        access.insert("scope".into(), json!(scope));
        access.insert("sid".into(), json!(sid));
        access.insert("gid".into(), json!(grant.id.to_string()));
        access.insert("token_use".into(), json!("access"));
        for (k, v) in &profile {
            access.insert(k.clone(), v.clone());
        }
        let access_token = keys.sign(&client.signing_alg, Some("at+jwt"), &Value::Object(access))?;
        let id_token = if has_scope(scope, "openid") {
            let mut id = Map::new();
            id.insert("iss".into(), json!(self.oidc_issuer()));
            id.insert("sub".into(), json!(user.id.to_string()));
            id.insert("aud".into(), json!(client.client_id));
            id.insert(
                "exp".into(),
                json!((now + Duration::seconds(client.id_token_ttl)).unix_timestamp()),
            );
            id.insert("iat".into(), json!(now.unix_timestamp()));
            id.insert("auth_time".into(), json!(grant.auth_time.unix_timestamp()));
            if let Some(nonce) = nonce {
                id.insert("nonce".into(), json!(nonce));
            }
            id.insert("azp".into(), json!(client.client_id));
            id.insert("sid".into(), json!(sid));
            if !grant.amr.is_empty() {
                id.insert("amr".into(), json!(grant.amr));
            }
            for (k, v) in profile {
                id.insert(k, v);
            }
            Some(keys.sign(&client.signing_alg, Some("JWT"), &Value::Object(id))?)
        } else {
            None
        };
        let refresh_token = if new_refresh_token && client.grant_types.iter().any(|g| g == "refresh_token") {
            let token = random_secret();
            match self
                .store
                .insert_oidc_refresh_token(grant.id, &digest(&token), now)
                .await
            {
                Ok(()) => Some(token),
                Err(StoreError::NotFound) => {
                    return Err(OAuthError::invalid_grant("the grant was revoked"));
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let journal = self
            .journal(Some(user.id))
            .audit(
                action::TOKEN,
                Some(user.id),
                json!({ "client_id": client.client_id, "grant_type": grant_type }),
            )
            .build();
        self.store.append_journal(&journal).await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: client.access_token_ttl,
            scope: scope.to_string(),
            id_token,
            refresh_token,
        })
    }

    /// The profile claims `scope` allows: `email`, `email_verified` (true only when Roster
    /// verified the address), `name`, `preferred_username`, `picture`, the role and the group
    /// names (under the client's claim names).
    async fn oidc_profile_claims(&self, client: &OidcClient, user: &User, scope: &str) -> Result<Map<String, Value>> {
        let groups: Vec<String> = if has_scope(scope, "profile") || has_scope(scope, "groups") {
            self.store
                .list_groups_of_user(user.id)
                .await?
                .into_iter()
                .map(|g| g.name)
                .collect()
        } else {
            Vec::new()
        };
        Ok(self.profile_claims(&client.roles_claim, &client.groups_claim, user, scope, groups))
    }

    /// [`Self::oidc_profile_claims`] with the user's group names at hand.
    pub(super) fn profile_claims(
        &self,
        roles_claim: &str,
        groups_claim: &str,
        user: &User,
        scope: &str,
        groups: Vec<String>,
    ) -> Map<String, Value> {
        let mut claims = Map::new();
        if has_scope(scope, "email")
            && let Some(email) = &user.email
        {
            claims.insert("email".into(), json!(email));
            claims.insert("email_verified".into(), json!(user.email_verified));
        }
        let profile = has_scope(scope, "profile");
        if profile {
            let name = user
                .name
                .clone()
                .or_else(|| user.username.clone())
                .or_else(|| user.email.clone());
            if let Some(name) = name {
                claims.insert("name".into(), json!(name));
            }
            let username = user.username.clone().or_else(|| user.email.clone());
            if let Some(username) = username {
                claims.insert("preferred_username".into(), json!(username));
            }
            if let Some(picture) = user.avatar.as_deref().and_then(|a| self.absolute_url(a)) {
                claims.insert("picture".into(), json!(picture));
            }
        }
        if profile || has_scope(scope, "roles") {
            claims.insert(roles_claim.to_string(), json!([user.role.as_str()]));
        }
        if profile || has_scope(scope, "groups") {
            claims.insert(groups_claim.to_string(), json!(groups));
        }
        claims
    }

    fn absolute_url(&self, path: &str) -> Option<String> {
        if path.starts_with("https://") || path.starts_with("http://") {
            Some(path.to_string())
        } else if path.starts_with('/') {
            Some(format!("{}{path}", self.oidc_base()))
        } else {
            None
        }
    }
}
