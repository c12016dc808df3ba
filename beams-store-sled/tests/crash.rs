//! Crash safety: a child process runs an association storm (subscribing each device to an
//! interest too) and is killed with SIGKILL mid-way. On reopen every index agrees with the
//! devices, no user exceeds the limit, and (flushing every write) everything acknowledged
//! before the kill is there.
//!
//! The child is this test binary itself, run with `--exact <test>` and [`CHILD`] set; it
//! prints one line per acknowledged write. Everything is bounded: the child stops by itself
//! after [`CHILD_ITERATIONS`] per worker or [`CHILD_TIME`], the parent waits at most
//! [`PARENT_TIME`] for lines.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use beams_core::testing::fixtures::{associate, policy, register, user};
use beams_core::{
    AssociationOutcome, Device, DeviceId, DeviceStore, Interest, InterestChange, Platform,
    Timestamp, UserId, WhenFull,
};
use beams_store_sled::{Durability, SledDeviceStore, sled};

#[allow(dead_code, reason = "the crash tests reopen the store, never raw sled")]
mod released;

/// Set in the child: `<every-write|interval>` and the store directory.
const CHILD: &str = "BEAMS_SLED_CRASH_CHILD";
const WORKERS: usize = 4;
/// Each worker associates with its own users, so each user's writes are ordered.
const USERS_PER_WORKER: usize = 2;
const LIMIT: usize = 5;
const CHILD_ITERATIONS: usize = 20_000;
const CHILD_TIME: Duration = Duration::from_secs(60);
const PARENT_TIME: Duration = Duration::from_secs(90);
/// Kill once this many writes are acknowledged, and the storm has run at least [`MIN_STORM`].
const KILL_AFTER: usize = 300;
const MIN_STORM: Duration = Duration::from_millis(250);
/// The interests the storm subscribes devices to, in turn.
const TOPICS: usize = 3;
const INTERVAL: Duration = Duration::from_millis(10);
/// Devices the idle child registers, and how many of them it associates: five transactions in
/// all, an odd number, so the store's flush every second transaction (which bounds sled's
/// write queue) cannot stand in for the flush after every write.
const IDLE_DEVICES: usize = 3;
const IDLE_ASSOCIATIONS: usize = 2;

#[test]
fn flush_every_write_keeps_every_acknowledged_write_through_sigkill() {
    storm(
        "flush_every_write_keeps_every_acknowledged_write_through_sigkill",
        "every-write",
    );
}

#[test]
fn interval_flush_stays_consistent_through_sigkill() {
    storm(
        "interval_flush_stays_consistent_through_sigkill",
        "interval",
    );
}

