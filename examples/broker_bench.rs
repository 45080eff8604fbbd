//! Whole-broker benchmark (`scripts/broker-bench`): Mosquitto with no plugin, with this
//! plugin, and with Mosquitto's own dynamic-security plugin granting the same rights, run in
//! one process, round-robin, each round on fresh brokers. Prints medians as a markdown table.
//!
//!     cargo run --release --example broker_bench -- [--rounds R] [--messages M] [--callgrind] ...
//!
//! `--help` lists every option.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rumqttc::{
    Client, ConnectReturnCode, Connection, Event, MqttOptions, Outgoing, Packet, QoS,
    RecvTimeoutError, SubscribeReasonCode,
};
use serde_json::json;

/// How long anything may go without progress before the benchmark fails.
const PATIENCE: Duration = Duration::from_secs(60);
const SECRET: &str = "broker-bench-secret-0123456789abcdef0123";
const DYNSEC_ADMIN_PASSWORD: &str = "bench-admin-password";
/// The password of every dynsec client. The broker without plugin gets the jwt-auth
/// clients' tokens instead, and ignores them: those two then read the same CONNECT packets
/// and make the same allocations, which move where the broker's strings land, and with it
/// what its `strcmp` calls cost per message (about 10 instructions per delivery). The
/// dynsec broker's ratio still holds that effect.
const PASSWORD: &str = "bench-password";
const TOPIC: &str = "bench/fanout";
const PAYLOAD_BYTES: usize = 64;

const USAGE: &str = "\
broker_bench [options]
  --rounds R                rounds, each running every configuration once (5; a
                            confidence interval of the median needs 6 or more)
  --messages M              messages per fan-out run (2000)
  --subscribers S           subscribers per fan-out run (50)
  --connects C              CONNECTs per CONNECT run (1000)
  --connect-parallel P      clients connecting at once (4)
  --burst B                 fan-out publishes in bursts of B messages, at most two bursts
                            ahead of the slowest subscriber (50); B = M: no pacing
  --no-pin                  let the scheduler place broker and clients (default: the
                            broker alone on the last allowed CPU, clients on the others)
  --same-token              one token for all CONNECTs of an algorithm (default: one per
                            CONNECT, differing in jti)
  --callgrind               also count instructions per delivery and per CONNECT under
                            callgrind
  --no-callgrind            do not (the default)
  --callgrind-messages N    messages of the shorter callgrind run; the longer sends 2N (200)
  --callgrind-subscribers S,.. subscriber counts of the callgrind runs (10,50)
  --jwt-option NAME=VALUE   an extra plugin_opt_NAME line for jwt-auth (repeatable), such
                            as token_cache=0
  --callgrind-connects N    CONNECTs of the shorter callgrind CONNECT run, one client at
                            a time; the longer makes 2N (100)
environment: MOSQUITTO_BIN (/usr/sbin/mosquitto), DYNSEC_PLUGIN (Debian's path)";

struct Options {
    rounds: usize,
    messages: usize,
    subscribers: usize,
    connects: usize,
    connect_parallel: usize,
    burst: usize,
    pin: bool,
    same_token: bool,
    callgrind: bool,
    callgrind_messages: usize,
    callgrind_subscribers: Vec<usize>,
    callgrind_connects: usize,
    /// Extra `plugin_opt_` lines for jwt-auth.
    jwt_options: Vec<String>,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            rounds: 5,
            messages: 2000,
            subscribers: 50,
            connects: 1000,
            connect_parallel: 4,
            burst: 50,
            pin: true,
            same_token: false,
            callgrind: false,
            callgrind_messages: 200,
            callgrind_subscribers: vec![10, 50],
            callgrind_connects: 100,
            jwt_options: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut number = || -> usize {
                let value = args.next().unwrap_or_else(|| usage_error(&arg));
                match value.parse() {
                    Ok(n) if n > 0 => n,
                    _ => usage_error(&format!("{arg} {value}")),
                }
            };
            match arg.as_str() {
                "--rounds" => options.rounds = number(),
                "--messages" => options.messages = number(),
                "--subscribers" => options.subscribers = number(),
                "--connects" => options.connects = number(),
                "--connect-parallel" => options.connect_parallel = number(),
                "--burst" => options.burst = number(),
                "--callgrind-messages" => options.callgrind_messages = number(),
                "--callgrind-connects" => options.callgrind_connects = number(),
                "--callgrind-subscribers" => {
                    let value = args.next().unwrap_or_else(|| usage_error(&arg));
                    options.callgrind_subscribers = value
                        .split(',')
                        .map(|n| match n.parse() {
                            Ok(n) if n > 0 => n,
                            _ => usage_error(&format!("{arg} {value}")),
                        })
                        .collect();
                }
                "--jwt-option" => {
                    let value = args.next().unwrap_or_else(|| usage_error(&arg));
                    let Some((name, value)) = value.split_once('=') else {
                        usage_error(&format!("{arg} {value}"));
                    };
                    options
                        .jwt_options
                        .push(format!("plugin_opt_{name} {value}"));
                }
                "--same-token" => options.same_token = true,
                "--no-pin" => options.pin = false,
                "--callgrind" => options.callgrind = true,
                "--no-callgrind" => options.callgrind = false,
                "--help" | "-h" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                _ => usage_error(&arg),
            }
        }
        options
    }
}

fn usage_error(what: &str) -> ! {
    eprintln!("broker_bench: bad argument {what:?}\n{USAGE}");
    std::process::exit(2);
}

// ---------------------------------------------------------------------------------------
// The three brokers

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    /// No plugin: anonymous access, no ACL check at all.
    Bare,
    Jwt,
    Dynsec,
}

const SETUPS: [Setup; 3] = [Setup::Bare, Setup::Jwt, Setup::Dynsec];

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::Bare => "no plugin",
            Setup::Jwt => "jwt-auth",
            Setup::Dynsec => "dynsec",
        }
    }

    fn index(self) -> usize {
        SETUPS.iter().position(|s| *s == self).unwrap()
    }
}

fn mosquitto_binary() -> String {
    std::env::var("MOSQUITTO_BIN").unwrap_or_else(|_| "/usr/sbin/mosquitto".into())
}

fn dynsec_plugin() -> String {
    std::env::var("DYNSEC_PLUGIN")
        .unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so".into())
}

