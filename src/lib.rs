//! mosquitto-jwt-auth: JWT authentication and topic authorization for Mosquitto.
//!
//! Data flows one way: the broker calls [`ffi`], which converts C data and calls the
//! [`plugin`] logic, which uses the core: [`config`], [`keys`], [`token`], [`topic`] and
//! [`acl`].

// With no provider or both, jsonwebtoken has no default and panics at the first token.
#[cfg(all(feature = "rust-crypto", feature = "aws-lc"))]
compile_error!("choose one crypto backend: --no-default-features --features rust-crypto");
#[cfg(not(any(feature = "rust-crypto", feature = "aws-lc")))]
compile_error!("a crypto backend is needed: the default aws-lc, or --features rust-crypto");

pub mod acl;
pub mod algorithm;
pub mod config;
pub mod digest;
pub mod fetch;
pub mod ffi;
pub mod keys;
pub mod placeholders;
pub mod plugin;
pub mod signature;
pub mod token;
pub mod topic;

#[cfg(test)]
mod test_tokens;
