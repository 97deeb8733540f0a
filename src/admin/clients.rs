//! `roster clients add|list|show|update|remove|rotate-secret|logouts` and `roster keys rotate`: the
//! OpenID Connect relying parties and signing keys, through the same core services as
//! `/v1/clients`.

use super::{explain, password_from_stdin, usage};
use roster_core::Core;
use roster_core::service::oidc::{ClientChanges, ClientCreated, ClientView, NewClient};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Registers a relying party; prints its secret once (unless --public or --secret-stdin).
    Add(AddArgs),
    /// Lists the clients.
    List(FormatArgs),
    /// Shows one client.
    Show {
        client_id: String,
        /// table or json.
        #[arg(long, value_parser = ["table", "json"], default_value = "table")]
        format: String,
    },
    /// Changes a client's settings (only those given).
    Update(UpdateArgs),
    /// Removes a client with its grants and tokens.
    Remove { client_id: String },
    /// Replaces a confidential client's secret (prints the new one once unless --secret-stdin).
    RotateSecret {
        client_id: String,
        /// Read the secret from standard input (32 to 128 letters and digits).
        #[arg(long)]
        secret_stdin: bool,
    },
    /// Lists the back-channel logouts queued for clients, newest first.
    Logouts {
        /// Only this client's.
        client_id: Option<String>,
        /// Only pending, delivered or failed ones.
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        status: Option<String>,
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// table or json.
        #[arg(long, value_parser = ["table", "json"], default_value = "table")]
        format: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// The next signing key starts signing, the current one retires (published until its
    /// tokens expire), a new next key is published.
    Rotate,
}

/// Settings shared by `add` and `update`.
#[derive(Debug, clap::Args)]
pub struct SettingsArgs {
    /// An allowed redirect URI (exact match; repeat for more). On update: replaces the list.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A URI the client may send users to after logout (repeat for more). On update: replaces.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Trusted: users are not asked to consent.
    #[arg(long, overrides_with = "no_first_party")]
    first_party: bool,
    /// Not trusted: users consent (the default for new clients).
    #[arg(long)]
    no_first_party: bool,
    /// The `aud` of its access tokens (default: the client id); empty to clear.
    #[arg(long, value_name = "AUD")]
    audience: Option<String>,
    /// Where Roster POSTs back-channel logout tokens; empty to clear.
    #[arg(long, value_name = "URI")]
    backchannel_logout_uri: Option<String>,
    /// Allowed scopes, comma-separated (openid,profile,email,offline_access,roles,groups).
    #[arg(long, value_delimiter = ',', value_name = "SCOPES")]
    scopes: Option<Vec<String>>,
    /// Allowed grants, comma-separated (authorization_code,refresh_token,client_credentials).
    #[arg(long, value_delimiter = ',', value_name = "GRANTS")]
    grant_types: Option<Vec<String>>,
    /// RS256 (default) or EdDSA.
    #[arg(long, value_name = "ALG")]
    signing_alg: Option<String>,
    /// Access token lifetime, seconds (60-86400; default 900).
    #[arg(long, value_name = "SECONDS")]
    access_token_ttl: Option<i64>,
    /// ID token lifetime, seconds (60-86400; default 3600).
    #[arg(long, value_name = "SECONDS")]
    id_token_ttl: Option<i64>,
    /// Refresh token (grant) lifetime, seconds (60-31536000; default 30 days).
    #[arg(long, value_name = "SECONDS")]
    refresh_token_ttl: Option<i64>,
    /// The claim that carries the role (default roles).
    #[arg(long, value_name = "CLAIM")]
    roles_claim: Option<String>,
    /// The claim that carries the group names (default groups).
    #[arg(long, value_name = "CLAIM")]
    groups_claim: Option<String>,
    /// A display name (shown on the consent page); empty to clear.
    #[arg(long, value_name = "TEXT")]
    name: Option<String>,
}