/// The release plugin cargo built with this example: `target/release/examples/..`.
fn jwt_plugin() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let release = exe.parent().and_then(Path::parent).expect("target/release");
    let plugin = release.join("libmosquitto_jwt_auth.so");
    assert!(
        plugin.is_file(),
        "{} missing: cargo build --release --lib",
        plugin.display()
    );
    plugin
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// How to run a broker beyond its setup.
#[derive(Default)]
struct Launch {
    /// Under callgrind, writing to this file.
    callgrind_out: Option<PathBuf>,
    extra_lines: Vec<String>,
}

fn render_config(setup: Setup, port: u16, dynsec_file: &Path, launch: &Launch) -> String {
    let mut conf = vec![
        format!("listener {port} 127.0.0.1"),
        "persistence false".into(),
        // Logging costs the broker time on every connection; only failures are worth it.
        "log_dest stderr".into(),
        "log_type error".into(),
        // The default limit of 1000 queued messages per client would drop QoS 1 messages
        // to a subscriber that falls behind, and the run would never complete.
        "max_queued_messages 0".into(),
        format!("allow_anonymous {}", setup == Setup::Bare),
    ];
    // Run as root, mosquitto would switch to the `mosquitto` user, which may not read
    // the temporary directory.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        conf.push("user root".into());
    }
    match setup {
        Setup::Bare => {}
        Setup::Jwt => conf.extend([
            format!("plugin {}", jwt_plugin().display()),
            "plugin_opt_algorithm HS256,RS256".into(),
            format!("plugin_opt_secret_key {SECRET}"),
            format!("plugin_opt_public_key_file {}", fixture("rsa.pub.pem")),
        ]),
        Setup::Dynsec => conf.extend([
            format!("plugin {}", dynsec_plugin()),
            format!("plugin_opt_config_file {}", dynsec_file.display()),
        ]),
    }
    conf.extend(launch.extra_lines.iter().cloned());
    conf.join("\n") + "\n"
}

/// A running `mosquitto` on a free loopback port, killed on drop.
struct Broker {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    under_callgrind: bool,
}

/// A broker that exited before it listened, and what it logged.
struct StartFailure(String);

impl Broker {
    /// Starts mosquitto with the configuration `conf` writes for a port, given the
    /// broker's own directory.
    fn start(
        conf: impl Fn(u16, &Path) -> String,
        callgrind_out: Option<&Path>,
        cpu: Option<usize>,
    ) -> Broker {
        // Another program may take the port between our probe and the broker's bind.
        for _ in 0..5 {
            match Broker::try_start(&conf, callgrind_out, cpu) {
                Ok(broker) => return broker,
                Err(StartFailure(log)) if log.contains("Address already in use") => continue,
                Err(StartFailure(log)) => panic!("mosquitto did not start:\n{log}"),
            }
        }
        panic!("no free port for mosquitto");
    }

