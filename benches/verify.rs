//! Token verification per algorithm: signature, header and claims, as at each CONNECT.
//! The tokens and keys are the PyJWT fixtures of `tests/fixtures`.
//!
//!     cargo bench --bench verify

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mosquitto_jwt_auth::config::Config;
use mosquitto_jwt_auth::keys::{KeySet, Purpose};
use mosquitto_jwt_auth::token::{ClaimRules, Jwt, Verifier};
use serde_json::Value;

const NOW: f64 = 1_800_000_000.0;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn verifier(alg: &str, key_file: &str) -> Verifier {
    let key = fixture(&format!("keys/{key_file}"));
    let source = if key_file == "hmac.secret" {
        "secret_key_file"
    } else {
        "public_key_file"
    };
    let config = Config::from_options([("algorithm", alg), (source, key.as_str())]).unwrap();
    let keys = KeySet::load(&config, Purpose::Start).unwrap().keys;
    Verifier::new(config.algorithms, keys, ClaimRules::from_config(&config))
}

fn per_algorithm(c: &mut Criterion) {
    let fixtures: Value =
        serde_json::from_slice(&std::fs::read(fixture("tokens.json")).unwrap()).unwrap();
    let mut group = c.benchmark_group("verify");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for entry in fixtures["tokens"].as_array().unwrap() {
        let alg = entry["alg"].as_str().unwrap();
        let verifier = verifier(alg, entry["key"].as_str().unwrap());
        let token = entry["token"].as_str().unwrap();
        group.bench_function(alg, |b| {
            b.iter(|| {
                let jwt = Jwt::recognise(black_box(token.as_bytes())).unwrap();
                verifier.verify(&jwt, NOW).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_algorithm);
criterion_main!(benches);
