//! Test support: a real `mosquitto` with the built plugin, MQTT clients, and tokens.
// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod clients;
pub mod idp;
pub mod raw;
pub mod tokens;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any awaited event may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The plugin cargo built for this test run: the cdylib sits next to the test binary.
pub fn plugin_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps directory");
    for dir in [deps, deps.parent().unwrap_or(deps)] {
        let candidate = dir.join("libmosquitto_jwt_auth.so");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "libmosquitto_jwt_auth.so not found next to {}",
        exe.display()
    );
}

fn mosquitto_binary() -> String {
    std::env::var("MOSQUITTO_BIN").unwrap_or_else(|_| {
        ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .unwrap_or("mosquitto")
            .to_owned()
    })
}

/// A Mosquitto password file in `dir` with one user, made by `mosquitto_passwd`.
pub fn password_file(dir: &Path, user: &str, password: &str) -> PathBuf {
    let path = dir.join("passwords");
    let status = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&path)
        .args([user, password])
        .status()
        .expect("mosquitto_passwd (package mosquitto)");
    assert!(status.success(), "mosquitto_passwd failed");
    path
}

/// The broker's log, as it arrives on its stderr.
#[derive(Clone, Default)]
pub struct Log(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Log {
    fn push(&self, line: String) {
        let (lines, arrived) = &*self.0;
        lines.lock().unwrap().push(line);
        arrived.notify_all();
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.0.lock().unwrap().clone()
    }

    /// Waits until a line satisfies `found`; returns it.
    pub fn wait_for(&self, what: &str, found: impl Fn(&str) -> bool) -> String {
        self.wait_for_nth(what, 1, found)
    }

    /// Waits until `n` lines satisfy `found`; returns the `n`th.
    pub fn wait_for_nth(&self, what: &str, n: usize, found: impl Fn(&str) -> bool) -> String {
        let (lines, arrived) = &*self.0;
        let deadline = Instant::now() + PATIENCE;
        let mut guard = lines.lock().unwrap();
        loop {
            if let Some(line) = guard.iter().filter(|l| found(l)).nth(n - 1) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no log line {what} within {PATIENCE:?}; log:\n{}",
                guard.join("\n")
            );
            guard = arrived.wait_timeout(guard, left).unwrap().0;
        }
    }

    pub fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(&format!("containing {text:?}"), |l| l.contains(text))
    }

    pub fn count(&self, text: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(text)).count()
    }
}

/// Pushed to the log when the broker's stderr closes, that is when it exits.
const STDERR_CLOSED: &str = "<stderr closed>";

fn capture(stream: impl std::io::Read + Send + 'static, log: Log, closed: Option<&'static str>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            log.push(line);
        }
        if let Some(marker) = closed {
            log.push(marker.to_owned());
        }
    });
}

/// What a test broker is made of.
#[derive(Clone, Default)]
pub struct BrokerConfig {
    /// `plugin_opt_*` options, without the prefix.
    pub plugin_options: Vec<(String, String)>,
    /// Lines added to the global part of mosquitto.conf (after the plugin).
    pub extra: Vec<String>,
    pub allow_anonymous: bool,
    /// With `per_listener_settings true`: a second listener with its own plugin instance
    /// and these options.
    pub second_listener: Option<Vec<(String, String)>>,
    /// Environment variables of the broker process.
    pub env: Vec<(String, String)>,
}

impl BrokerConfig {
    pub fn with_secret(secret: &str) -> BrokerConfig {
        BrokerConfig::default().option("secret_key", secret)
    }

    pub fn option(mut self, key: &str, value: &str) -> BrokerConfig {
        self.plugin_options.push((key.into(), value.into()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> BrokerConfig {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn line(mut self, line: impl Into<String>) -> BrokerConfig {
        self.extra.push(line.into());
        self
    }

    /// A second listener, with its own plugin instance and options.
    pub fn second_listener(mut self, options: &[(&str, &str)]) -> BrokerConfig {
        let options = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.second_listener = Some(options);
        self
    }

    fn render(&self, port: u16, second_port: u16) -> String {
        let mut conf = Vec::new();
        if self.second_listener.is_some() {
            conf.push("per_listener_settings true".into());
        }
        conf.extend([
            format!("listener {port} 127.0.0.1"),
            format!("allow_anonymous {}", self.allow_anonymous),
            "persistence false".into(),
            "log_dest stderr".into(),
            "log_type all".into(),
            "log_timestamp false".into(),
        ]);
        // Run as root, mosquitto would drop to the `mosquitto` user, which may not read
        // the test's files.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            conf.push("user root".into());
        }
        conf.push(format!("plugin {}", plugin_path().display()));
        for (key, value) in &self.plugin_options {
            conf.push(format!("plugin_opt_{key} {value}"));
        }
        conf.extend(self.extra.iter().cloned());
        if let Some(options) = &self.second_listener {
            conf.push(format!("listener {second_port} 127.0.0.1"));
            conf.push(format!("allow_anonymous {}", self.allow_anonymous));
            conf.push(format!("plugin {}", plugin_path().display()));
            for (key, value) in options {
                conf.push(format!("plugin_opt_{key} {value}"));
            }
        }
        conf.join("\n") + "\n"
    }
}

/// A running `mosquitto` on a free loopback port, stopped on drop.
pub struct Broker {
    pub port: u16,
    /// The second listener's port, when the configuration has one.
    pub second_port: u16,
    pub log: Log,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start(config: &BrokerConfig) -> Broker {
        // Another test may take the port between our probe and the broker's bind; try
        // again on a fresh one.
        for _ in 0..5 {
            match Self::try_start(config) {
                Ok(broker) => return broker,
                Err(log) if log.iter().any(|l| l.contains("Address already in use")) => continue,
                Err(log) => panic!("mosquitto did not start:\n{}", log.join("\n")),
            }
        }
        panic!("no free port for mosquitto");
    }

    fn try_start(config: &BrokerConfig) -> Result<Broker, Vec<String>> {
        let (port, second_port) = (free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, config.render(port, second_port)).unwrap();
        let mut child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf_path)
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto runs (apt-get install mosquitto)");
        let log = Log::default();
        capture(child.stdout.take().unwrap(), log.clone(), None);
        capture(
            child.stderr.take().unwrap(),
            log.clone(),
            Some(STDERR_CLOSED),
        );
        let broker = Broker {
            port,
            second_port,
            log,
            child,
            _dir: dir,
        };
        let line = broker.log.wait_for("saying it runs or exits", |l| {
            l.contains(" running") || l == STDERR_CLOSED
        });
        if line == STDERR_CLOSED {
            Err(broker.log.lines())
        } else {
            Ok(broker)
        }
    }

    /// Starts a broker expected to refuse its configuration: returns its exit status
    /// and log.
    pub fn start_expecting_failure(config: &BrokerConfig) -> (ExitStatus, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, config.render(free_port(), free_port())).unwrap();
        let out = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf_path)
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("mosquitto runs");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        (out.status, text.lines().map(str::to_owned).collect())
    }

    /// Stops the broker as an operator would (SIGTERM), which runs the plugin's cleanup;
    /// returns how it exited. A broker that does not exit within [`PATIENCE`] fails the
    /// test: a plugin must never hold up shutdown.
    pub fn stop(mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signals our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.log
            .wait_for("the broker to exit", |l| l == STDERR_CLOSED);
        self.child.wait().unwrap()
    }

    /// Asks the broker to reload its configuration (SIGHUP), which fires MOSQ_EVT_RELOAD.
    pub fn reload(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signals our own child process.
        unsafe { libc::kill(pid, libc::SIGHUP) };
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
