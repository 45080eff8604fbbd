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
