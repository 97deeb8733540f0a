//! Access tokens read back: userinfo, revocation (RFC 7009) and introspection (RFC 7662).

use super::*;

impl Core {
    /// Ends a grant (and every token it issued).
    pub(super) async fn end_oidc_grant(&self, grant_id: i64, reason: &str) -> Result<()> {
        let journal = self
            .journal(None)
            .audit(
                action::GRANT_REVOKED,
                None,
                json!({ "grant_id": grant_id.to_string(), "reason": reason }),
            )
            .build();
        self.store.delete_oidc_grant(grant_id, &journal).await?;
        Ok(())
    }

    /// Reads an access token Roster issued: signature, issuer, expiry, and (for a user's
    /// token) a live grant and an account that may sign in.
    async fn read_access_token(&self, token: &str) -> Result<(AccessTokenClaims, Option<(OidcGrant, User)>)> {
        let claims = self.verified_access_claims(token).await?;
        let Some(gid) = claims.grant_id()? else {
            return Ok((claims, None));
        };
        let (grant, user) = self.store.get_oidc_grant(gid).await.map_err(|e| match e {
            StoreError::NotFound => Error::InvalidToken,
            e => e.into(),
        })?;
        grant_backs(&claims, &grant, &user, self.clock.now())?;
        Ok((claims, Some((grant, user))))
    }

    /// Checks an access token Roster issued: signature, issuer, expiry and type. A token
    /// cannot change, so its signature check is remembered (by its SHA-256, a bounded
    /// number of them); expiry is compared on every call. Says nothing about revocation:
    /// the callers read the grant and the user on every request.
    async fn verified_access_claims(&self, token: &str) -> Result<AccessTokenClaims> {
        let now = self.clock.now();
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.oidc.verified.get(&key) {
            if claims.exp <= now.unix_timestamp() {
                return Err(Error::InvalidToken);
            }
            return Ok(claims);
        }
        let mut keys = self.oidc_keys().await?;
        if keys.should_reload_for(token) {
            // One reload for many such requests: whoever waited finds the fresh copy.
            let _turn = self.oidc.load.lock().await;
            keys = self.cached_oidc_keys().unwrap_or(keys);
            if keys.should_reload_for(token) {
                keys = self.reload_oidc_keys().await?;
            }
        }
        let claims: AccessTokenClaims = keys.verify(token, self.oidc_issuer(), now)?;
        if claims.token_use.as_deref() != Some("access") {
            return Err(Error::InvalidToken);
        }
        self.oidc.verified.insert(key, claims.clone());
        Ok(claims)
    }

    /// The userinfo endpoint: the profile claims of the token's scope, with `sub`. One read
    /// per request (grant, user, client claim names and groups together), so a grant that
    /// ended or an account that may no longer sign in is refused at once.
    pub async fn oidc_userinfo(&self, access_token: &str) -> Result<Value> {
        let claims = self.verified_access_claims(access_token).await?;
        if !has_scope(&claims.scope, "openid") {
            return Err(Error::InvalidToken);
        }
        let gid = claims.grant_id()?.ok_or(Error::InvalidToken)?;
        let found = self.store.get_oidc_grant_profile(gid).await.map_err(|e| match e {
            StoreError::NotFound => Error::InvalidToken,
            e => e.into(),
        })?;
        grant_backs(&claims, &found.grant, &found.user, self.clock.now())?;
        // Issued for this client: its audience (or its client id when it has none).
        let audience = found.audience.as_deref().unwrap_or(&found.grant.client_id);
        if !audience_names(&claims.aud, audience) {
            return Err(Error::InvalidToken);
        }
        let mut out = Map::new();
        out.insert("sub".into(), json!(found.user.id.to_string()));
        out.extend(self.profile_claims(
            &found.roles_claim,
            &found.groups_claim,
            &found.user,
            &claims.scope,
            found.groups,
        ));
        Ok(Value::Object(out))
    }

    /// Revocation (RFC 7009): a refresh or access token of the calling client ends its
    /// grant. Unknown tokens and other clients' tokens are ignored (the answer is the same).
    pub async fn oidc_revoke(&self, auth: &ClientAuth, token: Option<&str>) -> Result<(), OAuthError> {
        let client = self.oidc_authenticate_client(auth, false).await?;
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let grant_id = match self.store.get_oidc_refresh_token(&digest(token)).await? {
            Some((id, _)) => Some(id),
            None => match self.read_access_token(token).await {
                Ok((claims, Some((grant, _)))) if claims.client_id == client.client_id => Some(grant.id),
                _ => None,
            },
        };
        if let Some(grant_id) = grant_id
            && let Ok((grant, _)) = self.store.get_oidc_grant(grant_id).await
            && grant.client_id == client.client_id
        {
            self.end_oidc_grant(grant_id, "revoked_by_client").await?;
        }
        Ok(())
    }

    /// Introspection (RFC 7662), for confidential clients.
    pub async fn oidc_introspect(&self, auth: &ClientAuth, token: Option<&str>) -> Result<Value, OAuthError> {
        self.oidc_authenticate_client(auth, true).await?;
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let inactive = json!({ "active": false });
        if let Some((grant_id, used)) = self.store.get_oidc_refresh_token(&digest(token)).await? {
            let now = self.clock.now();
            return Ok(match self.store.get_oidc_grant(grant_id).await {
                Ok((grant, user)) if !used && grant.expires_at > now && user.ensure_may_sign_in_at(now).is_ok() => {
                    json!({
                        "active": true,
                        "token_type": "refresh_token",
                        "client_id": grant.client_id,
                        "sub": user.id.to_string(),
                        "scope": grant.scope,
                        "exp": grant.expires_at.unix_timestamp(),
                        "iss": self.oidc_issuer(),
                    })
                }
                _ => inactive,
            });
        }
        Ok(match self.read_access_token(token).await {
            Ok((claims, found)) => {
                let mut out = json!({
                    "active": true,
                    "token_type": "Bearer",
                    "client_id": claims.client_id,
                    "sub": claims.sub,
                    "scope": claims.scope,
                    "exp": claims.exp,
                    "iat": claims.iat,
                    "aud": claims.aud,
                    "iss": self.oidc_issuer(),
                });
                if let Some((_, user)) = found
                    && let Some(name) = user.username.clone().or(user.email.clone())
                {
                    out["username"] = json!(name);
                }
                out
            }
            Err(Error::InvalidToken) => inactive,
            Err(e) => return Err(e.into()),
        })
    }
}
