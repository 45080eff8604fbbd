//! A connect/disconnect churn against a running broker with the plugin, for the memory
//! campaign (`scripts/valgrind-churn`): MQTT 5 and 3.1.1, clean and durable sessions,
//! wills, and connections dropped without DISCONNECT.
//!
//!     cargo run --release --example churn -- <port> <cycles> <secret>

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

fn token(secret: &str, user: &str) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = json!({
        "username": user, "exp": exp,
        "publish_acl": "churn/#", "subscribe_acl": "churn/#", "receive_acl": "churn/#",
    });
    let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
}

/// Runs one MQTT 5 connection: connect, publish at QoS 1, then disconnect or drop.
fn v5_cycle(port: u16, id: &str, token: &str, durable: bool, drop_it: bool) {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{LastWill, Packet};
    use rumqttc::v5::{Client, Event, MqttOptions};
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_credentials("churner", token);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_clean_start(!durable);
    if durable {
        options.set_session_expiry_interval(Some(300));
    }
    options.set_last_will(LastWill::new(
        format!("churn/will/{id}"),
        "gone",
        QoS::AtMostOnce,
        false,
        None,
    ));
    let (client, mut connection) = Client::new(options, 10);
    client
        .publish(
            format!("churn/{id}"),
            QoS::AtLeastOnce,
            false,
            b"x".to_vec(),
        )
        .unwrap();
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::PubAck(_))) => break,
            Ok(_) => {}
            Err(e) => panic!("{id}: {e}"),
        }
    }
    if !drop_it {
        client.disconnect().unwrap();
        for event in connection.iter() {
            if matches!(
                event,
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_)
            ) {
                break;
            }
        }
    }
}

fn v3_cycle(port: u16, id: &str, token: &str, durable: bool, drop_it: bool) {
    use rumqttc::{Client, Event, LastWill, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_credentials("churner", token);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_clean_session(!durable);
    options.set_last_will(LastWill::new(
        format!("churn/will/{id}"),
        "gone",
        QoS::AtMostOnce,
        false,
    ));
    let (client, mut connection) = Client::new(options, 10);
    client
        .publish(
            format!("churn/{id}"),
            QoS::AtLeastOnce,
            false,
            b"x".to_vec(),
        )
        .unwrap();
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::PubAck(_))) => break,
            Ok(_) => {}
            Err(e) => panic!("{id}: {e}"),
        }
    }
    if !drop_it {
        client.disconnect().unwrap();
        for event in connection.iter() {
            if matches!(
                event,
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_)
            ) {
                break;
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args.get(1).and_then(|a| a.parse().ok()).expect("port");
    let cycles: usize = args.get(2).and_then(|a| a.parse().ok()).expect("cycles");
    let secret = args.get(3).expect("secret");
    let t = token(secret, "churner");
    for i in 0..cycles {
        // Durable sessions come from two pools of five ids, so the broker keeps ten.
        match i % 6 {
            0 => v5_cycle(port, &format!("v5-clean-{i}"), &t, false, false),
            1 => v5_cycle(port, &format!("v5-durable-{}", i % 10), &t, true, false),
            2 => v5_cycle(port, &format!("v5-dropped-{i}"), &t, false, true),
            3 => v3_cycle(port, &format!("v3-clean-{i}"), &t, false, false),
            4 => v3_cycle(port, &format!("v3-durable-{}", i % 10), &t, true, false),
            _ => v3_cycle(port, &format!("v3-dropped-{i}"), &t, false, true),
        }
        if (i + 1) % 1000 == 0 {
            eprintln!("{} cycles", i + 1);
        }
    }
}
