//! What the plugin logic needs from the broker, as a trait: the FFI layer implements it
//! with Mosquitto's functions, tests with a fake.

pub use super::admitted::{Admitted, PlainParts};

/// A connected (or offline, durable) client as the broker knows it: the address of its
/// `struct mosquitto`. Stable for one connection's life, and reused by the broker after
/// the client is freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Client(pub usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

pub trait Broker {
    fn log(&self, level: LogLevel, message: &str);

    /// The debug line of a client just admitted, on every CONNECT: a broker may leave it
    /// to be formatted only if it keeps debug lines.
    fn log_admitted(&self, line: &Admitted<'_>) {
        self.log(LogLevel::Debug, &line.to_string());
    }

    /// Reads the client's id. The bytes belong to the broker, so they are lent to `read`
    /// only: no later broker call can free them under a reference kept.
    fn with_client_id<R>(&self, client: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R;

    /// Reads the client's username, lent as for [`Broker::with_client_id`].
    fn with_client_username<R>(&self, client: Client, read: impl FnOnce(Option<&[u8]>) -> R) -> R;

    /// True for an MQTT 3.x client with a clean session: nothing of it outlives its
    /// connection. (For MQTT 5 the broker does not tell.)
    fn session_ends_with_connection(&self, client: Client) -> bool;

    fn set_username(&self, client: Client, username: &str) -> Result<(), String>;

    /// Disconnects the client with this id, publishing its will or not. The broker runs
    /// the plugin's DISCONNECT callback before this returns: hold no borrow across it.
    fn kick(&self, client_id: &[u8], with_will: bool) -> Result<(), String>;

    /// Wall-clock time, Unix seconds.
    fn now(&self) -> f64;

    /// Wall-clock time for the per-message expiry check, which runs for every delivery:
    /// may lag [`Broker::now`] by a few milliseconds if that makes it cheaper. Not for
    /// `iat` and `nbf`, which a token minted this very second must pass.
    fn now_for_messages(&self) -> f64 {
        self.now()
    }
}
