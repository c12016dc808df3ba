//! Connections that hold a server slot while doing almost nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::INSTANCE;

/// Connections that hold a server slot while doing almost nothing: half send a request header
/// one byte a second, half send nothing. A connection the server closes is opened again.
pub(crate) struct SlowClients {
    tasks: Vec<JoinHandle<()>>,
    trickling_dropped: Arc<AtomicUsize>,
    idle_dropped: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    started: Instant,
}

impl SlowClients {
    pub(crate) async fn connect(addr: String, clients: usize) -> Result<Self, String> {
        let connected = Arc::new(AtomicUsize::new(0));
        let trickling_dropped = Arc::new(AtomicUsize::new(0));
        let idle_dropped = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let tasks = (0..clients)
            .map(|i| {
                let trickle = i % 2 == 0;
                let dropped = Arc::clone(if trickle {
                    &trickling_dropped
                } else {
                    &idle_dropped
                });
                tokio::spawn(slow_client(
                    addr.clone(),
                    trickle,
                    Arc::clone(&connected),
                    dropped,
                    Arc::clone(&refused),
                ))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while connected.load(Ordering::Relaxed) < clients {
            if Instant::now() > deadline {
                return Err("the slow clients could not all connect".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(SlowClients {
            tasks,
            trickling_dropped,
            idle_dropped,
            refused,
            started: Instant::now(),
        })
    }

    /// Stops them; says how often the server dropped or refused them.
    pub(crate) async fn stop(self) -> String {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        format!(
            "over {:.0}s, the server closed {} trickling and {} idle connections and refused {} \
             connection attempts",
            self.started.elapsed().as_secs_f64(),
            self.trickling_dropped.load(Ordering::Relaxed),
            self.idle_dropped.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

async fn slow_client(
    addr: String,
    trickle: bool,
    connected: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
) {
    let request_line = format!(
        "PUT /device_api/v1/instances/{INSTANCE}/devices/fcm/fcm-slow/user HTTP/1.1\r\n\
         host: {addr}\r\n"
    );
    let mut first = true;
    loop {
        let Ok(mut stream) = TcpStream::connect(&addr).await else {
            refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if first {
            connected.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        // Endless: the request line, then one padding header after another.
        let mut bytes = request_line
            .bytes()
            .chain(std::iter::repeat(b"x-slow: 1\r\n").flatten().copied());
        let mut buf = [0_u8; 512];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => {
                    // Whatever the server says (an error answer, or nothing: closed), this
                    // connection is over.
                    let _ = read;
                    break;
                }
                () = tokio::time::sleep(Duration::from_secs(1)), if trickle => {
                    let Some(byte) = bytes.next() else { break };
                    if stream.write_all(&[byte]).await.is_err() {
                        break;
                    }
                }
            }
        }
        dropped.fetch_add(1, Ordering::Relaxed);
    }
}
