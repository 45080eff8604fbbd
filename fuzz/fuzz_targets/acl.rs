//! The ACL compiler and matcher: patterns from a token, placeholders filled in, then
//! publish, receive and subscribe checks against topics from the same input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_jwt_auth::acl::{Access, Acl};
use mosquitto_jwt_auth::config::Config;
use mosquitto_jwt_auth::placeholders::{self, Values};
use mosquitto_jwt_auth::token::AclPatterns;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let client_id = lines.next().unwrap_or_default();
    let patterns: Vec<String> = lines.by_ref().take(8).map(str::to_owned).collect();
    let topics: Vec<&str> = lines.collect();
    let acl = AclPatterns {
        publish: Some(patterns.clone()),
        subscribe: Some(patterns.clone()),
        receive: Some(patterns),
    };
    let (filled, _) = placeholders::substitute(
        &acl,
        &Values {
            user: "alice",
            client_id: Some(client_id),
        },
    );
    let names = Config::default().claims;
    if let Ok(compiled) = Acl::compile(&filled, &names) {
        for topic in &topics {
            for access in [
                Access::Read,
                Access::Write,
                Access::Subscribe,
                Access::Unsubscribe,
            ] {
                let _ = compiled.allows(access, topic.as_bytes());
            }
        }
    }
});
