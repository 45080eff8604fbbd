//! A local identity provider over HTTPS, with its own certificate authority, whose answers
//! a test changes while the broker fetches from it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::PATIENCE;

/// How the provider answers a path.
#[derive(Clone, Debug)]
pub enum Reply {
    Json(String),
    /// An error status with an empty body, as from a provider that is down behind its
    /// proxy.
    Status(u16),
    /// 200 with a body that is not JSON, as from a captive portal or a broken proxy.
    Garbage,
    /// Holds the request without answering until [`Idp::release`].
    Hang,
    /// 302 to this location.
    Redirect(String),
    /// Closes the connection without answering, as a crashing server does.
    Close,
}

#[derive(Default)]
struct State {
    replies: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
    hanging: usize,
    /// Counts [`Idp::release`] calls: a held request waits for the count to change.
    releases: u64,
}

pub struct Idp {
    pub port: u16,
    /// The provider's CA certificate, for `jwks_ca_file`.
    pub ca_file: PathBuf,
    shared: Arc<(Mutex<State>, Condvar)>,
    _dir: tempfile::TempDir,
}

impl Idp {
    pub fn start() -> Idp {
        let dir = tempfile::tempdir().unwrap();
        let (ca_pem, server_config) = certificates();
        let ca_file = dir.path().join("idp-ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accepting);
                let config = Arc::clone(&server_config);
                std::thread::spawn(move || {
                    let _ = answer(stream, config, &shared);
                });
            }
        });
        Idp {
            port,
            ca_file,
            shared,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn serve(&self, path: &str, reply: Reply) {
        self.state().replies.insert(path.to_owned(), reply);
    }

    /// Requests seen for `path`, answered or not.
    pub fn hits(&self, path: &str) -> usize {
        self.state().hits.get(path).copied().unwrap_or(0)
    }

    pub fn wait_for_hits(&self, path: &str, n: usize) {
        self.wait(&format!("{n} requests for {path}"), |s| {
            s.hits.get(path).copied().unwrap_or(0) >= n
        });
    }

    /// Waits until `n` requests are held by [`Reply::Hang`].
    pub fn wait_for_hanging(&self, n: usize) {
        self.wait(&format!("{n} held requests"), |s| s.hanging >= n);
    }

    pub fn hanging(&self) -> usize {
        self.state().hanging
    }

    /// Lets the held requests go, closing them unanswered.
    pub fn release(&self) {
        let mut state = self.state();
        state.releases += 1;
        self.shared.1.notify_all();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap()
    }

    fn wait(&self, what: &str, done: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        let mut state = self.state();
        while !done(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the provider saw no {what} within {PATIENCE:?}"
            );
            state = self.shared.1.wait_timeout(state, left).unwrap().0;
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.release();
    }
}

/// A CA and a certificate for 127.0.0.1 and localhost signed by it, made fresh each run.
fn certificates() -> (String, Arc<ServerConfig>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "mosquitto-jwt-auth test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![server.der().clone(), ca.der().clone()];
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    (ca.pem(), Arc::new(config))
}

fn answer(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    shared: &(Mutex<State>, Condvar),
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(PATIENCE))?;
    let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), stream);
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
    let reply = {
        let mut state = shared.0.lock().unwrap();
        *state.hits.entry(path.clone()).or_default() += 1;
        shared.1.notify_all();
        state
            .replies
            .get(&path)
            .cloned()
            .unwrap_or(Reply::Status(404))
    };
    let mut location = String::new();
    let (status, body) = match reply {
        Reply::Json(body) => (200, body),
        Reply::Status(code) => (code, String::new()),
        Reply::Redirect(to) => {
            location = format!("Location: {to}\r\n");
            (302, String::new())
        }
        Reply::Garbage => (
            200,
            "<html><body>Sign in to the Wi-Fi</body></html>".to_owned(),
        ),
        Reply::Close => return Ok(()),
        Reply::Hang => {
            let mut state = shared.0.lock().unwrap();
            state.hanging += 1;
            shared.1.notify_all();
            let held_at = state.releases;
            while state.releases == held_at {
                state = shared
                    .1
                    .wait_timeout(state, Duration::from_secs(1))
                    .unwrap()
                    .0;
            }
            state.hanging -= 1;
            return Ok(());
        }
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{location}Connection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(response.as_bytes())?;
    tls.conn.send_close_notify();
    tls.flush()
}