    fn try_start(
        conf: &impl Fn(u16, &Path) -> String,
        callgrind_out: Option<&Path>,
        cpu: Option<usize>,
    ) -> Result<Broker, StartFailure> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port();
        let conf_file = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_file, conf(port, dir.path())).unwrap();
        let log = File::create(dir.path().join("broker.log")).unwrap();
        let mut command = match callgrind_out {
            Some(out) => {
                let mut command = Command::new("valgrind");
                command
                    .arg("--tool=callgrind")
                    .arg(format!("--callgrind-out-file={}", out.display()))
                    .arg(mosquitto_binary());
                command
            }
            None => Command::new(mosquitto_binary()),
        };
        if let Some(cpu) = cpu {
            // SAFETY: the closure only makes a system call, which is safe after fork.
            unsafe { command.pre_exec(move || pin_to_cpus(&[cpu])) };
        }
        let child = command
            .arg("-c")
            .arg(&conf_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", mosquitto_binary()));
        let mut broker = Broker {
            child,
            port,
            dir,
            under_callgrind: callgrind_out.is_some(),
        };
        broker.wait_until_listening()?;
        Ok(broker)
    }

    fn wait_until_listening(&mut self) -> Result<(), StartFailure> {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return Err(StartFailure(self.log()));
            }
            if TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto not listening after {PATIENCE:?}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    fn cpu(&self) -> CpuTime {
        CpuTime {
            clock: process_cpu_clock(self.pid()),
            stat: proc_stat_cpu(self.pid()),
        }
    }

    /// Marks the start of a timed phase: under callgrind, counting starts from zero here.
    fn begin_timed_phase(&self) -> CpuTime {
        if self.under_callgrind {
            self.callgrind_command("zero");
        }
        self.cpu()
    }

    /// Marks its end: under callgrind, the counts so far go to `<out file>.1`.
    fn end_timed_phase(&self) -> CpuTime {
        if self.under_callgrind {
            self.callgrind_command("dump");
        }
        self.cpu()
    }

    /// What `callgrind_control` does, through valgrind's gdbserver.
    fn callgrind_command(&self, command: &str) {
        let output = Command::new("vgdb")
            .arg(format!("--pid={}", self.pid()))
            .arg(command)
            .output()
            .expect("vgdb (package valgrind)");
        assert!(
            output.status.success(),
            "vgdb {command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Waits until the broker has finished the work of the previous run (closing its
    /// clients' connections), which would otherwise be counted in the next.
    fn wait_until_idle(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let before = self.cpu().clock;
            thread::sleep(Duration::from_millis(50));
            if self.cpu().clock - before < 0.001 {
                return;
            }
            assert!(Instant::now() < deadline, "mosquitto busy for {PATIENCE:?}");
        }
    }

    /// Stops the broker as an operator would, so that it (and callgrind) can write out.
    fn stop(mut self) {
        // SAFETY: kill has no memory preconditions; the pid is our unreaped child's.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + PATIENCE;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "mosquitto ignored SIGTERM for {PATIENCE:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Pins the calling process (or thread, and what it starts later) to `cpus`.
fn pin_to_cpus(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain bits; CPU_SET stays within it for any CPU number below
    // CPU_SETSIZE, and sched_setaffinity reads exactly its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: as in pin_to_cpus; CPU_ISSET reads within the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Keeps the broker on a CPU of its own and the clients on the others. Unpinned, the
/// broker's CPU per QoS 0 delivery came out at 4 or at 10 µs from run to run on a 2-CPU
/// VM: waking a subscriber on the other CPU costs the sender far more than one on its
/// own, and the scheduler decides which happens.
fn pin_broker_apart() -> Option<(usize, Vec<usize>)> {
    let mut clients = allowed_cpus();
    let broker = clients.pop()?;
    if clients.is_empty() {
        return None;
    }
    pin_to_cpus(&clients).expect("sched_setaffinity");
    Some((broker, clients))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.local_addr().unwrap().port()
}

/// A broker's CPU time (user + system) in seconds, read two ways.
#[derive(Clone, Copy, Default)]
struct CpuTime {
    /// The kernel's exact figure, through the process's CPU-time clock.
    clock: f64,
    /// `utime + stime` of /proc/<pid>/stat: the same quantity, in clock ticks (10 ms).
    stat: f64,
}

impl std::ops::Sub for CpuTime {
    type Output = CpuTime;
    fn sub(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            clock: self.clock - earlier.clock,
            stat: self.stat - earlier.stat,
        }
    }
}

fn process_cpu_clock(pid: libc::pid_t) -> f64 {
    let mut clock: libc::clockid_t = 0;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both pointers are to live locals of the right types.
    let ok = unsafe {
        libc::clock_getcpuclockid(pid, &mut clock) == 0 && libc::clock_gettime(clock, &mut now) == 0
    };
    assert!(ok, "no CPU clock for pid {pid}");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

fn proc_stat_cpu(pid: libc::pid_t) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The command name, in parentheses, may hold spaces; fields are counted after it.
    let after_name = &stat[stat.rfind(')').expect("stat format") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); the first after the name is field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks as f64 / per_second as f64
}

// ---------------------------------------------------------------------------------------
// Dynamic security: clients with passwords, roles with the benchmark's rights

/// Brokers of each setup. Every dynsec broker starts from a copy of one configuration,
/// made once: a fresh one per broker would differ in its random salts, and through them in
/// the broker's memory layout, which callgrind's counts would show.
struct Brokers {
    dynsec_dir: tempfile::TempDir,
    /// The CPU every broker is pinned to, if any.
    cpu: Option<usize>,
    /// Extra configuration lines of jwt-auth brokers.
    jwt_options: Vec<String>,
}

impl Brokers {
    fn prepare(cpu: Option<usize>, jwt_options: Vec<String>) -> Brokers {
        let dynsec_dir = tempfile::tempdir().expect("temporary directory");
        let template = dynsec_dir.path().join("dynamic-security.json");
        dynsec_init(&template);
        let launch = Launch::default();
        let broker = Broker::start(
            |port, _| render_config(Setup::Dynsec, port, &template, &launch),
            None,
            None,
        );
        dynsec_grant_bench_rights(broker.port);
        broker.stop();
        Brokers {
            dynsec_dir,
            cpu,
            jwt_options,
        }
    }

    fn dynsec_template(&self) -> PathBuf {
        self.dynsec_dir.path().join("dynamic-security.json")
    }

    fn start(&self, setup: Setup, launch: &Launch) -> Broker {
        let conf = |port, dir: &Path| {
            // dynsec saves its configuration when it changes: each broker gets a copy.
            let dynsec_file = dir.join("dynamic-security.json");
            if setup == Setup::Dynsec {
                std::fs::copy(self.dynsec_template(), &dynsec_file).expect("dynsec copy");
            }
            let mut conf = render_config(setup, port, &dynsec_file, launch);
            if setup == Setup::Jwt {
                conf.extend(self.jwt_options.iter().map(|line| format!("{line}\n")));
            }
            conf
        };
        Broker::start(conf, launch.callgrind_out.as_deref(), self.cpu)
    }
}

fn dynsec_init(file: &Path) {
    let output = Command::new("mosquitto_ctrl")
        .args(["dynsec", "init"])
        .arg(file)
        .args(["admin", DYNSEC_ADMIN_PASSWORD])
        .output()
        .expect("mosquitto_ctrl (package mosquitto-clients)");
    assert!(
        output.status.success() && file.is_file(),
        "mosquitto_ctrl dynsec init failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The same rights as the tokens carry: the publisher may publish to `bench/#`,
/// subscribers and connecting clients may subscribe to and receive `bench/#`.
fn dynsec_grant_bench_rights(port: u16) {
    let commands = [
        "createRole bench-pub".to_owned(),
        "addRoleACL bench-pub publishClientSend bench/# allow".into(),
        "createRole bench-sub".into(),
        "addRoleACL bench-sub subscribePattern bench/# allow".into(),
        "addRoleACL bench-sub publishClientReceive bench/# allow".into(),
        format!("createClient bench-pub -p {PASSWORD}"),
        "addClientRole bench-pub bench-pub".into(),
        format!("createClient bench-sub -p {PASSWORD}"),
        "addClientRole bench-sub bench-sub".into(),
        format!("createClient bench-conn -p {PASSWORD}"),
        "addClientRole bench-conn bench-sub".into(),
    ];
    for command in commands {
        dynsec_command(port, &command.split_whitespace().collect::<Vec<_>>());
    }
}

fn dynsec_command(port: u16, command: &[&str]) {
    let output = Command::new("mosquitto_ctrl")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-u", "admin", "-P", DYNSEC_ADMIN_PASSWORD, "dynsec"])
        .args(command)
        .output()
        .expect("mosquitto_ctrl (package mosquitto-clients)");
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    // mosquitto_ctrl reports a refused command on stdout and may still exit with 0.
    assert!(
        output.status.success() && !said.contains("Error"),
        "mosquitto_ctrl dynsec {}: {said}",
        command.join(" ")
    );
}

/// PBKDF2 iterations dynsec runs for each CONNECT of `user`, from its saved configuration.
fn dynsec_iterations(file: &Path, user: &str) -> Option<u64> {
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    config["clients"]
        .as_array()?
        .iter()
        .find(|client| client["username"] == user)?["iterations"]
        .as_u64()
}

// ---------------------------------------------------------------------------------------
// Who connects, with what

#[derive(Clone)]
struct Login {
    user: String,
    password: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Alg {
    Hs256,
    Rs256,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Rs256 => "RS256",
        }
    }
}

/// Every token the JWT broker is sent, made before anything is timed.
struct Tokens {
    publisher: String,
    subscribers: Vec<String>,
    connect_hs256: Vec<String>,
    connect_rs256: Vec<String>,
}

/// The rights of a token, as the README names the claims.
#[derive(Clone, Copy)]
enum Rights {
    Publish,
    SubscribeAndReceive,
}

fn token(key: &EncodingKey, algorithm: Algorithm, user: &str, rights: Rights, jti: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 86_400;
    let mut claims = json!({ "username": user, "exp": exp, "jti": jti });
    match rights {
        Rights::Publish => claims["publish_acl"] = json!(["bench/#"]),
        Rights::SubscribeAndReceive => {
            claims["subscribe_acl"] = json!(["bench/#"]);
            claims["receive_acl"] = json!(["bench/#"]);
        }
    }
    jsonwebtoken::encode(&Header::new(algorithm), &claims, key).expect("token signed")
}

impl Tokens {
    fn make(options: &Options) -> Tokens {
        let hmac = EncodingKey::from_secret(SECRET.as_bytes()).expect("HMAC key");
        let rsa_pem = std::fs::read(fixture("rsa.pem")).expect("RSA fixture key");
        let rsa = EncodingKey::from_rsa_pem(&rsa_pem).expect("RSA private key");
        let subscribers =
            (options.callgrind_subscribers.iter().copied()).fold(options.subscribers, usize::max);
        let connect_tokens = if options.same_token {
            1
        } else {
            options.connects.max(2 * options.callgrind_connects)
        };
        // Distinct tokens (by jti), so that no cache in the plugin could spare it the work.
        let tokens = |key: &EncodingKey, algorithm, user: &str, count: usize| -> Vec<String> {
            (0..count)
                .map(|i| {
                    let jti = format!("{user}-{i}");
                    token(key, algorithm, user, Rights::SubscribeAndReceive, &jti)
                })
                .collect()
        };
        Tokens {
            publisher: token(&hmac, Algorithm::HS256, "bench-pub", Rights::Publish, "pub"),
            subscribers: tokens(&hmac, Algorithm::HS256, "bench-sub", subscribers),
            connect_hs256: tokens(&hmac, Algorithm::HS256, "bench-conn", connect_tokens),
            connect_rs256: tokens(&rsa, Algorithm::RS256, "bench-conn", connect_tokens),
        }
    }
}

/// The logins each client uses against one setup.
struct Logins {
    publisher: Login,
    subscribers: Vec<Login>,
    connect_hs256: Vec<Login>,
    connect_rs256: Vec<Login>,
}

impl Logins {
    fn for_setup(setup: Setup, tokens: &Tokens) -> Logins {
        let login = |user: &str, token: &String| Login {
            user: user.into(),
            password: match setup {
                Setup::Jwt | Setup::Bare => token.clone(),
                Setup::Dynsec => PASSWORD.into(),
            },
        };
        let all = |user: &str, tokens: &[String]| tokens.iter().map(|t| login(user, t)).collect();
        Logins {
            publisher: login("bench-pub", &tokens.publisher),
            subscribers: all("bench-sub", &tokens.subscribers),
            connect_hs256: all("bench-conn", &tokens.connect_hs256),
            connect_rs256: all("bench-conn", &tokens.connect_rs256),
        }
    }

    fn connecting(&self, alg: Alg) -> &[Login] {
        match alg {
            Alg::Hs256 => &self.connect_hs256,
            Alg::Rs256 => &self.connect_rs256,
        }
    }
}

// ---------------------------------------------------------------------------------------
// MQTT clients (blocking rumqttc, MQTT 3.1.1)

/// Connects and waits for the CONNACK; rumqttc gives up after its 5 s connection timeout.
fn connect(port: u16, id: &str, login: &Login) -> Result<(Client, Connection), String> {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_credentials(login.user.clone(), login.password.clone());
    options.set_keep_alive(Duration::from_secs(60));
    let (client, mut connection) = Client::new(options, 1000);
    // Without it, a lone small packet can wait for a delayed ACK (40 ms on Linux), which
    // would make the lockstep runs measure the kernel's timer.
    let mut network = connection.eventloop.network_options();
    network.set_tcp_nodelay(true);
    connection.eventloop.set_network_options(network);
    match connection.recv() {
        Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) if ack.code == ConnectReturnCode::Success => {
            Ok((client, connection))
        }
        other => Err(format!("{id}: no CONNACK success: {other:?}")),
    }
}

/// Pumps the connection until `done` accepts an event.
fn pump_until(
    connection: &mut Connection,
    mut done: impl FnMut(&Event) -> bool,
) -> Result<(), String> {
    loop {
        match connection.recv_timeout(PATIENCE) {
            Ok(Ok(event)) if done(&event) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(RecvTimeoutError::Timeout) => return Err(format!("nothing for {PATIENCE:?}")),
            Err(RecvTimeoutError::Disconnected) => return Err("requests closed".into()),
        }
    }
}

fn disconnect(client: Client, mut connection: Connection) {
    let _ = client.disconnect();
    let _ = pump_until(&mut connection, |e| {
        matches!(e, Event::Outgoing(Outgoing::Disconnect))
    });
}

/// A count that threads add to and the main thread waits on, or a failure to report.
#[derive(Default)]
struct Tally {
    state: Mutex<(usize, Option<String>)>,
    changed: Condvar,
}

impl Tally {
    fn add(&self, n: usize) {
        self.state.lock().unwrap().0 += n;
        self.changed.notify_all();
    }

    fn fail(&self, why: String) {
        self.state.lock().unwrap().1.get_or_insert(why);
        self.changed.notify_all();
    }

    /// Waits until the count reaches `target`; fails on a reported failure, or after
    /// PATIENCE without progress (a lost message never arrives).
    fn wait_for(&self, target: usize, what: &str) -> Result<(), String> {
        let mut state = self.state.lock().unwrap();
        let mut seen = state.0;
        let mut deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(why) = &state.1 {
                return Err(why.clone());
            }
            if state.0 >= target {
                return Ok(());
            }
            if state.0 != seen {
                seen = state.0;
                deadline = Instant::now() + PATIENCE;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{what}: {seen} of {target} after {PATIENCE:?} without progress"
                ));
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }
}

/// What the threads of one fan-out run report to the main thread.
#[derive(Default)]
struct FanOutProgress {
    subscribed: Tally,
    delivered: Tally,
    publisher_done: Tally,
    stop: Tally,
}

impl FanOutProgress {
    fn fail(&self, why: String) {
        for tally in [&self.subscribed, &self.delivered, &self.publisher_done] {
            tally.fail(why.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy)]
enum Scenario {
    FanOut(QoS),
    Connect(Alg),
}

const SCENARIOS: [Scenario; 4] = [
    Scenario::FanOut(QoS::AtMostOnce),
    Scenario::FanOut(QoS::AtLeastOnce),
    Scenario::Connect(Alg::Hs256),
    Scenario::Connect(Alg::Rs256),
];

/// One timed run: broker CPU and wall time for `units` deliveries or CONNECTs.
#[derive(Clone, Copy, Default)]
struct Measured {
    cpu: CpuTime,
    wall: f64,
    units: usize,
}

impl Measured {
    fn cpu_us_per_unit(&self) -> f64 {
        self.cpu.clock * 1e6 / self.units as f64
    }

    fn units_per_second(&self) -> f64 {
        self.units as f64 / self.wall
    }
}

struct FanOut {
    messages: usize,
    subscribers: usize,
    qos: QoS,
    pacing: Pacing,
}

#[derive(Clone, Copy)]
enum Pacing {
    /// Each message is published once every subscriber has the one before, so that the
    /// broker does the same work in the same order whatever the timing (for callgrind).
    Lockstep,
    /// In bursts of this many messages, each published once every subscriber has the
    /// burst before the previous one.
    Bursts(usize),
}

impl Pacing {
    /// How many messages a subscriber takes before it reports them.
    fn burst(self) -> usize {
        match self {
            Pacing::Lockstep => 1,
            Pacing::Bursts(n) => n,
        }
    }

    /// How many messages every subscriber must have before message `i` is published.
    fn delivered_before(self, i: usize) -> usize {
        match self {
            Pacing::Lockstep => i,
            Pacing::Bursts(n) => (i / n).saturating_sub(1) * n,
        }
    }
}

/// One publisher, `subscribers` subscribers to `bench/#` (at QoS 1, so a QoS 1 publish is
/// delivered at QoS 1). Timed from the first publish until every subscriber has every
/// message and, at QoS 1, the publisher every PUBACK.
fn fan_out(broker: &Broker, plan: &FanOut, logins: &Logins) -> Measured {
    let progress = Arc::new(FanOutProgress::default());
    let step = plan.pacing.burst();
    let check = |result: Result<(), String>| {
        if let Err(why) = result {
            panic!("fan-out to {} subscribers: {why}", plan.subscribers)
        }
    };
    let mut threads = Vec::new();
    // One after another, so that the broker allocates and orders its clients the same way
    // in every run: callgrind's counts then repeat exactly (string compares cost more or
    // less depending on where the strings lie).
    for (i, login) in logins.subscribers[..plan.subscribers].iter().enumerate() {
        let (shared, login, port) = (progress.clone(), login.clone(), broker.port);
        let expected = plan.messages;
        threads.push(thread::spawn(move || {
            let progress = shared;
            let id = format!("sub-{i}");
            if let Err(why) = subscribe_and_count(port, &id, &login, expected, step, &progress) {
                progress.fail(format!("subscriber {id}: {why}"));
            }
        }));
        check(progress.subscribed.wait_for(i + 1, "subscriptions"));
    }
    let (publisher, connection) =
        connect(broker.port, "pub", &logins.publisher).unwrap_or_else(|why| panic!("{why}"));
    threads.push(spawn_publisher_pump(
        publisher.clone(),
        connection,
        plan,
        progress.clone(),
    ));

    let payload = vec![b'x'; PAYLOAD_BYTES];
    let start = (broker.begin_timed_phase(), Instant::now());
    for i in 0..plan.messages {
        let before = plan.pacing.delivered_before(i) * plan.subscribers;
        check(progress.delivered.wait_for(before, "deliveries"));
        let sent = publisher.publish(TOPIC, plan.qos, false, payload.clone());
        check(sent.map_err(|e| e.to_string()));
    }
    let deliveries = plan.messages * plan.subscribers;
    check(progress.delivered.wait_for(deliveries, "deliveries"));
    check(progress.publisher_done.wait_for(1, "publisher"));
    let measured = Measured {
        cpu: broker.end_timed_phase() - start.0,
        wall: start.1.elapsed().as_secs_f64(),
        units: deliveries,
    };
    progress.stop.add(1);
    for thread in threads {
        let _ = thread.join();
    }
    measured
}

fn subscribe_and_count(
    port: u16,
    id: &str,
    login: &Login,
    expected: usize,
    step: usize,
    progress: &FanOutProgress,
) -> Result<(), String> {
    let (client, mut connection) = connect(port, id, login)?;
    client
        .subscribe("bench/#", QoS::AtLeastOnce)
        .map_err(|e| e.to_string())?;
    let mut granted = true;
    pump_until(&mut connection, |event| match event {
        Event::Incoming(Packet::SubAck(ack)) => {
            granted = matches!(ack.return_codes[..], [SubscribeReasonCode::Success(_)]);
            true
        }
        _ => false,
    })?;
    if !granted {
        return Err("subscription to bench/# refused".into());
    }
    progress.subscribed.add(1);
    let mut received = 0;
    pump_until(&mut connection, |event| {
        if matches!(event, Event::Incoming(Packet::Publish(_))) {
            received += 1;
            if received % step == 0 {
                progress.delivered.add(step);
            } else if received == expected {
                progress.delivered.add(received % step);
            }
        }
        received == expected
    })
    .map_err(|why| format!("{why} after {received} of {expected} messages"))?;
    // Stay connected until every subscriber is done, so no disconnect is timed.
    let _ = progress.stop.wait_for(1, "stop");
    disconnect(client, connection);
    Ok(())
}

/// Drives the publisher's connection: done when every message has left (QoS 0) or been
/// acknowledged (QoS 1).
fn spawn_publisher_pump(
    publisher: Client,
    mut connection: Connection,
    plan: &FanOut,
    progress: Arc<FanOutProgress>,
) -> thread::JoinHandle<()> {
    let (messages, qos) = (plan.messages, plan.qos);
    thread::spawn(move || {
        let mut count = 0;
        let finished = pump_until(&mut connection, |event| {
            let counted = match qos {
                QoS::AtMostOnce => matches!(event, Event::Outgoing(Outgoing::Publish(_))),
                _ => matches!(event, Event::Incoming(Packet::PubAck(_))),
            };
            count += usize::from(counted);
            count == messages
        });
        match finished {
            Ok(()) => progress.publisher_done.add(1),
            Err(why) => progress.fail(format!("publisher: {why} after {count} of {messages}")),
        }
        let _ = progress.stop.wait_for(1, "stop");
        disconnect(publisher, connection);
    })
}

/// `connects` clients in turn, `parallel` at a time: CONNECT, CONNACK, DISCONNECT.
fn connect_storm(broker: &Broker, logins: &[Login], connects: usize, parallel: usize) -> Measured {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let failure = Mutex::new(None);
    let start = (broker.begin_timed_phase(), Instant::now());
    thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= connects {
                        break;
                    }
                    match connect(broker.port, &format!("conn-{i}"), &logins[i % logins.len()]) {
                        Ok((client, connection)) => disconnect(client, connection),
                        Err(why) => {
                            failed.store(true, Ordering::Relaxed);
                            failure.lock().unwrap().get_or_insert(why);
                        }
                    }
                }
            });
        }
    });
    if let Some(why) = failure.into_inner().unwrap() {
        panic!("CONNECT run: {why}");
    }
    Measured {
        cpu: broker.end_timed_phase() - start.0,
        wall: start.1.elapsed().as_secs_f64(),
        units: connects,
    }
}

