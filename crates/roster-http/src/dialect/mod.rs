//! The dialects: each maps one product's routes, shapes and error bodies onto the core.
//! A dialect owns no rules and never imports another dialect; `fastapi` holds the error
//! shapes that Open WebUI and Langflow share through their framework.

mod fastapi;
pub mod langflow;
pub mod librechat;
pub mod native;
pub mod openwebui;
pub mod plexichat;