/// sled writes a committed transaction out when the next one commits, so a kill mid-storm
/// rarely catches an unflushed write; a kill while idle does. Without the flush after each
/// write, the last acknowledged write here would be lost.
#[test]
fn flush_every_write_keeps_the_last_write_when_killed_idle() {
    const TEST: &str = "flush_every_write_keeps_the_last_write_when_killed_idle";
    if let Ok(spec) = std::env::var(CHILD) {
        let (_, dir) = spec.split_once(':').expect("child spec is mode:dir");
        return run_idle_child(Path::new(dir));
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let store_dir = dir.path().join("devices");
    let acked = run_and_kill(
        TEST,
        &format!("idle:{}", store_dir.display()),
        IDLE_DEVICES + IDLE_ASSOCIATIONS,
        Duration::ZERO,
    );
    check_indexes(&store_dir);
    let store = released::open_store(&store_dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(check_store(&store, &acked, true));
    let associations: usize = acked.associations.values().map(Vec::len).sum();
    assert_eq!(associations, IDLE_ASSOCIATIONS);
    assert_eq!(acked.registered.len(), IDLE_DEVICES);
}

fn durability(mode: &str) -> Durability {
    match mode {
        "every-write" => Durability::FlushEveryWrite,
        _ => Durability::FlushEvery(INTERVAL),
    }
}

fn storm(test: &str, mode: &str) {
    if let Ok(spec) = std::env::var(CHILD) {
        let (mode, dir) = spec.split_once(':').expect("child spec is mode:dir");
        return run_child(durability(mode), Path::new(dir));
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let store_dir = dir.path().join("devices");
    let spec = format!("{mode}:{}", store_dir.display());
    let acked = run_and_kill(test, &spec, KILL_AFTER, MIN_STORM);
    let associations: usize = acked.associations.values().map(Vec::len).sum();
    eprintln!(
        "{mode}: {associations} associations and {} removals acknowledged before the kill",
        acked.removed.len()
    );
    assert!(associations >= KILL_AFTER / 2, "the storm ran");
    check_indexes(&store_dir);
    let store = released::open_store(&store_dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(check_store(&store, &acked, mode == "every-write"));
}

/// What the child acknowledged.
#[derive(Debug, Default)]
struct Acked {
    /// Per user and platform, associations in the order made: (device, at).
    associations: BTreeMap<(UserId, Platform), Vec<(DeviceId, i64)>>,
    removed: Vec<DeviceId>,
    registered: Vec<DeviceId>,
    subscribed: Vec<(DeviceId, Interest)>,
}

/// Kills the child when the test ends early.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the child until it has acknowledged `kill_after` writes over at least `min_time`, then
/// kills it; returns everything it acknowledged.
fn run_and_kill(test: &str, spec: &str, kill_after: usize, min_time: Duration) -> Acked {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Killed(
        Command::new(exe)
            .args(["--exact", test, "--nocapture"])
            .env(CHILD, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child starts"),
    );
    let stdout = child.0.stdout.take().expect("child stdout");
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + PARENT_TIME;
    let mut acked = Acked::default();
    let mut count = 0;
    let mut first = None;
    while count < kill_after || first.is_none_or(|t: Instant| t.elapsed() < min_time) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|err| panic!("child stopped after {count} acknowledgements: {err}"));
        if record(&mut acked, &line) {
            count += 1;
            first.get_or_insert_with(Instant::now);
        }
    }
    child.0.kill().expect("SIGKILL the child");
    let status = child.0.wait().expect("child exits");
    assert!(!status.success(), "the child was killed, not finished");
    // Lines already in the pipe were acknowledged before the kill too.
    reader.join().expect("reader thread");
    for line in lines.try_iter() {
        record(&mut acked, &line);
    }
    acked
}

/// Marks the child's acknowledgement lines; the test harness may print before it on a line.
const ACK: &str = "ack: ";

/// Records one line of the child's; true for the acknowledgements that count towards the kill
/// (subscriptions do not, so the storm makes as many associations as before).
fn record(acked: &mut Acked, line: &str) -> bool {
    let Some(start) = line.find(ACK) else {
        return false;
    };
    let fields: Vec<&str> = line[start + ACK.len()..].split(' ').collect();
    match fields.as_slice() {
        ["associated", user_name, id, at] => {
            let id = DeviceId::parse(id).expect("device id");
            acked
                .associations
                .entry((user(user_name), id.platform()))
                .or_default()
                .push((id, at.parse().expect("time")));
            true
        }
        ["removed", id] => {
            acked.removed.push(DeviceId::parse(id).expect("device id"));
            true
        }
        ["registered", id] => {
            acked
                .registered
                .push(DeviceId::parse(id).expect("device id"));
            true
        }
        ["subscribed", id, name] => {
            let id = DeviceId::parse(id).expect("device id");
            acked
                .subscribed
                .push((id, Interest::new(*name).expect("interest")));
            false
        }
        _ => false,
    }
}

/// The storm: each worker registers devices and associates them with its users, cycling the
/// platforms, and removes devices long evicted. Prints each write once acknowledged.
fn run_child(durability: Durability, dir: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Arc::new(SledDeviceStore::open_with(dir, durability).expect("store opens"));
        let stop_at = Instant::now() + CHILD_TIME;
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move { child_worker(&store, w, stop_at).await })
            })
            .collect();
        for worker in workers {
            worker.await.expect("worker did not panic");
        }
    });
}

async fn child_worker(store: &SledDeviceStore, w: usize, stop_at: Instant) {
    let policy = policy(LIMIT, WhenFull::EvictOldest);
    // One (user, platform) pair comes round every `cycle` iterations.
    let cycle = USERS_PER_WORKER * Platform::ALL.len();
    let mut registered: Vec<DeviceId> = Vec::new();
    for i in 0..CHILD_ITERATIONS {
        if Instant::now() > stop_at {
            return;
        }
        let name = format!("u{}", w * USERS_PER_WORKER + i % USERS_PER_WORKER);
        let platform = Platform::ALL[(i / USERS_PER_WORKER) % Platform::ALL.len()];
        let n = (w * CHILD_ITERATIONS + i) as u64;
        let at = 1 + i as i64;
        let device = register(store, platform, n, at).await;
        let outcome = associate(store, &device.id, &user(&name), policy, at).await;
        assert!(matches!(outcome, AssociationOutcome::Associated { .. }));
        say(&format!("associated {name} {} {at}", device.id));
        let topic = topic(i % TOPICS);
        let change = store
            .add_interest(&device.id, &topic, 10)
            .await
            .expect("add_interest succeeds");
        assert_eq!(change, Some(InterestChange::Added));
        say(&format!("subscribed {} {topic}", device.id));
        registered.push(device.id);
        // This device has had `LIMIT + 1` newer associations on its user and platform since.
        if let Some(old) = i
            .checked_sub(cycle * (LIMIT + 1))
            .and_then(|k| registered.get(k))
        {
            store.remove_device(old).await.expect("remove succeeds");
            say(&format!("removed {old}"));
        }
    }
}

