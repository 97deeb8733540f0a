//! The stable, machine-readable error codes: the core's and the transport's.

/// What kind of error a response is about. The core's errors each have one
/// ([`crate::Error::code`]); the transport adds its own for requests it cannot read. The
/// strings ([`ErrorCode::as_str`]) are public API: the native problem documents carry them
/// (`urn:roster:problem:<code>`) and they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // The core's.
    NotFound,
    InvalidId,
    Conflict,
    InvalidField,
    Unauthenticated,
    InvalidCredentials,
    InvalidToken,
    AccountPending,
    AccountDisabled,
    Banned,
    Forbidden,
    RegistrationDisabled,
    LastAdmin,
    EmailNotVerified,
    TooLarge,
    RateLimited,
    Unavailable,
    Internal,
    TwoFactorRequired,
    InvalidTwoFactorCode,
    // The transport's: a request that cannot be read or routed.
    /// A body that is not valid JSON.
    MalformedJson,
    /// A body of a content type the route does not take.
    UnsupportedMediaType,
    /// A body that could not be read.
    UnreadableBody,
    /// A body over the size limit.
    BodyTooLarge,
    /// A query string that does not fit the route's parameters.
    InvalidQuery,
    /// A path parameter that cannot be decoded or does not fit.
    InvalidPath,
    /// No route has this path.
    RouteNotFound,
    /// The route exists, not with this method.
    MethodNotAllowed,
    /// The request took longer than allowed.
    RequestTimeout,
}

impl ErrorCode {
    /// The code as it appears on the wire (`not_found`, `malformed_json`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::AccountPending => "account_pending",
            ErrorCode::AccountDisabled => "account_disabled",
            ErrorCode::Banned => "banned",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RegistrationDisabled => "registration_disabled",
            ErrorCode::LastAdmin => "last_admin",
            ErrorCode::EmailNotVerified => "email_not_verified",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::TwoFactorRequired => "two_factor_required",
            ErrorCode::InvalidTwoFactorCode => "invalid_two_factor_code",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::UnreadableBody => "unreadable_body",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
        }
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
