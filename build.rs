//! Generates Rust bindings for the Mosquitto plugin API from the system headers.
//!
//! Only the broker functions the plugin calls are bound: each must be exported by
//! Mosquitto 2.0.11, the oldest broker the plugin supports.

use std::env;
use std::path::{Path, PathBuf};

const INCLUDE_DIR_VAR: &str = "MOSQUITTO_INCLUDE_DIR";
const HEADERS: [(&str, &str); 3] = [
    ("mosquitto.h", "libmosquitto-dev"),
    ("mosquitto_broker.h", "mosquitto-dev"),
    ("mosquitto_plugin.h", "mosquitto-dev"),
];
const BROKER_FUNCTIONS: &str = "mosquitto_callback_register|mosquitto_callback_unregister|\
mosquitto_log_printf|mosquitto_client_id|mosquitto_client_username|mosquitto_set_username|mosquitto_kick_client_by_clientid|\
mosquitto_client_protocol_version|mosquitto_client_clean_session";

fn main() {
    println!("cargo::rerun-if-changed=wrapper.h");
    println!("cargo::rerun-if-env-changed={INCLUDE_DIR_VAR}");
    let include_dir = env::var_os(INCLUDE_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));

    for (header, package) in HEADERS {
        let path = include_dir.join(header);
        if !path.is_file() {
            fail(&format!(
                "{} not found (looked in {}; set {INCLUDE_DIR_VAR} to another directory). \
                 On Debian: apt-get install mosquitto-dev libmosquitto-dev ({header} comes from {package})",
                header,
                include_dir.display()
            ));
        }
        println!("cargo::rerun-if-changed={}", path.display());
    }

    // bindgen panics when it cannot load libclang; turn that into a build error that says
    // what to install.
    let generated = std::panic::catch_unwind(|| generate(&include_dir));
    match generated {
        Ok(Ok(bindings)) => {
            let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
            if let Err(e) = bindings.write_to_file(out.join("mosquitto_bindings.rs")) {
                fail(&format!("cannot write the Mosquitto bindings: {e}"));
            }
        }
        Ok(Err(e)) => fail(&format!(
            "bindgen could not read the Mosquitto headers in {}: {e}",
            include_dir.display()
        )),
        Err(_) => fail(
            "bindgen could not run: libclang is missing. On Debian: apt-get install libclang-dev",
        ),
    }
}

fn generate(include_dir: &Path) -> Result<bindgen::Bindings, bindgen::BindgenError> {
    bindgen::Builder::default()
        .header("wrapper.h")
        .clang_arg(format!("-I{}", include_dir.display()))
        .rust_edition(bindgen::RustEdition::Edition2024)
        .allowlist_function(BROKER_FUNCTIONS)
        .allowlist_type("mosq_err_t|mosquitto_plugin_event|mosquitto_evt_.*|mosquitto_opt|mosquitto_plugin_id_t|MOSQ_FUNC_generic_callback")
        .allowlist_var("MOSQ_ERR_.*|MOSQ_LOG_.*|MOSQ_ACL_.*|MOSQ_EVT_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .layout_tests(true)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
}

fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    std::process::exit(1);
}