fn topic(n: usize) -> Interest {
    Interest::new(format!("topic-{n}")).expect("interest")
}

/// A few writes, acknowledged, then nothing until the kill.
fn run_idle_child(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = SledDeviceStore::open(dir).expect("store opens");
        let policy = policy(LIMIT, WhenFull::EvictOldest);
        let mut devices = Vec::new();
        for i in 0..IDLE_DEVICES {
            let device = register(&store, Platform::Apns, i as u64, 1).await;
            say(&format!("registered {}", device.id));
            devices.push(device.id);
        }
        for (i, id) in devices.iter().take(IDLE_ASSOCIATIONS).enumerate() {
            let at = 10 + i as i64;
            associate(&store, id, &user("idle"), policy, at).await;
            say(&format!("associated idle {id} {at}"));
        }
        std::thread::sleep(CHILD_TIME);
    });
}

/// One line, written and flushed whole.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{ACK}{line}\n").as_bytes())
        .and_then(|()| out.flush())
        .expect("stdout");
}

/// Reads the trees by hand, by the documented layout, and checks that they agree.
fn check_indexes(dir: &Path) {
    let db = sled::open(dir).expect("sled opens after the kill");
    let tree = |name: &str| db.open_tree(name).expect("tree");
    let devices: HashMap<Vec<u8>, Device> = tree("beams.devices")
        .iter()
        .map(|entry| {
            let (key, value) = entry.expect("device entry");
            let device: Device = serde_json::from_slice(&value).expect("device decodes");
            assert_eq!(device.id.as_str().as_bytes(), &*key, "device under its id");
            (key.to_vec(), device)
        })
        .collect();

    let mut indexed = HashSet::new();
    for entry in tree("beams.tokens").iter() {
        let (key, id) = entry.expect("token entry");
        let device = devices
            .get(&*id)
            .expect("every token entry names an existing device");
        let mut expected = device.platform().as_str().as_bytes().to_vec();
        expected.push(0);
        expected.extend_from_slice(device.token.key().as_bytes());
        assert_eq!(
            &*key,
            &expected[..],
            "the token entry is the device's token"
        );
        assert!(indexed.insert(id.to_vec()), "one token entry per device");
    }
    assert_eq!(
        indexed.len(),
        devices.len(),
        "every device has its token entry"
    );

    let mut listed = HashSet::new();
    for entry in tree("beams.users").iter() {
        let (key, value) = entry.expect("user entry");
        let len = usize::from(u16::from_be_bytes([key[0], key[1]]));
        let user_id = user(std::str::from_utf8(&key[2..2 + len]).expect("user id"));
        let platform: Platform = std::str::from_utf8(&key[2 + len..])
            .expect("platform")
            .parse()
            .expect("platform");
        let mut rest = &value[..];
        let mut count = 0;
        while !rest.is_empty() {
            let at = i64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
            let id_len = usize::from(rest[8]);
            let id = &rest[9..9 + id_len];
            rest = &rest[9 + id_len..];
            let device = devices.get(id).expect("every listed device exists");
            assert_eq!(
                device.user.as_ref(),
                Some(&user_id),
                "listed under its user"
            );
            assert_eq!(device.platform(), platform);
            assert_eq!(device.associated_at, Some(Timestamp::from_unix_millis(at)));
            assert!(listed.insert(id.to_vec()), "listed once");
            count += 1;
        }
        assert!(
            count <= LIMIT,
            "{user_id:?} has {count} devices on {platform}"
        );
    }
    let associated = devices.values().filter(|d| d.user.is_some()).count();
    assert_eq!(
        listed.len(),
        associated,
        "every associated device is listed"
    );

    // Each device's list of interests, and the interest index, name the same subscriptions.
    let mut subscriptions = HashSet::new();
    for entry in tree("beams.device_interests").iter() {
        let (id, value) = entry.expect("device interests entry");
        assert!(devices.contains_key(&*id), "every list is of a device");
        let mut rest = &value[..];
        let mut previous: Option<&[u8]> = None;
        assert!(!rest.is_empty(), "no empty list is stored");
        while !rest.is_empty() {
            let len = usize::from(rest[0]);
            let name = &rest[1..1 + len];
            rest = &rest[1 + len..];
            assert!(previous.is_none_or(|p| p < name), "in name order, once");
            previous = Some(name);
            subscriptions.insert([name, b"\0", &id].concat());
        }
    }
    let mut indexed = 0;
    for entry in tree("beams.interests").iter() {
        let (key, value) = entry.expect("interest entry");
        assert!(value.is_empty());
        let split = key.iter().position(|b| *b == 0).expect("name 0x00 id");
        assert!(
            devices.contains_key(&key[split + 1..]),
            "every subscription is of a device"
        );
        assert!(
            subscriptions.contains(&*key),
            "every indexed subscription is in its device's list"
        );
        indexed += 1;
    }
    assert_eq!(
        indexed,
        subscriptions.len(),
        "every subscription is indexed"
    );
    eprintln!(
        "after the kill: {} devices, {associated} associated, {indexed} subscriptions",
        devices.len()
    );
}

