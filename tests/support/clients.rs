//! Blocking MQTT 5 and 3.1.1 clients (rumqttc) whose events a test can await in order.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// Why a client's event loop ended.
#[derive(Clone, Debug)]
enum Closed<C> {
    /// The broker refused the CONNECT with this code.
    Refused(C),
    Lost(String),
}

/// One step of a client's event loop; `C` is the protocol's CONNACK code.
enum Step<E, C> {
    Event(E),
    Closed(Closed<C>),
    Idle,
}

/// A client's events, pumped on a thread and kept until a test asks for them.
struct Events<E, C> {
    rx: Receiver<Result<E, Closed<C>>>,
    unread: RefCell<VecDeque<Result<E, Closed<C>>>>,
    stop: Arc<AtomicBool>,
    pump: Option<JoinHandle<()>>,
}

impl<E, C> Events<E, C>
where
    E: Send + std::fmt::Debug + 'static,
    C: Copy + Send + std::fmt::Debug + 'static,
{
    fn spawn(mut step: impl FnMut() -> Step<E, C> + Send + 'static) -> Events<E, C> {
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let pump = std::thread::spawn(move || {
            // The event loop (and with it the socket) is dropped when this returns.
            while !stopping.load(Ordering::Relaxed) {
                match step() {
                    Step::Event(event) => {
                        if tx.send(Ok(event)).is_err() {
                            return;
                        }
                    }
                    Step::Closed(why) => {
                        let _ = tx.send(Err(why));
                        return;
                    }
                    Step::Idle => {}
                }
            }
        });
        Events {
            rx,
            unread: RefCell::default(),
            stop,
            pump: Some(pump),
        }
    }

    /// The first event (oldest first) that `pick` accepts; the others stay unread.
    fn wait<T>(&self, what: &str, mut pick: impl FnMut(&Result<E, Closed<C>>) -> Option<T>) -> T {
        let mut unread = self.unread.borrow_mut();
        if let Some(i) = unread.iter().position(|e| pick(e).is_some()) {
            return pick(&unread.remove(i).unwrap()).unwrap();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {what} within {PATIENCE:?}; unread: {unread:?}"));
            if let Some(found) = pick(&event) {
                return found;
            }
            unread.push_back(event);
        }
    }

    /// The CONNACK: `Ok` with its code, or the broker's refusal as a code.
    fn connack(&self, code: impl Fn(&E) -> Option<C>) -> C {
        self.wait("CONNACK", |event| match event {
            Ok(event) => code(event),
            Err(Closed::Refused(refused)) => Some(*refused),
            Err(Closed::Lost(why)) => panic!("connection failed without a CONNACK: {why}"),
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
    }
}

impl<E, C> Drop for Events<E, C> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const POLL: Duration = Duration::from_millis(20);

pub mod v5 {
    use super::*;
    pub use rumqttc::v5::mqttbytes::QoS;
    pub use rumqttc::v5::mqttbytes::v5::{
        ConnectReturnCode, LastWill, Packet, PubAckReason, SubscribeReasonCode,
    };
    use rumqttc::v5::{Client, ConnectionError, Event, MqttOptions, RecvTimeoutError};

    pub fn options(port: u16, id: &str) -> MqttOptions {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30));
        options
    }

    pub fn login(port: u16, id: &str, user: &str, password: &str) -> MqttOptions {
        let mut options = options(port, id);
        options.set_credentials(user, password);
        options
    }

    /// A PUBACK that accepts the message; "no matching subscribers" accepts it too.
    pub fn accepted(reason: PubAckReason) -> bool {
        matches!(
            reason,
            PubAckReason::Success | PubAckReason::NoMatchingSubscribers
        )
    }

    pub struct Mqtt5 {
        pub client: Client,
        events: Events<Event, ConnectReturnCode>,
    }

    impl Mqtt5 {
        /// Connects; `Err` carries the CONNACK reason of a refusal.
        pub fn connect(options: MqttOptions) -> Result<Mqtt5, ConnectReturnCode> {
            let (client, mut connection) = Client::new(options, 64);
            let events = Events::spawn(move || match connection.recv_timeout(POLL) {
                Ok(Ok(event)) => Step::Event(event),
                Ok(Err(ConnectionError::ConnectionRefused(code))) => {
                    Step::Closed(Closed::Refused(code))
                }
                Ok(Err(e)) => Step::Closed(Closed::Lost(e.to_string())),
                Err(RecvTimeoutError::Timeout) => Step::Idle,
                Err(RecvTimeoutError::Disconnected) => {
                    Step::Closed(Closed::Lost("event loop gone".into()))
                }
            });
            match events.connack(|event| match event {
                Event::Incoming(Packet::ConnAck(ack)) => Some(ack.code),
                _ => None,
            }) {
                ConnectReturnCode::Success => Ok(Mqtt5 { client, events }),
                refused => Err(refused),
            }
        }

        pub fn login(
            port: u16,
            id: &str,
            user: &str,
            password: &str,
        ) -> Result<Mqtt5, ConnectReturnCode> {
            Self::connect(login(port, id, user, password))
        }

        /// Publishes at QoS 1 and returns the PUBACK reason.
        pub fn publish(&self, topic: &str, payload: &str) -> PubAckReason {
            self.client
                .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
                .unwrap();
            self.events.wait("PUBACK", |event| match event {
                Ok(Event::Incoming(Packet::PubAck(ack))) => Some(ack.reason),
                _ => None,
            })
        }

        pub fn publish_retained(&self, topic: &str, payload: &str) -> PubAckReason {
            self.client
                .publish(topic, QoS::AtLeastOnce, true, payload.as_bytes().to_vec())
                .unwrap();
            self.events.wait("PUBACK", |event| match event {
                Ok(Event::Incoming(Packet::PubAck(ack))) => Some(ack.reason),
                _ => None,
            })
        }

        /// Subscribes at QoS 1 and returns the SUBACK reason.
        pub fn subscribe(&self, filter: &str) -> SubscribeReasonCode {
            self.client.subscribe(filter, QoS::AtLeastOnce).unwrap();
            self.events.wait("SUBACK", |event| match event {
                Ok(Event::Incoming(Packet::SubAck(ack))) => Some(ack.return_codes[0]),
                _ => None,
            })
        }

        /// The next message delivered: topic and payload.
        pub fn next_message(&self) -> (String, String) {
            self.events.wait("PUBLISH", |event| match event {
                Ok(Event::Incoming(Packet::Publish(p))) => Some((
                    String::from_utf8_lossy(&p.topic).into_owned(),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                )),
                _ => None,
            })
        }

        /// Waits until the broker closes the connection.
        pub fn wait_closed(&self) -> String {
            self.events.wait("disconnection", |event| match event {
                Ok(Event::Incoming(Packet::Disconnect(d))) => Some(format!("{:?}", d.reason_code)),
                Err(closed) => Some(format!("{closed:?}")),
                _ => None,
            })
        }

        /// Drops the connection without DISCONNECT, as a crashed device would.
        pub fn kill(mut self) {
            self.events.stop();
        }

        pub fn disconnect(mut self) {
            self.client.disconnect().unwrap();
            self.events.wait("DISCONNECT sent", |event| match event {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => Some(()),
                Err(_) => Some(()),
                _ => None,
            });
            self.events.stop();
        }
    }
}

