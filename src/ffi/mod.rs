//! The C side: Mosquitto's entry points and callbacks, kept thin. Each one checks its
//! pointers, converts C data to Rust, calls the plugin logic, and maps the answer back to
//! a Mosquitto return code. A panic never crosses back into the broker: it becomes a
//! refusal or a denial (see [`boundary`]).

pub mod bindings;
mod boundary;
mod broker;
mod callbacks;
mod entry;

pub use entry::{mosquitto_plugin_cleanup, mosquitto_plugin_init, mosquitto_plugin_version};
