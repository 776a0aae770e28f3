//! The `gonggu` application: settings, wiring and start-up. The binary in `main.rs` is a thin
//! command-line shell around [`startup::Application`].

pub mod openapi;
pub mod server;
pub mod settings;
pub mod shell;
pub mod startup;
pub mod telemetry;

pub use settings::Settings;
pub use startup::{Application, Overrides};