pub mod v3 {
    use super::*;
    use rumqttc::{Client, ConnectionError, Event, MqttOptions, RecvTimeoutError};
    pub use rumqttc::{ConnectReturnCode, LastWill, Packet, QoS, SubscribeReasonCode};

    pub fn options(port: u16, id: &str) -> MqttOptions {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30));
        options
    }

    pub fn login(port: u16, id: &str, user: &str, password: &str) -> MqttOptions {
        let mut options = options(port, id);
        options.set_credentials(user, password);
        options
    }

    pub struct Mqtt3 {
        pub client: Client,
        events: Events<Event, ConnectReturnCode>,
    }

    impl Mqtt3 {
        pub fn connect(options: MqttOptions) -> Result<Mqtt3, ConnectReturnCode> {
            let (client, mut connection) = Client::new(options, 64);
            let events = Events::spawn(move || match connection.recv_timeout(POLL) {
                Ok(Ok(event)) => Step::Event(event),
                Ok(Err(ConnectionError::ConnectionRefused(code))) => {
                    Step::Closed(Closed::Refused(code))
                }
                Ok(Err(e)) => Step::Closed(Closed::Lost(e.to_string())),
                Err(RecvTimeoutError::Timeout) => Step::Idle,
                Err(RecvTimeoutError::Disconnected) => {
                    Step::Closed(Closed::Lost("event loop gone".into()))
                }
            });
            match events.connack(|event| match event {
                Event::Incoming(Packet::ConnAck(ack)) => Some(ack.code),
                _ => None,
            }) {
                ConnectReturnCode::Success => Ok(Mqtt3 { client, events }),
                refused => Err(refused),
            }
        }

        pub fn login(
            port: u16,
            id: &str,
            user: &str,
            password: &str,
        ) -> Result<Mqtt3, ConnectReturnCode> {
            Self::connect(login(port, id, user, password))
        }

        /// Publishes at QoS 1 and waits for the PUBACK (which MQTT 3.1.1 sends even for a
        /// denied message).
        pub fn publish(&self, topic: &str, payload: &str) {
            self.client
                .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
                .unwrap();
            self.events.wait("PUBACK", |event| match event {
                Ok(Event::Incoming(Packet::PubAck(_))) => Some(()),
                _ => None,
            })
        }

        pub fn subscribe(&self, filter: &str) -> SubscribeReasonCode {
            self.client.subscribe(filter, QoS::AtLeastOnce).unwrap();
            self.events.wait("SUBACK", |event| match event {
                Ok(Event::Incoming(Packet::SubAck(ack))) => Some(ack.return_codes[0]),
                _ => None,
            })
        }

        pub fn next_message(&self) -> (String, String) {
            self.events.wait("PUBLISH", |event| match event {
                Ok(Event::Incoming(Packet::Publish(p))) => Some((
                    p.topic.clone(),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                )),
                _ => None,
            })
        }

        pub fn kill(mut self) {
            self.events.stop();
        }

        pub fn disconnect(mut self) {
            self.client.disconnect().unwrap();
            self.events.wait("DISCONNECT sent", |event| match event {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => Some(()),
                Err(_) => Some(()),
                _ => None,
            });
            self.events.stop();
        }
    }
}
