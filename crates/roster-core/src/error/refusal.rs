//! Why the core refuses a known caller ([`crate::Error::Forbidden`]).

/// The reason of a refusal. Dialects that answer some refusals in their product's own words
/// match on these variants; the message ([`Refusal::message`], also its `Display`) is what
/// the native API shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The caller is not an administrator (see `Actor::require_admin`).
    AdminRequired,
    /// An administrator tried to delete their own account.
    AdminCannotDeleteSelf,
    /// Another administrator tried to change the primary administrator.
    PrimaryAdminProtected,
    /// The primary administrator tried to give up the role.
    PrimaryAdminStaysAdmin,
    /// Auto-login for an account with two-factor authentication.
    AutoLoginWithTwoFactor,
    /// The recipient does not take friend requests from the caller.
    FriendRequestBlocked,
    /// A chat-account change with a wrong current password.
    IncorrectCurrentPassword,
    /// Token introspection without a key holding the introspect scope.
    IntrospectScopeRequired,
    /// An administrator tried to ban themselves.
    CannotBanSelf,
    /// Self-service account deletion is switched off.
    AccountDeletionDisabled,
    /// The event feed without the administrator role or the events scope.
    EventsAccessRequired,
    /// The recipient does not take direct messages from the caller.
    CannotMessage,
    /// A non-administrator tried to set messaging limits.
    LimitsAdminOnly,
    /// A gated preference: notifications need `features.webhooks`.
    NotificationsNeedWebhooks,
    /// A gated preference: a notification webhook URL needs `features.webhooks`.
    WebhookUrlNeedsWebhooks,
    /// A gated preference: a system prompt needs `chat.controls` and `chat.system_prompt`.
    SystemPromptNeedsChatControls,
    /// A gated preference: tool servers need `features.direct_tool_servers`.
    ToolServersNeedDirectToolServers,
    /// An API key made or used without the `features.api_keys` permission where it is gated.
    ApiKeysNotPermitted,
    /// An API key (not a session) tried what only a signed-in session may do.
    SessionRequired,
    /// A non-administrator tried to change another account.
    NotOwnAccount,
    /// A non-administrator tried to change roles, activation or passwords.
    OnlySuperusers,
    /// Someone tried to deactivate their own account.
    CannotDeactivateSelf,
    /// A non-administrator tried to grant the introspect scope.
    IntrospectGrantAdminOnly,
    /// A non-administrator tried to grant the events scope.
    EventsGrantAdminOnly,
    /// A SCIM route was called without an API key with the `scim` scope.
    ScimScopeRequired,
    /// A non-administrator tried to grant the scim scope.
    ScimGrantAdminOnly,
}

impl Refusal {
    /// The message the native API shows.
    pub const fn message(self) -> &'static str {
        match self {
            Refusal::AdminRequired => "administrator role required",
            Refusal::AdminCannotDeleteSelf => "administrators cannot delete their own account",
            Refusal::PrimaryAdminProtected => "the primary administrator cannot be changed by another administrator",
            Refusal::PrimaryAdminStaysAdmin => "the primary administrator must stay an administrator",
            Refusal::AutoLoginWithTwoFactor => "auto-login is refused for an account with two-factor authentication",
            Refusal::FriendRequestBlocked => "a friend request cannot be sent to this user",
            Refusal::IncorrectCurrentPassword => "the current password is incorrect",
            Refusal::IntrospectScopeRequired => "an API key with the introspect scope is required",
            Refusal::CannotBanSelf => "administrators cannot ban themselves",
            Refusal::AccountDeletionDisabled => "account deletion is disabled",
            Refusal::EventsAccessRequired => "the administrator role or an API key with the events scope is required",
            Refusal::CannotMessage => "this user does not accept direct messages from you",
            Refusal::LimitsAdminOnly => "messaging limits are set by administrators",
            Refusal::NotificationsNeedWebhooks => {
                "preferences.settings.notifications needs the features.webhooks permission"
            }
            Refusal::WebhookUrlNeedsWebhooks => {
                "preferences.settings.ui.notifications.webhook_url needs the features.webhooks permission"
            }
            Refusal::SystemPromptNeedsChatControls => {
                "preferences.settings.ui.system needs the chat.controls and chat.system_prompt permissions"
            }
            Refusal::ToolServersNeedDirectToolServers => {
                "preferences.settings.ui.toolServers needs the features.direct_tool_servers permission"
            }
            Refusal::ApiKeysNotPermitted => {
                "API keys need the features.api_keys permission, which this account does not have"
            }
            Refusal::SessionRequired => {
                "an API key cannot change the password, email or two-factor settings or delete the account: sign in"
            }
            Refusal::NotOwnAccount => "only administrators may change other accounts",
            Refusal::OnlySuperusers => "only administrators may change roles, activation or passwords",
            Refusal::CannotDeactivateSelf => "nobody may deactivate their own account",
            Refusal::IntrospectGrantAdminOnly => "only administrators may grant the introspect scope",
            Refusal::EventsGrantAdminOnly => "only administrators may grant the events scope",
            Refusal::ScimScopeRequired => "an administrator's API key with the scim scope is required",
            Refusal::ScimGrantAdminOnly => "only administrators may grant the scim scope",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}
