//! The kinds `roster apply` manages: the permission template, groups, webhook subscriptions,
//! OpenID Connect clients and SCIM targets. Each is one [`Kind`] over the core's services.

use super::{Kind, Origin, differing, read_secret, set_of};
use crate::admin::explain;
use roster_core::service::oidc::{ClientChanges, ClientView, NewClient};
use roster_core::service::{
    DEFAULT_TEMPLATE, GroupChanges, GroupWithMembers, NewGroup, NewScimTarget, NewSubscription, check_group,
};
use roster_core::store::ScimTarget;
use roster_core::webhooks::Subscription;
use roster_core::{Core, UserId};
use serde::Deserialize;
use serde_json::{Value, json};

/// `permission_templates`: what every user may do (`default`, the one template), completed
/// from the built-in defaults. "Removing" it stores an empty template: the built-in
/// defaults apply.
pub struct Templates;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    name: String,
    permissions: Value,
}

impl Kind for Templates {
    const SECTION: &'static str = "permission_templates";
    type Spec = TemplateSpec;
    type Desired = (String, Value);
    type Live = (String, Value);

    fn key(spec: &TemplateSpec) -> String {
        spec.name.clone()
    }

    async fn desired(_core: &Core, spec: TemplateSpec, _: &Origin) -> anyhow::Result<(String, Value)> {
        if spec.name != DEFAULT_TEMPLATE {
            anyhow::bail!("name: the one permission template is {DEFAULT_TEMPLATE:?}");
        }
        let permissions = roster_core::service::validate_permissions(spec.permissions)?;
        Ok((spec.name, permissions))
    }

    async fn live(core: &Core) -> anyhow::Result<Vec<(String, (String, Value))>> {
        let stored = core
            .permission_template(core.operator(), DEFAULT_TEMPLATE, &json!({}))
            .await
            .map_err(explain)?;
        // An empty template is the built-in defaults: nothing an operator made.
        Ok(if stored == json!({}) {
            Vec::new()
        } else {
            vec![(DEFAULT_TEMPLATE.to_string(), (DEFAULT_TEMPLATE.to_string(), stored))]
        })
    }

    async fn changes(_: &Core, desired: &(String, Value), live: &(String, Value)) -> anyhow::Result<Vec<&'static str>> {
        Ok(differing(&[("permissions", desired.1 == live.1)]))
    }

    async fn create(core: &Core, desired: (String, Value)) -> anyhow::Result<Option<String>> {
        core.set_permission_template(core.operator(), &desired.0, desired.1)
            .await
            .map_err(explain)?;
        Ok(None)
    }

    async fn update(
        core: &Core,
        desired: (String, Value),
        _: (String, Value),
        _: &[&'static str],
    ) -> anyhow::Result<()> {
        Templates::create(core, desired).await.map(|_| ())
    }

    async fn delete(core: &Core, live: (String, Value)) -> anyhow::Result<()> {
        core.set_permission_template(core.operator(), &live.0, json!({}))
            .await
            .map_err(explain)?;
        Ok(())
    }
}

/// `groups`: named sets of users granting permissions. `members` (emails or usernames),
/// when given, is the exact list; left out, the members are left as they are.
pub struct Groups;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Option<Value>,
    #[serde(default)]
    members: Option<Vec<String>>,
}

pub struct DesiredGroup {
    group: NewGroup,
    members: Option<Vec<UserId>>,
}

impl Kind for Groups {
    const SECTION: &'static str = "groups";
    type Spec = GroupSpec;
    type Desired = DesiredGroup;
    type Live = GroupWithMembers;

    fn key(spec: &GroupSpec) -> String {
        spec.name.clone()
    }

    async fn desired(core: &Core, spec: GroupSpec, _: &Origin) -> anyhow::Result<DesiredGroup> {
        let mut group = NewGroup {
            name: spec.name,
            description: Some(spec.description),
            permissions: spec.permissions,
        };
        group.permissions = Some(check_group(&group)?);
        let members = match spec.members {
            None => None,
            Some(logins) => {
                let mut ids = Vec::new();
                for (index, login) in logins.iter().enumerate() {
                    let user = crate::admin::find_user(core, login)
                        .await
                        .map_err(|e| anyhow::anyhow!("members[{index}]: {e}"))?;
                    if !ids.contains(&user.id) {
                        ids.push(user.id);
                    }
                }
                Some(ids)
            }
        };
        Ok(DesiredGroup { group, members })
    }

    async fn live(core: &Core) -> anyhow::Result<Vec<(String, GroupWithMembers)>> {
        let groups = core.list_groups_with_members(core.operator()).await.map_err(explain)?;
        Ok(groups.into_iter().map(|g| (g.group.name.clone(), g)).collect())
    }

