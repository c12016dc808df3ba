//! The binary on a fresh machine: no configuration, an empty data directory. It creates its
//! identity, serves, stops cleanly on SIGTERM, and reuses the identity on the next start.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use beams_test_support::server_process::ServerProcess;

use crate::support::LIMIT;

fn start(data_dir: &Path) -> ServerProcess {
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_beams-server")),
        &["--data-dir", data_dir.to_str().unwrap()],
        Stdio::null(),
    )
    .unwrap()
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Sends SIGTERM and waits (bounded) for a clean exit.
fn terminate(mut running: ServerProcess) {
    let status = running.terminate().unwrap();
    assert!(status.success(), "exit status {status}");
}

fn banner_line<'a>(running: &'a ServerProcess, label: &str) -> &'a str {
    running
        .banner
        .iter()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} line in {:?}", running.banner))
        .trim()
}

#[test]
fn the_first_run_creates_an_identity_and_the_second_reuses_it() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("beams-data");

    let first = start(&data_dir);
    for file in [
        "instance-id",
        "secret-key",
        "vapid-private-key.pem",
        "beams.db",
        ".gitignore",
    ] {
        assert!(data_dir.join(file).is_file(), "{file} was not created");
    }
    let instance = std::fs::read_to_string(data_dir.join("instance-id")).unwrap();
    let instance = instance.trim().to_owned();
    assert_eq!(instance.len(), 36, "a UUID: {instance}");
    let secret = std::fs::read_to_string(data_dir.join("secret-key")).unwrap();
    assert!(secret.trim().len() >= 32);
    assert!(banner_line(&first, "instance id:").starts_with(&instance));
    assert!(banner_line(&first, "instance id:").contains("generated"));
    assert!(banner_line(&first, "secret key:").contains("secret-key"));
    assert!(
        !first.banner.iter().any(|line| line.contains(secret.trim())),
        "the secret is never printed"
    );
    let answer = get(&first.addr, "/health");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let vapid_path = format!("/device_api/v1/instances/{instance}/web-vapid-public-key");
    let first_vapid = get(&first.addr, &vapid_path);
    assert!(first_vapid.starts_with("HTTP/1.1 200"), "{first_vapid}");
    terminate(first);

    let second = start(&data_dir);
    assert!(banner_line(&second, "instance id:").starts_with(&instance));
    assert!(banner_line(&second, "instance id:").contains("from"));
    let second_vapid = get(&second.addr, &vapid_path);
    let key = |answer: &str| answer.rsplit("\r\n\r\n").next().unwrap().to_owned();
    assert_eq!(key(&second_vapid), key(&first_vapid), "the same VAPID key");
    terminate(second);
}

#[test]
fn a_broken_configuration_exits_with_an_error() {
    let temp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_beams-server"))
        .args([
            "--data-dir",
            temp.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--apns-key-id",
            "ABC123DEFG",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--apns-key"), "{stderr}");
}
