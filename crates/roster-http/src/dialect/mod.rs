//! The dialects: each maps one product's routes, shapes and error bodies onto the core.
//! A dialect owns no rules and never imports another dialect.

pub mod langflow;
pub mod librechat;
pub mod native;
pub mod openwebui;
