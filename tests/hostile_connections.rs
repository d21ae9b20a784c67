//! Crowds against the `zoneatlas` binary on a loopback port: thousands of
//! event streams, every connection slot taken, a burst of wrong tokens.
//! None may keep an operator from `/health` or other clients from their
//! answers (issue 29). Every loop is bounded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{http, token, Server};

/// What this process may open, less a margin for the test's own needs:
/// the flood is as large as the acceptance asks where the limit allows.
fn sockets_allowed(wanted: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    wanted.min(soft.saturating_sub(300))
}

/// The status of the response on `s`, read up to its first line.
fn status_of(s: &mut TcpStream) -> Option<u16> {
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    std::str::from_utf8(&got)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

fn timed_health(base: &str, n: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let r = http("GET", &format!("{base}/health"), &[], b"");
            assert_eq!(r.status, 200);
            t.elapsed()
        })
        .collect();
    times.sort();
    times
}

#[test]
fn a_flood_of_event_streams_is_capped_and_others_are_answered() {
    let server = Server::start(&[]);
    let n = sockets_allowed(4200);
    eprintln!("{n} event-stream clients");
    let mut clients: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    let statuses: Vec<Option<u16>> = clients.iter_mut().map(status_of).collect();
    let held = statuses.iter().filter(|s| **s == Some(200)).count();
    let refused = statuses.iter().filter(|s| **s == Some(503)).count();
    // One address holds at most 32 streams; the rest are told to retry.
    assert_eq!(held, 32, "{statuses:?}");
    assert_eq!(held + refused, n);
    // Meanwhile an operator and an ordinary client are answered at once.
    let times = timed_health(&server.base, 20);
    assert!(times[19] < Duration::from_millis(100), "{times:?}");
    let r = http(
        "GET",
        &format!("{}/api/collections/roads/items?limit=1", server.base),
        &[],
        b"",
    );
    assert_eq!(r.status, 200);
    // A refusal says why, as JSON.
    let refusal = http("GET", &format!("{}/api/events", server.base), &[], b"");
    assert_eq!(refusal.status, 503);
    assert!(refusal.header("retry-after").is_some());
    assert_eq!(refusal.json()["code"], "TooManyStreams");
    // The streams close with their clients and free their places.
    drop(clients);
    let started = Instant::now();
    loop {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        if status_of(&mut s) == Some(200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "places never freed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn health_is_answered_when_every_connection_slot_is_taken() {
    let server = Server::start(&["--max-connections", "16", "--header-timeout", "20"]);
    // Sixteen silent sockets take every ordinary slot for 20 s.
    let silent: Vec<TcpStream> = (0..16)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let times = timed_health(&server.base, 10);
    assert!(times[9] < Duration::from_millis(100), "{times:?}");
    let r = http("GET", &format!("{}/api/collections", server.base), &[], b"");
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("retry-after").is_some());
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("operators"));
    // Once the crowd leaves, everything is served again.
    drop(silent);
    let started = Instant::now();
    while http("GET", &format!("{}/api/collections", server.base), &[], b"").status != 200 {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn wrong_tokens_are_throttled_per_address() {
    let server = Server::start(&[]);
    let good = token(&server.store, "viewer", "v");
    let session = format!("{}/api/session", server.base);
    let mut statuses = Vec::new();
    let started = Instant::now();
    for i in 0..200 {
        let bad = format!("Bearer wrong-{i}");
        statuses.push(http("GET", &session, &[("Authorization", &bad)], b"").status);
    }
    let took = started.elapsed();
    let unauthorized = statuses.iter().filter(|&&s| s == 401).count();
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(unauthorized + throttled, 200, "{statuses:?}");
    // A burst of 20, then 10 a second for as long as the loop ran.
    let allowed = 20.0 + 10.0 * took.as_secs_f64();
    assert!(
        (unauthorized as f64) <= allowed + 1.0,
        "{unauthorized} wrong tokens checked in {took:?}"
    );
    assert!(throttled > 0);
    let r = http("GET", &session, &[("Authorization", "Bearer wrong")], b"");
    if r.status == 429 {
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    // The right token works again once the bucket refills.
    std::thread::sleep(Duration::from_millis(1500));
    let auth = format!("Bearer {good}");
    let r = http("GET", &session, &[("Authorization", &auth)], b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn forwarded_headers_are_believed_from_the_trusted_proxy_only() {
    let self_link = |server: &Server| -> String {
        let v = http(
            "GET",
            &format!("{}/api", server.base),
            &[("X-Forwarded-Proto", "https")],
            b"",
        )
        .json();
        v["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "self")
            .unwrap()["href"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let anyone = Server::start(&[]);
    assert!(
        self_link(&anyone).starts_with("http://"),
        "{}",
        self_link(&anyone)
    );
    let proxied = Server::start(&["--trusted-proxy", "127.0.0.1"]);
    assert!(
        self_link(&proxied).starts_with("https://"),
        "{}",
        self_link(&proxied)
    );
}