    async fn changes(_: &Core, desired: &DesiredGroup, live: &GroupWithMembers) -> anyhow::Result<Vec<&'static str>> {
        let members_same = match (&desired.members, &live.members) {
            (None, _) => true,
            (Some(wanted), Some(now)) => set_of(wanted) == set_of(now),
            (Some(wanted), None) => wanted.is_empty(),
        };
        Ok(differing(&[
            (
                "description",
                desired.group.description.as_deref() == Some(live.group.description.as_str()),
            ),
            (
                "permissions",
                desired.group.permissions.as_ref() == Some(&live.group.permissions),
            ),
            ("members", members_same),
        ]))
    }

    async fn create(core: &Core, desired: DesiredGroup) -> anyhow::Result<Option<String>> {
        let members = desired.members.unwrap_or_default();
        core.create_group_with_members(core.operator(), desired.group, &members)
            .await
            .map_err(explain)?;
        Ok(None)
    }

    async fn update(
        core: &Core,
        desired: DesiredGroup,
        live: GroupWithMembers,
        _: &[&'static str],
    ) -> anyhow::Result<()> {
        let changes = GroupChanges {
            name: None,
            description: desired.group.description,
            permissions: desired.group.permissions,
        };
        core.update_group_with_members(core.operator(), live.group.id, changes, desired.members.as_deref())
            .await
            .map_err(explain)?;
        Ok(())
    }

    async fn delete(core: &Core, live: GroupWithMembers) -> anyhow::Result<()> {
        core.delete_group(core.operator(), live.group.id).await.map_err(explain)
    }
}

/// `webhooks`: subscriptions, named by their URL. `secret` (`env:`, `file:` or the secret),
/// when given, is the signing secret; left out, a new subscription gets a generated one
/// (printed once) and an existing one keeps its own.
pub struct Webhooks;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    required_for_deletion: bool,
    #[serde(default)]
    description: Option<String>,
}

impl Kind for Webhooks {
    const SECTION: &'static str = "webhooks";
    type Spec = WebhookSpec;
    type Desired = NewSubscription;
    type Live = Subscription;

    fn key(spec: &WebhookSpec) -> String {
        spec.url.trim().to_string()
    }

    async fn desired(core: &Core, spec: WebhookSpec, origin: &Origin) -> anyhow::Result<NewSubscription> {
        let secret = spec
            .secret
            .as_deref()
            .map(|raw| read_secret(raw, origin).map_err(|e| anyhow::anyhow!("secret: {e}")))
            .transpose()?;
        let mut input = NewSubscription {
            url: spec.url,
            event_types: spec.events,
            secret,
            required_for_deletion: spec.required_for_deletion,
            description: spec.description,
        };
        let checked = core.check_subscription(&input)?;
        input.url = checked.url;
        input.event_types = checked.event_types;
        input.description = checked.description;
        Ok(input)
    }

    async fn live(core: &Core) -> anyhow::Result<Vec<(String, Subscription)>> {
        let subscriptions = core.list_subscriptions(core.operator()).await.map_err(explain)?;
        Ok(subscriptions.into_iter().map(|s| (s.url.clone(), s)).collect())
    }

    async fn changes(core: &Core, desired: &NewSubscription, live: &Subscription) -> anyhow::Result<Vec<&'static str>> {
        let secret_same = match &desired.secret {
            None => true,
            Some(secret) => core
                .subscription_secret_is(core.operator(), live.id, secret)
                .await
                .map_err(explain)?,
        };
        Ok(differing(&[
            ("events", set_of(&desired.event_types) == set_of(&live.event_types)),
            (
                "required_for_deletion",
                desired.required_for_deletion == live.required_for_deletion,
            ),
            ("description", desired.description == live.description),
            ("secret", secret_same),
        ]))
    }

    async fn create(core: &Core, desired: NewSubscription) -> anyhow::Result<Option<String>> {
        let generated = desired.secret.is_none();
        let created = core
            .create_subscription(core.operator(), desired)
            .await
            .map_err(explain)?;
        Ok(generated.then(|| {
            format!(
                "Webhook {} ({}): signing secret (shown once): {}",
                created.subscription.id, created.subscription.url, created.secret
            )
        }))
    }

    async fn update(
        core: &Core,
        mut desired: NewSubscription,
        live: Subscription,
        fields: &[&'static str],
    ) -> anyhow::Result<()> {
        if !fields.contains(&"secret") {
            desired.secret = None;
        }
        core.update_subscription(core.operator(), live.id, desired)
            .await
            .map_err(explain)?;
        Ok(())
    }

    async fn delete(core: &Core, live: Subscription) -> anyhow::Result<()> {
        core.delete_subscription(core.operator(), live.id)
            .await
            .map_err(explain)
    }
}

