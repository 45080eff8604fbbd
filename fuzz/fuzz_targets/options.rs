//! The option parser: any names and values, as `plugin_opt_*` lines could carry them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_jwt_auth::config::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // One option per line, name and value split at the first space.
    let options: Vec<(&str, &str)> = text
        .lines()
        .map(|line| line.split_once(' ').unwrap_or((line, "")))
        .collect();
    if let Err(e) = Config::from_options(options.iter().copied()) {
        assert!(options.iter().any(|(name, _)| *name == e.option), "{e}");
    }
});
