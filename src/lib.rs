//! mosquitto-jwt-auth: JWT authentication and topic authorization for Mosquitto.
//!
//! Data flows one way: the broker calls [`ffi`], which converts C data and calls the
//! [`plugin`] logic, which uses the core: [`config`], [`keys`], [`token`], [`topic`] and
//! [`acl`].

pub mod acl;
pub mod algorithm;
pub mod config;
pub mod ffi;
pub mod keys;
pub mod placeholders;
pub mod plugin;
pub mod signature;
pub mod token;
pub mod topic;

#[cfg(test)]
mod test_tokens;
