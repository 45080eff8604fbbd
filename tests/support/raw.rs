//! Hand-built CONNECT packets, for what ordinary clients will not send: a password without
//! a username (MQTT 5), passwords that are not UTF-8 or hold NUL bytes, 65,535-byte ones.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::PATIENCE;

/// A connection made by hand; kept open while the test holds it.
pub struct RawConnection {
    /// CONNACK return code (3.1.1) or reason code (5); `None` if the broker closed the
    /// connection without one.
    pub code: Option<u8>,
    _stream: TcpStream,
}

pub const ACCEPTED: u8 = 0x00;
pub const V3_NOT_AUTHORIZED: u8 = 0x05;
pub const V5_NOT_AUTHORIZED: u8 = 0x87;

fn put_varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
}

fn put_field(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(
        &u16::try_from(bytes.len())
            .expect("at most 65535 bytes")
            .to_be_bytes(),
    );
    out.extend_from_slice(bytes);
}

/// Sends CONNECT (`version` 4 for MQTT 3.1.1, 5 for MQTT 5, clean session) and reads
/// the CONNACK.
pub fn connect(
    port: u16,
    version: u8,
    client_id: &str,
    username: Option<&[u8]>,
    password: Option<&[u8]>,
) -> RawConnection {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', version];
    let flags = 0x02
        | if username.is_some() { 0x80 } else { 0 }
        | if password.is_some() { 0x40 } else { 0 };
    body.extend_from_slice(&[flags, 0, 60]);
    if version == 5 {
        body.push(0); // no properties
    }
    put_field(client_id.as_bytes(), &mut body);
    for field in [username, password].into_iter().flatten() {
        put_field(field, &mut body);
    }
    let mut packet = vec![0x10];
    put_varint(body.len(), &mut packet);
    packet.extend_from_slice(&body);

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(&packet).unwrap();
    let mut head = [0u8; 4];
    let code = match stream.read_exact(&mut head) {
        Ok(()) if head[0] == 0x20 => Some(head[3]),
        _ => None,
    };
    RawConnection {
        code,
        _stream: stream,
    }
}

/// An MQTT 5 connection spoken by hand, for what rumqttc cannot send: CONNECT with an
/// authentication method and data, and AUTH for re-authentication.
pub struct Mqtt5Wire {
    stream: TcpStream,
    next_packet_id: u16,
}

/// A packet from the broker: its type (the high nibble of the first byte) and body.
#[derive(Debug)]
pub struct Incoming {
    pub kind: u8,
    pub body: Vec<u8>,
}

pub const CONNACK: u8 = 2;
pub const PUBACK: u8 = 4;
pub const DISCONNECT: u8 = 14;
pub const AUTH: u8 = 15;

impl Incoming {
    /// The reason code: the CONNACK's second byte, a PUBACK's third, the first of AUTH
    /// and DISCONNECT; success when the broker left it out.
    pub fn reason(&self) -> u8 {
        let at = match self.kind {
            CONNACK => 1,
            PUBACK => 2,
            _ => 0,
        };
        self.body.get(at).copied().unwrap_or(0)
    }
}

fn auth_properties(method: &str, data: Option<&[u8]>) -> Vec<u8> {
    let mut properties = vec![0x15];
    put_field(method.as_bytes(), &mut properties);
    if let Some(data) = data {
        properties.push(0x16);
        put_field(data, &mut properties);
    }
    let mut out = Vec::new();
    put_varint(properties.len(), &mut out);
    out.extend(properties);
    out
}

fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut packet = vec![first];
    put_varint(body.len(), &mut packet);
    packet.extend_from_slice(body);
    packet
}

impl Mqtt5Wire {
    /// CONNECT with enhanced authentication; returns the connection and the CONNACK
    /// reason (`None` if the broker closed the connection without one).
    pub fn connect(
        port: u16,
        client_id: &str,
        username: Option<&str>,
        method: &str,
        data: Option<&[u8]>,
    ) -> (Mqtt5Wire, Option<u8>) {
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5];
        body.push(0x02 | if username.is_some() { 0x80 } else { 0 });
        body.extend_from_slice(&[0, 60]);
        body.extend(auth_properties(method, data));
        put_field(client_id.as_bytes(), &mut body);
        if let Some(username) = username {
            put_field(username.as_bytes(), &mut body);
        }
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(&frame(0x10, &body)).unwrap();
        let mut wire = Mqtt5Wire {
            stream,
            next_packet_id: 1,
        };
        let code = wire
            .read()
            .filter(|p| p.kind == CONNACK)
            .map(|p| p.reason());
        (wire, code)
    }

    /// AUTH with reason 0x19 (re-authenticate) and a new token; returns the broker's
    /// answer, or `None` if it closed the connection.
    pub fn reauthenticate(&mut self, method: &str, data: &[u8]) -> Option<Incoming> {
        let mut body = vec![0x19];
        body.extend(auth_properties(method, Some(data)));
        self.stream.write_all(&frame(0xF0, &body)).ok()?;
        self.read()
    }

    /// PUBLISH at QoS 1; returns the PUBACK reason, or `None` if the connection closed.
    pub fn publish(&mut self, topic: &str, payload: &[u8]) -> Option<u8> {
        let id = self.next_packet_id;
        self.next_packet_id += 1;
        let mut body = Vec::new();
        put_field(topic.as_bytes(), &mut body);
        body.extend_from_slice(&id.to_be_bytes());
        body.push(0); // no properties
        body.extend_from_slice(payload);
        self.stream.write_all(&frame(0x32, &body)).ok()?;
        let ack = self.read()?;
        (ack.kind == PUBACK).then(|| ack.reason())
    }

    /// The next packet, or `None` once the broker has closed the connection.
    pub fn read(&mut self) -> Option<Incoming> {
        let mut first = [0u8; 1];
        self.stream.read_exact(&mut first).ok()?;
        let mut length = 0usize;
        for shift in (0..4).map(|i| 7 * i) {
            let mut byte = [0u8; 1];
            self.stream.read_exact(&mut byte).ok()?;
            length |= usize::from(byte[0] & 0x7f) << shift;
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).ok()?;
        Some(Incoming {
            kind: first[0] >> 4,
            body,
        })
    }
}