/// `clients`: OpenID Connect relying parties, named by `client_id`. Settings left out take
/// their defaults (as on `roster clients add`). `secret` as for webhooks; a client's type
/// (`public`) cannot change.
pub struct Clients;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    client_id: String,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    first_party: bool,
    #[serde(default)]
    backchannel_logout_uri: Option<String>,
    #[serde(default)]
    signing_alg: Option<String>,
    #[serde(default)]
    access_token_ttl: Option<i64>,
    #[serde(default)]
    id_token_ttl: Option<i64>,
    #[serde(default)]
    refresh_token_ttl: Option<i64>,
    #[serde(default)]
    roles_claim: Option<String>,
    #[serde(default)]
    groups_claim: Option<String>,
}

pub struct DesiredClient {
    /// As it would be shown once made (defaults filled in).
    view: ClientView,
    secret: Option<String>,
}

impl DesiredClient {
    /// Every setting, as the core takes them.
    fn settings(&self) -> ClientChanges {
        let v = &self.view;
        ClientChanges {
            name: Some(v.name.clone()),
            redirect_uris: Some(v.redirect_uris.clone()),
            post_logout_redirect_uris: Some(v.post_logout_redirect_uris.clone()),
            scopes: Some(v.scopes.clone()),
            grant_types: Some(v.grant_types.clone()),
            audience: Some(v.audience.clone()),
            first_party: Some(v.first_party),
            backchannel_logout_uri: Some(v.backchannel_logout_uri.clone()),
            signing_alg: Some(v.signing_alg.clone()),
            access_token_ttl: Some(v.access_token_ttl),
            id_token_ttl: Some(v.id_token_ttl),
            refresh_token_ttl: Some(v.refresh_token_ttl),
            roles_claim: Some(v.roles_claim.clone()),
            groups_claim: Some(v.groups_claim.clone()),
        }
    }
}

impl Kind for Clients {
    const SECTION: &'static str = "clients";
    type Spec = ClientSpec;
    type Desired = DesiredClient;
    type Live = ClientView;

    fn key(spec: &ClientSpec) -> String {
        spec.client_id.clone()
    }

    async fn desired(core: &Core, spec: ClientSpec, origin: &Origin) -> anyhow::Result<DesiredClient> {
        let secret = spec
            .secret
            .as_deref()
            .map(|raw| read_secret(raw, origin).map_err(|e| anyhow::anyhow!("secret: {e}")))
            .transpose()?;
        let settings = ClientChanges {
            name: Some(spec.name.filter(|n| !n.is_empty())),
            redirect_uris: Some(spec.redirect_uris),
            post_logout_redirect_uris: Some(spec.post_logout_redirect_uris),
            scopes: spec.scopes,
            grant_types: spec.grant_types,
            audience: Some(spec.audience.filter(|a| !a.is_empty())),
            first_party: Some(spec.first_party),
            backchannel_logout_uri: Some(spec.backchannel_logout_uri.filter(|u| !u.is_empty())),
            signing_alg: spec.signing_alg,
            access_token_ttl: spec.access_token_ttl,
            id_token_ttl: spec.id_token_ttl,
            refresh_token_ttl: spec.refresh_token_ttl,
            roles_claim: spec.roles_claim,
            groups_claim: spec.groups_claim,
        };
        let view = core.check_oidc_client(NewClient {
            client_id: spec.client_id,
            public: spec.public,
            secret: secret.clone(),
            settings,
        })?;
        Ok(DesiredClient { view, secret })
    }

    async fn live(core: &Core) -> anyhow::Result<Vec<(String, ClientView)>> {
        let clients = core.list_oidc_clients(core.operator()).await.map_err(explain)?;
        Ok(clients.into_iter().map(|c| (c.client_id.clone(), c)).collect())
    }