/// Checks through the store: the limit, and (flushing every write) every acknowledged write.
async fn check_store(store: &SledDeviceStore, acked: &Acked, every_write: bool) {
    let users: HashSet<&UserId> = acked.associations.keys().map(|(u, _)| u).collect();
    for u in &users {
        let devices = store
            .devices_of_user(u)
            .await
            .expect("devices_of_user succeeds");
        for platform in Platform::ALL {
            let on = devices.iter().filter(|d| d.platform() == platform).count();
            assert!(on <= LIMIT, "{u:?} has {on} devices on {platform}");
        }
    }
    if !every_write {
        // Writes of the last interval may be lost, but the flushes during the storm kept some.
        let kept = store
            .devices_of_users(&users.into_iter().cloned().collect::<Vec<_>>())
            .await;
        assert!(!kept.expect("devices_of_users succeeds").is_empty());
        return;
    }
    for ((u, platform), associations) in &acked.associations {
        // One association per user may have committed unacknowledged and evicted one more,
        // so the newest `LIMIT - 1` acknowledged ones must all be there.
        let newest = associations.iter().rev().take(LIMIT - 1);
        for (id, at) in newest {
            let device = store
                .device(id)
                .await
                .expect("read succeeds")
                .unwrap_or_else(|| panic!("acknowledged {id} on {platform} is lost"));
            assert_eq!(device.user.as_ref(), Some(u), "{id} keeps its user");
            assert_eq!(device.associated_at, Some(Timestamp::from_unix_millis(*at)));
        }
    }
    for id in &acked.registered {
        let device = store.device(id).await.expect("read succeeds");
        assert!(
            device.is_some(),
            "acknowledged registration of {id} is kept"
        );
    }
    for id in &acked.removed {
        assert_eq!(
            store.device(id).await.expect("read succeeds"),
            None,
            "acknowledged removal of {id} is kept"
        );
    }
    let removed: HashSet<&DeviceId> = acked.removed.iter().collect();
    let mut indexed: HashMap<&Interest, HashSet<DeviceId>> = HashMap::new();
    for (_, topic) in &acked.subscribed {
        if !indexed.contains_key(topic) {
            let found = store
                .subscribers_page(std::slice::from_ref(topic), None, usize::MAX)
                .await
                .expect("listing succeeds");
            indexed.insert(topic, found.into_iter().map(|d| d.id).collect());
        }
    }
    let mut gone = 0;
    for (id, topic) in &acked.subscribed {
        if removed.contains(id) {
            continue;
        }
        let interests = store
            .interests_of_device(id, None, usize::MAX)
            .await
            .expect("read succeeds");
        let Some(interests) = interests else {
            gone += 1;
            continue;
        };
        assert!(
            interests.contains(topic),
            "acknowledged subscription of {id} to {topic} is kept"
        );
        assert!(indexed[topic].contains(id), "{id} is found for {topic}");
    }
    // Each worker's last removal may have committed unacknowledged.
    assert!(gone <= WORKERS, "{gone} subscribed devices are gone");
}