fn run_scenario(
    broker: &Broker,
    scenario: Scenario,
    options: &Options,
    logins: &Logins,
) -> Measured {
    match scenario {
        Scenario::FanOut(qos) => {
            let plan = FanOut {
                messages: options.messages,
                subscribers: options.subscribers,
                qos,
                pacing: Pacing::Bursts(options.burst),
            };
            fan_out(broker, &plan, logins)
        }
        Scenario::Connect(alg) => connect_storm(
            broker,
            logins.connecting(alg),
            options.connects,
            options.connect_parallel,
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Rounds

/// Figures by round, setup and scenario.
type Results = Vec<[[Measured; SCENARIOS.len()]; SETUPS.len()]>;

/// Every setup once per round, each on a fresh broker; the order rotates from round to
/// round so that no setup always runs first (on a cold machine) or last.
fn run_rounds(options: &Options, brokers: &Brokers, all_logins: &[Logins; 3]) -> Results {
    let mut results: Results = Vec::new();
    for round in 0..options.rounds {
        let mut figures = [[Measured::default(); SCENARIOS.len()]; SETUPS.len()];
        for k in 0..SETUPS.len() {
            let setup = SETUPS[(round + k) % SETUPS.len()];
            let broker = brokers.start(setup, &Launch::default());
            for (s, scenario) in SCENARIOS.into_iter().enumerate() {
                broker.wait_until_idle();
                figures[setup.index()][s] =
                    run_scenario(&broker, scenario, options, &all_logins[setup.index()]);
            }
            drop(broker);
            eprintln!(
                "round {}/{}, {:>9}: {}",
                round + 1,
                options.rounds,
                setup.name(),
                figures[setup.index()]
                    .iter()
                    .map(|m| format!(
                        "{:.2} µs {:.0}/s",
                        m.cpu_us_per_unit(),
                        m.units_per_second()
                    ))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        results.push(figures);
    }
    results
}

// ---------------------------------------------------------------------------------------
// Callgrind: instructions per delivered message

fn callgrind_run(
    brokers: &Brokers,
    setup: Setup,
    work: CallgrindWork,
    count: usize,
    logins: &Logins,
    out: &Path,
) -> u64 {
    let launch = Launch {
        callgrind_out: Some(out.to_owned()),
        // The broker's writes to subscribers must not wait for delayed ACKs either.
        extra_lines: vec!["set_tcp_nodelay true".into()],
    };
    let broker = brokers.start(setup, &launch);
    match work {
        CallgrindWork::Deliveries { subscribers } => {
            let plan = FanOut {
                messages: count,
                subscribers,
                qos: QoS::AtMostOnce,
                pacing: Pacing::Lockstep,
            };
            fan_out(&broker, &plan, logins);
        }
        // One client at a time, so that the broker sees the same sequence in every run.
        CallgrindWork::Connects(alg) => {
            connect_storm(&broker, logins.connecting(alg), count, 1);
        }
    }
    broker.stop();
    callgrind_total(&PathBuf::from(format!("{}.1", out.display())))
}

/// The `summary:` (or `totals:`) line of a callgrind out file: instructions executed.
fn callgrind_total(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no summary line in {}", out.display()))
}

/// What a callgrind run does, N or 2N times.
#[derive(Clone, Copy, PartialEq)]
enum CallgrindWork {
    /// Messages, each delivered to this many subscribers.
    Deliveries { subscribers: usize },
    /// CONNECTs with tokens of this algorithm (the same password otherwise).
    Connects(Alg),
}

impl CallgrindWork {
    /// Units of work per count: deliveries per message, or one per CONNECT.
    fn units(self) -> usize {
        match self {
            CallgrindWork::Deliveries { subscribers } => subscribers,
            CallgrindWork::Connects(_) => 1,
        }
    }

    fn file_tag(self) -> String {
        match self {
            CallgrindWork::Deliveries { subscribers } => format!("{subscribers}x"),
            CallgrindWork::Connects(alg) => format!("connect-{}-", alg.name().to_lowercase()),
        }
    }
}

struct CallgrindFigure {
    setup: Setup,
    work: CallgrindWork,
    short: u64,
    long: u64,
    per_unit: f64,
}

/// Kept for `callgrind_annotate`: `target/broker-bench`, next to `target/release`.
fn callgrind_dir() -> PathBuf {
    let release = jwt_plugin().parent().unwrap().to_owned();
    let dir = release.parent().unwrap().join("broker-bench");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Ir(2N) - Ir(N) leaves only the work of N more messages (or CONNECTs): start-up,
/// connections and shutdown cancel out. One figure per configuration and kind of work.
fn callgrind_figures(
    options: &Options,
    brokers: &Brokers,
    all_logins: &[Logins; 3],
) -> Vec<CallgrindFigure> {
    let mut runs = Vec::new();
    for &subscribers in &options.callgrind_subscribers {
        for setup in SETUPS {
            let work = CallgrindWork::Deliveries { subscribers };
            runs.push((setup, work, options.callgrind_messages));
        }
    }
    // Without the plugin the algorithm only changes the password's bytes.
    for (setup, alg) in [
        (Setup::Bare, Alg::Hs256),
        (Setup::Jwt, Alg::Hs256),
        (Setup::Jwt, Alg::Rs256),
        (Setup::Dynsec, Alg::Hs256),
    ] {
        runs.push((
            setup,
            CallgrindWork::Connects(alg),
            options.callgrind_connects,
        ));
    }
    let dir = callgrind_dir();
    let mut figures = Vec::new();
    for (setup, work, n) in runs {
        let logins = &all_logins[setup.index()];
        let out = |m: usize| {
            let name = format!("callgrind.{:?}.{}{m}", setup, work.file_tag()).to_lowercase();
            dir.join(name)
        };
        let short = callgrind_run(brokers, setup, work, n, logins, &out(n));
        let long = callgrind_run(brokers, setup, work, 2 * n, logins, &out(2 * n));
        let per_unit = (long as f64 - short as f64) / (n * work.units()) as f64;
        eprintln!(
            "callgrind, {:>9}, {}: Ir({n}) {short}, Ir({}) {long}",
            setup.name(),
            work.file_tag(),
            2 * n
        );
        figures.push(CallgrindFigure {
            setup,
            work,
            short,
            long,
            per_unit,
        });
    }
    figures
}

// ---------------------------------------------------------------------------------------
// Report

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// A 95 % confidence interval of the median, from order statistics alone, so that it
/// assumes nothing of how rounds spread: the k-th smallest and the k-th largest of the n
/// values, for the largest k with P(Binomial(n, 1/2) < k) ≤ 2.5 %. None for fewer than 6
/// values, too few for one.
fn median_interval(values: &[f64]) -> Option<(f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mut k = 0;
    let mut below = 0.0;
    // ln(C(n, j) / 2^n), from j = 0 up: as a logarithm, since 2^-n is below the smallest
    // double from n = 1075 on.
    let mut ln_term = -(n as f64) * std::f64::consts::LN_2;
    for j in 0..n {
        below += ln_term.exp();
        if below > 0.025 {
            break;
        }
        k = j + 1;
        ln_term += ((n - j) as f64 / (j + 1) as f64).ln();
    }
    (k >= 1).then(|| (sorted[k - 1], sorted[n - k]))
}

fn machine_description() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let version = Command::new(mosquitto_binary())
        .arg("-h")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown mosquitto".into());
    vec![
        format!("- CPU: {model}, {cpus} CPUs available (nproc)"),
        format!(
            "- {version} ({}), Linux {}",
            mosquitto_binary(),
            kernel.trim()
        ),
    ]
}

/// What the table shows of each run.
#[derive(Clone, Copy)]
enum Figure {
    CpuPerUnit,
    Rate,
}

impl Figure {
    fn of(self, measured: &Measured) -> f64 {
        match self {
            Figure::CpuPerUnit => measured.cpu_us_per_unit(),
            Figure::Rate => measured.units_per_second(),
        }
    }

    fn label(self, scenario: Scenario) -> &'static str {
        match (self, scenario) {
            (Figure::CpuPerUnit, Scenario::FanOut(_)) => "broker CPU µs / delivered msg",
            (Figure::Rate, Scenario::FanOut(_)) => "delivered msgs / s",
            (Figure::CpuPerUnit, Scenario::Connect(_)) => "broker CPU µs / CONNECT",
            (Figure::Rate, Scenario::Connect(_)) => "CONNECTs / s",
        }
    }

    fn show(self, value: f64) -> String {
        match self {
            Figure::CpuPerUnit => format!("{value:.2}"),
            Figure::Rate => format!("{value:.0}"),
        }
    }
}

fn scenario_label(scenario: Scenario, options: &Options) -> String {
    let tokens = if options.same_token {
        "one token for all"
    } else {
        "a token per CONNECT"
    };
    match scenario {
        Scenario::FanOut(qos) => format!(
            "fan-out QoS {}: 1 → {} subscribers, {} msgs",
            qos as u8, options.subscribers, options.messages
        ),
        Scenario::Connect(alg) => format!(
            "CONNECT {}: {} × ({} at once), {tokens}",
            match alg {
                Alg::Hs256 => "HS256",
                Alg::Rs256 => "RS256",
            },
            options.connects,
            options.connect_parallel
        ),
    }
}

/// What the report says of the run beyond its figures.
struct RunNotes {
    /// Taken before the benchmark pins itself, which would change nproc.
    machine: Vec<String>,
    pinned: Option<(usize, Vec<usize>)>,
    /// Other work on the machine disturbs every figure but callgrind's.
    load_before: String,
    load_after: String,
    took: Duration,
}

fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_report(
    options: &Options,
    brokers: &Brokers,
    notes: &RunNotes,
    results: &Results,
    callgrind: &[CallgrindFigure],
) {
    println!("## Mosquitto with and without authentication plugins\n");
    for line in &notes.machine {
        println!("{line}");
    }
    println!(
        "- load average (1, 5, 15 min) before the run: {}, after: {}",
        notes.load_before, notes.load_after
    );
    println!(
        "- {} rounds; each round runs every configuration on a fresh broker, in rotating order; \
         medians of the rounds; \"×\" is the median of each round's ratio to the no-plugin \
         broker of the same round, with a 95 % confidence interval of that median (from the \
         order statistics; none under 6 rounds) and the range of the rounds",
        options.rounds
    );
    match &notes.pinned {
        Some((broker, clients)) => println!(
            "- each broker pinned to CPU {broker}, the benchmark's clients to CPUs {clients:?}"
        ),
        None => println!("- broker and clients not pinned to CPUs"),
    }
    if !options.jwt_options.is_empty() {
        println!(
            "- jwt-auth configured also with: {}",
            options.jwt_options.join(", ")
        );
    }
    println!(
        "- broker CPU = user + system time of the mosquitto process over the timed phase; \
         rate = wall clock, clients on the same machine"
    );
    println!();
    println!(
        "| scenario | figure | no plugin | jwt-auth | × [95 % CI] (range) | dynsec | \
         × [95 % CI] (range) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (s, scenario) in SCENARIOS.into_iter().enumerate() {
        for figure in [Figure::CpuPerUnit, Figure::Rate] {
            let values = |setup: Setup| -> Vec<f64> {
                results
                    .iter()
                    .map(|r| figure.of(&r[setup.index()][s]))
                    .collect()
            };
            let ratios = |setup: Setup| -> String {
                let ratios: Vec<f64> = (values(setup).iter().zip(values(Setup::Bare)))
                    .map(|(v, bare)| v / bare)
                    .collect();
                let (low, high) = ratios
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
                let interval = median_interval(&ratios)
                    .map_or("–".into(), |(l, h)| format!("{l:.2}–{h:.2}"));
                format!("{:.2} [{interval}] ({low:.2}–{high:.2})", median(ratios))
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                scenario_label(scenario, options),
                figure.label(scenario),
                figure.show(median(values(Setup::Bare))),
                figure.show(median(values(Setup::Jwt))),
                ratios(Setup::Jwt),
                figure.show(median(values(Setup::Dynsec))),
                ratios(Setup::Dynsec),
            );
        }
    }
    println!();
    println!(
        "- CONNECT without plugin: the jwt-auth clients' usernames and tokens sent, not \
         checked. dynsec checks the password with PBKDF2-SHA512, {} iterations, per CONNECT. \
         jwt-auth verifies the token's signature per CONNECT.",
        dynsec_iterations(&brokers.dynsec_template(), "bench-conn")
            .map_or("?".into(), |n| n.to_string())
    );
    let (clock, stat) = results
        .iter()
        .flatten()
        .flatten()
        .fold((0.0, 0.0), |(c, s), m| (c + m.cpu.clock, s + m.cpu.stat));
    println!(
        "- broker CPU over all timed phases: {clock:.2} s by the process CPU clock (used above), \
         {stat:.2} s by utime + stime of /proc/<pid>/stat (10 ms ticks)"
    );
    let n = options.callgrind_messages;
    for &subscribers in &options.callgrind_subscribers {
        let work = CallgrindWork::Deliveries { subscribers };
        let figures: Vec<&CallgrindFigure> = callgrind.iter().filter(|c| c.work == work).collect();
        if figures.is_empty() {
            continue;
        }
        println!(
            "\n### Instructions per delivered message (callgrind, fan-out QoS 0, 1 → {subscribers} \
             subscribers, lockstep)\n"
        );
        println!(
            "(Ir({}) − Ir({n})) / ({n} × {subscribers}), whole broker process\n",
            2 * n
        );
        print_callgrind_table(&figures, n, "msgs", "delivery");
    }
    let n = options.callgrind_connects;
    let figures: Vec<&CallgrindFigure> = callgrind
        .iter()
        .filter(|c| matches!(c.work, CallgrindWork::Connects(_)))
        .collect();
    if !figures.is_empty() {
        println!("\n### Instructions per CONNECT (callgrind, one client at a time)\n");
        let tokens = if options.same_token {
            "one token for all (so the token cache answers)"
        } else {
            "a token per CONNECT"
        };
        println!(
            "(Ir({}) − Ir({n})) / {n}, whole broker process; {tokens}. Instructions only: the \
             kernel's share of a CONNECT (accept, reads, writes, close) is not counted, so these \
             ratios are larger than the CPU ratios above; and they shift by some per cent from \
             run to run, as the loop passes a CONNECT takes depend on timing.\n",
            2 * n
        );
        print_callgrind_table(&figures, n, "CONNECTs", "CONNECT");
    }
    println!("\n(run took {:.0} s)", notes.took.as_secs_f64());
}

/// One callgrind table: each configuration's count and its ratio to the run without a
/// plugin. `n` is the shorter run's count of `counted` (messages or CONNECTs).
fn print_callgrind_table(figures: &[&CallgrindFigure], n: usize, counted: &str, unit: &str) {
    let base = figures
        .iter()
        .find(|c| c.setup == Setup::Bare)
        .map(|c| c.per_unit);
    println!(
        "| configuration | Ir({n} {counted}) | Ir({} {counted}) | instructions / {unit} | × |",
        2 * n
    );
    println!("|---|---:|---:|---:|---:|");
    for figure in figures {
        let name = match figure.work {
            CallgrindWork::Connects(alg) if figure.setup == Setup::Jwt => {
                format!("{} {}", figure.setup.name(), alg.name())
            }
            _ => figure.setup.name().to_owned(),
        };
        println!(
            "| {name} | {} | {} | {:.1} | {:.2} |",
            figure.short,
            figure.long,
            figure.per_unit,
            base.map_or(f64::NAN, |b| figure.per_unit / b)
        );
    }
}

fn main() {
    let options = Options::parse();
    let began = Instant::now();
    let (machine, load_before) = (machine_description(), load_average());
    eprintln!("making tokens");
    let tokens = Tokens::make(&options);
    let all_logins = SETUPS.map(|setup| Logins::for_setup(setup, &tokens));
    let pinned = if options.pin {
        pin_broker_apart()
    } else {
        None
    };
    let brokers = Brokers::prepare(
        pinned.as_ref().map(|(broker, _)| *broker),
        options.jwt_options.clone(),
    );
    let results = run_rounds(&options, &brokers, &all_logins);
    let callgrind = if options.callgrind {
        callgrind_figures(&options, &brokers, &all_logins)
    } else {
        Vec::new()
    };
    let notes = RunNotes {
        machine,
        pinned,
        load_before,
        load_after: load_average(),
        took: began.elapsed(),
    };
    print_report(&options, &brokers, &notes, &results, &callgrind);
}

#[cfg(test)]
mod tests {
    use super::median_interval;

    #[test]
    fn the_median_interval_comes_from_the_binomial_order_statistics() {
        let values: Vec<f64> = (1..=15).rev().map(f64::from).collect();
        // P(X ≤ 3) = 576 / 32768 ≈ 1.8 % ≤ 2.5 % < P(X ≤ 4) ≈ 5.9 %: the 4th of 15 each way.
        assert_eq!(median_interval(&values), Some((4.0, 12.0)));
        // 1 / 64 ≈ 1.6 %: six values give the whole range; 1 / 32 ≈ 3.1 %: five give none.
        assert_eq!(
            median_interval(&[6.0, 1.0, 5.0, 2.0, 4.0, 3.0]),
            Some((1.0, 6.0))
        );
        assert_eq!(median_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
        // 41 values: P(X ≤ 13) ≈ 1.4 % and P(X ≤ 14) ≈ 3.0 %, so the 14th each way.
        let many: Vec<f64> = (1..=41).map(f64::from).collect();
        assert_eq!(median_interval(&many), Some((14.0, 28.0)));
        // Past 1,074 values, where 2^-n underflows: P(X ≤ 517) ≈ 2.498 % for 1,100.
        let lots: Vec<f64> = (1..=1_100).map(f64::from).collect();
        assert_eq!(median_interval(&lots), Some((518.0, 583.0)));
    }
}