    async fn changes(core: &Core, desired: &DesiredClient, live: &ClientView) -> anyhow::Result<Vec<&'static str>> {
        let d = &desired.view;
        if d.confidential != live.confidential {
            anyhow::bail!(
                "public: the client exists as a {} client, and a client's type cannot change (remove it first)",
                if live.confidential { "confidential" } else { "public" }
            );
        }
        let secret_same = match &desired.secret {
            None => true,
            Some(secret) => core
                .oidc_client_secret_is(core.operator(), &live.client_id, secret)
                .await
                .map_err(explain)?,
        };
        Ok(differing(&[
            ("name", d.name == live.name),
            ("redirect_uris", d.redirect_uris == live.redirect_uris),
            (
                "post_logout_redirect_uris",
                d.post_logout_redirect_uris == live.post_logout_redirect_uris,
            ),
            ("scopes", set_of(&d.scopes) == set_of(&live.scopes)),
            ("grant_types", set_of(&d.grant_types) == set_of(&live.grant_types)),
            ("audience", d.audience == live.audience),
            ("first_party", d.first_party == live.first_party),
            (
                "backchannel_logout_uri",
                d.backchannel_logout_uri == live.backchannel_logout_uri,
            ),
            ("signing_alg", d.signing_alg == live.signing_alg),
            ("access_token_ttl", d.access_token_ttl == live.access_token_ttl),
            ("id_token_ttl", d.id_token_ttl == live.id_token_ttl),
            ("refresh_token_ttl", d.refresh_token_ttl == live.refresh_token_ttl),
            ("roles_claim", d.roles_claim == live.roles_claim),
            ("groups_claim", d.groups_claim == live.groups_claim),
            ("secret", secret_same),
        ]))
    }

    async fn create(core: &Core, desired: DesiredClient) -> anyhow::Result<Option<String>> {
        let settings = desired.settings();
        let created = core
            .create_oidc_client(
                core.operator(),
                NewClient {
                    client_id: desired.view.client_id.clone(),
                    public: !desired.view.confidential,
                    secret: desired.secret,
                    settings,
                },
            )
            .await
            .map_err(explain)?;
        Ok(created
            .secret
            .map(|secret| format!("Client {}: secret (shown once): {secret}", created.client.client_id)))
    }

    async fn update(
        core: &Core,
        desired: DesiredClient,
        live: ClientView,
        fields: &[&'static str],
    ) -> anyhow::Result<()> {
        if fields.iter().any(|f| *f != "secret") {
            core.update_oidc_client(core.operator(), &live.client_id, desired.settings())
                .await
                .map_err(explain)?;
        }
        if fields.contains(&"secret") {
            core.rotate_oidc_client_secret(core.operator(), &live.client_id, desired.secret)
                .await
                .map_err(explain)?;
        }
        Ok(())
    }

    async fn delete(core: &Core, live: ClientView) -> anyhow::Result<()> {
        core.delete_oidc_client(core.operator(), &live.client_id)
            .await
            .map_err(explain)
    }
}

/// `scim_targets`: where users (and groups) are pushed over SCIM, named by `name`. `token` as a
/// webhook's `secret` (`env:`, `file:` or the value); a change to it is found by digest, never
/// shown. An update keeps the target's delivery log and outbox position.
pub struct ScimTargets;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimTargetSpec {
    name: String,
    url: String,
    token: String,
    #[serde(default)]
    groups: bool,
    #[serde(default)]
    deactivate_on_delete: bool,
}

impl Kind for ScimTargets {
    const SECTION: &'static str = "scim_targets";
    type Spec = ScimTargetSpec;
    type Desired = NewScimTarget;
    type Live = ScimTarget;

    fn key(spec: &ScimTargetSpec) -> String {
        spec.name.trim().to_string()
    }

    async fn desired(core: &Core, spec: ScimTargetSpec, origin: &Origin) -> anyhow::Result<NewScimTarget> {
        let token = read_secret(&spec.token, origin).map_err(|e| anyhow::anyhow!("token: {e}"))?;
        Ok(core.check_scim_target(&NewScimTarget {
            name: spec.name,
            url: spec.url,
            token,
            push_groups: spec.groups,
            deactivate_on_delete: spec.deactivate_on_delete,
        })?)
    }

    async fn live(core: &Core) -> anyhow::Result<Vec<(String, ScimTarget)>> {
        let targets = core.list_scim_targets(core.operator()).await.map_err(explain)?;
        Ok(targets.into_iter().map(|t| (t.name.clone(), t)).collect())
    }

    async fn changes(core: &Core, desired: &NewScimTarget, live: &ScimTarget) -> anyhow::Result<Vec<&'static str>> {
        let token_same = core
            .scim_target_token_is(core.operator(), &live.name, &desired.token)
            .await
            .map_err(explain)?;
        Ok(differing(&[
            ("url", desired.url == live.url),
            ("token", token_same),
            ("groups", desired.push_groups == live.push_groups),
            (
                "deactivate_on_delete",
                desired.deactivate_on_delete == live.deactivate_on_delete,
            ),
        ]))
    }

    async fn create(core: &Core, desired: NewScimTarget) -> anyhow::Result<Option<String>> {
        core.add_scim_target(core.operator(), desired).await.map_err(explain)?;
        Ok(None)
    }

    async fn update(
        core: &Core,
        mut desired: NewScimTarget,
        _live: ScimTarget,
        fields: &[&'static str],
    ) -> anyhow::Result<()> {
        if !fields.contains(&"token") {
            desired.token.clear();
        }
        core.update_scim_target(core.operator(), desired)
            .await
            .map_err(explain)?;
        Ok(())
    }

    async fn delete(core: &Core, live: ScimTarget) -> anyhow::Result<()> {
        core.remove_scim_target(core.operator(), &live.name)
            .await
            .map_err(explain)
    }
}