impl SettingsArgs {
    fn changes(self) -> ClientChanges {
        let clearable = |v: Option<String>| v.map(|s| Some(s).filter(|s| !s.is_empty()));
        ClientChanges {
            name: clearable(self.name),
            redirect_uris: (!self.redirect_uris.is_empty()).then_some(self.redirect_uris),
            post_logout_redirect_uris: (!self.post_logout_redirect_uris.is_empty())
                .then_some(self.post_logout_redirect_uris),
            scopes: self.scopes,
            grant_types: self.grant_types,
            audience: clearable(self.audience),
            first_party: if self.first_party {
                Some(true)
            } else if self.no_first_party {
                Some(false)
            } else {
                None
            },
            backchannel_logout_uri: clearable(self.backchannel_logout_uri),
            signing_alg: self.signing_alg,
            access_token_ttl: self.access_token_ttl,
            id_token_ttl: self.id_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            roles_claim: self.roles_claim,
            groups_claim: self.groups_claim,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The client id: 1 to 64 letters and digits.
    client_id: String,
    /// A public client (a browser or native app): no secret, PKCE required.
    #[arg(long)]
    public: bool,
    /// Read the secret from standard input instead of generating one (32 to 128 letters and
    /// digits).
    #[arg(long, conflicts_with = "public")]
    secret_stdin: bool,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    client_id: String,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub struct FormatArgs {
    /// table or json.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
}

pub async fn run(core: &Core, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Add(args) => {
            let secret = if args.secret_stdin {
                Some(password_from_stdin().map_err(|_| usage("--secret-stdin: standard input held no secret"))?)
            } else {
                None
            };
            let created = core
                .create_oidc_client(
                    core.operator(),
                    NewClient {
                        client_id: args.client_id,
                        public: args.public,
                        secret,
                        settings: args.settings.changes(),
                    },
                )
                .await
                .map_err(explain)?;
            print_created("created", &created);
            Ok(())
        }
        Command::List(args) => {
            let clients = core.list_oidc_clients(core.operator()).await.map_err(explain)?;
            if args.format == "json" {
                println!("{}", serde_json::to_string_pretty(&clients)?);
            } else {
                println!("{:<24} {:<12} {:<11} REDIRECT URIS", "CLIENT ID", "TYPE", "FIRST PARTY");
                for c in &clients {
                    println!(
                        "{:<24} {:<12} {:<11} {}",
                        c.client_id,
                        if c.confidential { "confidential" } else { "public" },
                        if c.first_party { "yes" } else { "no" },
                        c.redirect_uris.join(" ")
                    );
                }
            }
            Ok(())
        }
        Command::Show { client_id, format } => {
            let client = core
                .get_oidc_client(core.operator(), &client_id)
                .await
                .map_err(explain)?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&client)?);
            } else {
                print_client(&client);
            }
            Ok(())
        }
        Command::Update(args) => {
            let client = core
                .update_oidc_client(core.operator(), &args.client_id, args.settings.changes())
                .await
                .map_err(explain)?;
            println!("Client {} updated.", client.client_id);
            Ok(())
        }
        Command::Remove { client_id } => {
            core.delete_oidc_client(core.operator(), &client_id)
                .await
                .map_err(explain)?;
            println!("Client {client_id} removed.");
            Ok(())
        }
        Command::RotateSecret {
            client_id,
            secret_stdin,
        } => {
            let secret = if secret_stdin {
                Some(password_from_stdin().map_err(|_| usage("--secret-stdin: standard input held no secret"))?)
            } else {
                None
            };
            let created = core
                .rotate_oidc_client_secret(core.operator(), &client_id, secret)
                .await
                .map_err(explain)?;
            print_created("secret replaced", &created);
            Ok(())
        }
        Command::Logouts {
            client_id,
            status,
            limit,
            format,
        } => {
            let logouts = core
                .list_oidc_logouts(core.operator(), client_id.as_deref(), status.as_deref(), Some(limit))
                .await
                .map_err(explain)?;
            let time = |t: Option<roster_core::time::OffsetDateTime>| {
                t.map_or_else(|| "-".to_string(), roster_core::user::rfc3339)
            };
            if format == "json" {
                let rows: Vec<serde_json::Value> = logouts
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "id": l.id, "client_id": l.client_id, "user_id": l.user_id.to_string(),
                            "sid": l.sid.to_string(), "status": l.status.as_str(), "attempts": l.attempts,
                            "last_attempt_at": l.last_attempt_at.map(roster_core::user::rfc3339),
                            "last_status_code": l.last_status_code, "last_error": l.last_error,
                            "delivered_at": l.delivered_at.map(roster_core::user::rfc3339),
                            "created_at": roster_core::user::rfc3339(l.created_at),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<8} {:<16} {:<20} {:<10} {:<8} {:<25} ERROR",
                    "ID", "CLIENT ID", "USER", "STATUS", "ATTEMPTS", "LAST ATTEMPT"
                );
                for l in &logouts {
                    println!(
                        "{:<8} {:<16} {:<20} {:<10} {:<8} {:<25} {}",
                        l.id,
                        l.client_id,
                        l.user_id.to_string(),
                        l.status.as_str(),
                        l.attempts,
                        time(l.last_attempt_at),
                        l.last_error.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(())
        }
    }
}

pub async fn run_keys(core: &Core, command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Rotate => {
            let signing = core.rotate_oidc_keys(core.operator()).await.map_err(explain)?;
            for (alg, kid) in signing {
                println!("{alg}: now signing with {kid} (a new next key is published)");
            }
            Ok(())
        }
    }
}

fn print_created(what: &str, created: &ClientCreated) {
    println!("Client {} {what}.", created.client.client_id);
    if let Some(secret) = &created.secret {
        println!("Client secret (shown once): {secret}");
    }
}

fn print_client(c: &ClientView) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("client_id                  {}", c.client_id);
    println!("name                       {}", opt(&c.name));
    println!(
        "type                       {}",
        if c.confidential { "confidential" } else { "public" }
    );
    println!("first_party                {}", c.first_party);
    println!("redirect_uris              {}", c.redirect_uris.join(" "));
    println!("post_logout_redirect_uris  {}", c.post_logout_redirect_uris.join(" "));
    println!("scopes                     {}", c.scopes.join(" "));
    println!("grant_types                {}", c.grant_types.join(" "));
    println!("audience                   {}", opt(&c.audience));
    println!("backchannel_logout_uri     {}", opt(&c.backchannel_logout_uri));
    println!("signing_alg                {}", c.signing_alg);
    println!("access_token_ttl           {}", c.access_token_ttl);
    println!("id_token_ttl               {}", c.id_token_ttl);
    println!("refresh_token_ttl          {}", c.refresh_token_ttl);
    println!("roles_claim                {}", c.roles_claim);
    println!("groups_claim               {}", c.groups_claim);
}
