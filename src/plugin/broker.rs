//! What the plugin logic needs from the broker, as a trait: the FFI layer implements it
//! with Mosquitto's functions, tests with a fake.

/// A connected (or offline, durable) client as the broker knows it: the address of its
/// `struct mosquitto`. Stable for one connection's life, and reused by the broker after
/// the client is freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

    /// The client's id, valid until the current callback returns.
    fn client_id(&self, client: Client) -> Option<&[u8]>;

    /// The client's username, valid until the current callback returns.
    fn client_username(&self, client: Client) -> Option<&[u8]>;

    /// True for an MQTT 3.x client with a clean session: nothing of it outlives its
    /// connection. (For MQTT 5 the broker does not tell.)
    fn session_ends_with_connection(&self, client: Client) -> bool;

    fn set_username(&self, client: Client, username: &str) -> Result<(), String>;

    /// Wall-clock time, Unix seconds.
    fn now(&self) -> f64;
}
