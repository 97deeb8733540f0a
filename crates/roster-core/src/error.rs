//! The core's errors: meanings with stable codes, no transport types.

use std::time::Duration;

mod code;
mod refusal;

pub use code::ErrorCode;
pub use refusal::Refusal;

/// Result with the core's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as the core sees it. Each variant has a stable [`Error::code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist (or the caller may not know it exists).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An id that is not in a valid form.
    #[error("the id is not valid")]
    InvalidId,
    /// A unique field is already taken.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// A field failed validation.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthenticated,
    /// Login failed: unknown account or wrong password (never says which).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The presented token is invalid, expired or revoked.
    #[error("the token is invalid or expired")]
    InvalidToken,
    /// The account is awaiting approval.
    #[error("the account is awaiting approval")]
    AccountPending,
    /// The account has been deactivated.
    #[error("the account is deactivated")]
    AccountDisabled,
    /// The account is banned until the given time.
    #[error("the account is banned until {}", crate::user::rfc3339(*until))]
    Banned { until: time::OffsetDateTime },
    /// The caller is known but may not do this, for this reason.
    #[error("{0}")]
    Forbidden(Refusal),
    /// Self-registration is switched off.
    #[error("registration is disabled")]
    RegistrationDisabled,
    /// The change would leave no active administrator.
    #[error("the last active administrator cannot be removed, demoted or deactivated")]
    LastAdmin,
    /// The account's email address must be verified before signing in.
    #[error("the email address is not verified")]
    EmailNotVerified,
    /// An upload or value larger than allowed; says what and the limit.
    #[error("{0}")]
    TooLarge(&'static str),
    /// Too many attempts; retry after the given time.
    #[error("too many requests")]
    RateLimited { retry_after: Duration },
    /// The database is unreachable or failed.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// A bug or an unexpected failure; details are logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// The password was right, but the account uses two-factor authentication: the login
    /// completes with a code and this challenge (see [`crate::Core::complete_two_factor_login`]).
    #[error(
        "this account uses two-factor authentication: complete the sign-in with a code (a client that cannot ask for one cannot sign in)"
    )]
    TwoFactorRequired(crate::two_factor::TwoFactorChallenge),
    /// A two-factor code or backup code that is wrong, expired or already used.
    #[error("the two-factor code is invalid or was already used")]
    InvalidTwoFactorCode,
}

impl Error {
    /// A stable, machine-readable code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound(_) => ErrorCode::NotFound,
            Error::InvalidId => ErrorCode::InvalidId,
            Error::Conflict { .. } => ErrorCode::Conflict,
            Error::Invalid { .. } => ErrorCode::InvalidField,
            Error::Unauthenticated => ErrorCode::Unauthenticated,
            Error::InvalidCredentials => ErrorCode::InvalidCredentials,
            Error::InvalidToken => ErrorCode::InvalidToken,
            Error::AccountPending => ErrorCode::AccountPending,
            Error::AccountDisabled => ErrorCode::AccountDisabled,
            Error::Banned { .. } => ErrorCode::Banned,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::RegistrationDisabled => ErrorCode::RegistrationDisabled,
            Error::LastAdmin => ErrorCode::LastAdmin,
            Error::EmailNotVerified => ErrorCode::EmailNotVerified,
            Error::TooLarge(_) => ErrorCode::TooLarge,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::Unavailable => ErrorCode::Unavailable,
            Error::Internal(_) => ErrorCode::Internal,
            Error::TwoFactorRequired(_) => ErrorCode::TwoFactorRequired,
            Error::InvalidTwoFactorCode => ErrorCode::InvalidTwoFactorCode,
        }
    }

    /// The field a validation or conflict error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::Invalid { field, .. } | Error::Conflict { field } => Some(field),
            _ => None,
        }
    }

    /// The reason of a refusal.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Error::Forbidden(refusal) => Some(*refusal),
            _ => None,
        }
    }

    /// The reason of a validation error, without the field's name.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Invalid { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Whether this is the refusal of text holding a NUL character (which no store can
    /// hold), rather than of a rule about the field's value.
    pub fn is_nul_rejection(&self) -> bool {
        matches!(self, Error::Invalid { reason, .. } if reason == crate::user::NUL_REASON)
    }

    /// A validation error on `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound => Error::NotFound("record"),
            StoreError::Conflict { field } => Error::Conflict { field },
            StoreError::LastAdmin => Error::LastAdmin,
            StoreError::InvalidText { field } => Error::invalid(field, crate::user::NUL_REASON),
            StoreError::Stale => Error::Internal(anyhow::anyhow!("concurrent update did not settle")),
            StoreError::Unavailable(e) => {
                tracing::error!(error = %e, "database unavailable");
                Error::Unavailable
            }
            StoreError::Other(e) => Error::Internal(e),
        }
    }
}
