//! Completes the native OpenAPI document with what every operation can answer, so that the
//! document matches the API (`scripts/schemathesis.sh` checks every answer against it): error
//! bodies are `application/problem+json`; operations taking a body can answer 400 (malformed
//! JSON), 413, 415 and 422; authenticated ones 401 and 403; ones with path parameters 400 (a
//! malformed id) and 404; ones with query parameters 400 and 422. Applies to every route in
//! the native router, so routes added later are covered too. Path ids get their pattern.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{OpenApi, Ref, RefOr, Schema};

const PROBLEM: &str = "application/problem+json";
/// A positive decimal id of at most 18 digits (every snowflake until the 2100s).
const ID_PATTERN: &str = "^[1-9][0-9]{0,17}$";

/// Completes every operation of `openapi`.
pub fn complete(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            complete_operation(operation);
        }
    }
}

fn complete_operation(operation: &mut Operation) {
    // Ids in paths are decimal snowflakes; anything else is a 400, not a valid request.
    for parameter in operation.parameters.iter_mut().flatten() {
        if matches!(parameter.parameter_in, ParameterIn::Path)
            && parameter.name == "id"
            && let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema
        {
            object.pattern = Some(ID_PATTERN.to_string());
        }
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        if let RefOr::T(response) = response
            && (status.starts_with('4') || status.starts_with('5'))
            && let Some(content) = response.content.shift_remove("application/json")
        {
            response.content.insert(PROBLEM.to_string(), content);
        }
    }
    let has_body = operation.request_body.is_some();
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_path = parameters.iter().any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let has_query = parameters.iter().any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        PROBLEM,
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .into()
            });
    };
    if has_body {
        add("400", "malformed JSON");
        add("413", "the body is too large");
        add("415", "the wrong content type");
        add("422", "a field is missing or invalid");
    }
    if secured {
        add("401", "no valid credentials");
        add("403", "the caller may not do this");
    }
    if has_path {
        add("400", "a malformed id");
        add("404", "no such resource");
    }
    if has_query {
        add("400", "a malformed query");
        add("422", "an invalid query value");
    }
}
