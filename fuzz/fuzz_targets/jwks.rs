//! A key set as a provider's server could answer it (`jwks_url`): any bytes. Reading must
//! end in keys or a reason, never a panic; a reason is one log line, so it holds no line
//! break.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_jwt_auth::algorithm::{Algorithm, AlgorithmSet};
use mosquitto_jwt_auth::keys::KeySet;

fuzz_target!(|data: &[u8]| {
    let mut algorithms = AlgorithmSet::default();
    for alg in Algorithm::ALL {
        algorithms.insert(alg);
    }
    match KeySet::from_fetched_jwks(data, algorithms, "https://idp.example/keys") {
        Ok(fetched) => {
            assert!(!fetched.keys.is_empty());
            assert!(fetched.notes.iter().all(|n| !n.contains('\n')), "{:?}", fetched.notes);
        }
        Err(why) => assert!(!why.is_empty()),
    }
});
