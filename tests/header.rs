//! The C header of the plugin's entry points: current, and in agreement with the
//! prototypes in Mosquitto's `mosquitto_plugin.h`.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn header_path() -> String {
    format!("{ROOT}/include/mosquitto_jwt_auth.h")
}

#[test]
fn checked_in_header_is_what_cbindgen_makes() {
    let config = cbindgen::Config::from_file(format!("{ROOT}/cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_crate(ROOT)
        .with_config(config)
        .generate()
        .expect("cbindgen reads the crate");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    if std::env::var_os("UPDATE_HEADER").is_some() {
        fs::write(header_path(), &generated).unwrap();
    }
    let checked_in = fs::read_to_string(header_path()).unwrap_or_default();
    assert!(
        generated == checked_in,
        "include/mosquitto_jwt_auth.h is stale: run `UPDATE_HEADER=1 cargo test --test header`\n{generated}"
    );
    for entry in [
        "mosquitto_plugin_version",
        "mosquitto_plugin_init",
        "mosquitto_plugin_cleanup",
    ] {
        assert!(generated.contains(&format!("{entry}(")), "{entry} missing");
    }
}

/// Compiles `source` as C with the Mosquitto headers and ours; returns the compiler's
/// complaints, if any.
fn compile(source: &str) -> Result<(), String> {
    let include = std::env::var("MOSQUITTO_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include".into());
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-fsyntax-only", "-Wall", "-Werror", "-x", "c", "-"])
        .arg(format!("-I{include}"))
        .arg(format!("-I{ROOT}/include"))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("a C compiler (cc)");
    cc.stdin
        .take()
        .unwrap()
        .write_all(source.as_bytes())
        .unwrap();
    let out = cc.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into())
    }
}

const PRELUDE: &str = "#include <mosquitto_broker.h>\n#include <mosquitto_plugin.h>\n";

#[test]
fn header_compiles_with_mosquitto_plugin_h() {
    let source = format!("{PRELUDE}#include \"mosquitto_jwt_auth.h\"\n");
    compile(&source).unwrap();
}

#[test]
fn a_drifted_signature_would_be_caught() {
    // The same check, fed a prototype that disagrees with Mosquitto's: it must fail, or
    // the test above proves nothing.
    let header = fs::read_to_string(header_path()).unwrap();
    let drifted = header.replace(
        "int mosquitto_plugin_cleanup(void *userdata",
        "int mosquitto_plugin_cleanup(const char *userdata",
    );
    assert_ne!(drifted, header, "the prototype to alter was not found");
    let err = compile(&format!("{PRELUDE}{drifted}")).unwrap_err();
    assert!(err.contains("conflicting types"), "{err}");
}
