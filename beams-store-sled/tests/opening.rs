//! Opening: bad paths, unknown layouts and locked directories give typed errors; a shared
//! database and interval durability work; a store of layout 1 is upgraded.

use beams_core::testing::fixtures::{associate, register, user};
use beams_core::{
    AssociationPolicy, DeviceStore, Interest, InterestChange, Platform, StoreErrorKind,
};
use beams_store_sled::{SledDeviceStore, sled};

mod released;

#[test]
fn an_unknown_layout_version_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("devices");
    drop(SledDeviceStore::open(&path).expect("a new store opens"));
    {
        let db = released::open_raw(&path);
        db.open_tree("beams.meta")
            .expect("meta tree")
            .insert("layout", "99")
            .expect("raw write");
        db.flush().expect("flush");
    }
    let Err(err) = released::once_released(
        || SledDeviceStore::open(&path),
        |err| *err.kind() == StoreErrorKind::Unavailable,
    ) else {
        panic!("the store should be refused");
    };
    assert_eq!(
        err.kind(),
        &StoreErrorKind::IncompatibleVersion {
            found: "99".to_owned(),
            supported: "2".to_owned(),
        }
    );
}

#[tokio::test]
async fn a_layout_1_store_is_upgraded_and_keeps_its_devices() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("devices");
    let device = {
        let store = SledDeviceStore::open(&path).expect("a new store opens");
        register(&store, Platform::Web, 1, 10).await
    };
    // What a layout-1 build leaves: the same trees but the interest ones, and version 1.
    {
        let db = released::open_raw(&path);
        for tree in ["beams.device_interests", "beams.interests"] {
            assert!(db.drop_tree(tree).expect("raw drop"));
        }
        db.open_tree("beams.meta")
            .expect("meta tree")
            .insert("layout", "1")
            .expect("raw write");
        db.flush().expect("flush");
    }
    {
        let store = released::open_store(&path);
        assert_eq!(
            store.device(&device.id).await.expect("read succeeds"),
            Some(device.clone())
        );
        let news = Interest::new("news").expect("interest");
        let change = store
            .add_interest(&device.id, &news, 10)
            .await
            .expect("add_interest succeeds");
        assert_eq!(change, Some(InterestChange::Added));
        let found = store
            .subscribers_page(&[news], None, 10)
            .await
            .expect("listing succeeds");
        assert_eq!(found, vec![device]);
    }
    let db = released::open_raw(&path);
    let layout = db
        .open_tree("beams.meta")
        .expect("meta tree")
        .get("layout")
        .expect("raw read");
    assert_eq!(
        layout.as_deref(),
        Some(&b"2"[..]),
        "a layout-1 build refuses it now"
    );
}

#[tokio::test]
async fn a_store_from_before_the_journal_opens_and_gains_its_trees() {
    use beams_core::testing::{journal_entry, lease};
    use beams_core::{Acceptance, PublishJournal};

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("devices");
    let device = {
        let store = SledDeviceStore::open(&path).expect("a new store opens");
        register(&store, Platform::Web, 1, 10).await
    };
    // What a build without the journal leaves: layout 2 and no journal trees.
    {
        let db = released::open_raw(&path);
        for tree in [
            "beams.publishes",
            "beams.unfinished_publishes",
            "beams.finished_publishes",
        ] {
            assert!(db.drop_tree(tree).expect("raw drop"));
        }
        db.flush().expect("flush");
    }
    let store = released::open_store(&path);
    assert_eq!(
        store.device(&device.id).await.expect("read succeeds"),
        Some(device)
    );
    let journal = store.journal();
    let entry = journal_entry(10);
    let acceptance = journal
        .accept(&entry, &lease("node-a", 100), 10)
        .await
        .expect("accept succeeds");
    assert_eq!(acceptance, Acceptance::Accepted);
    assert_eq!(journal.unfinished().await.expect("unfinished"), 1);
}

#[test]
fn a_file_is_not_a_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("devices.db");
    std::fs::write(&file, b"SQLite format 3\0").expect("write a file");
    let err = SledDeviceStore::open(&file).expect_err("a file is refused");
    assert!(
        matches!(err.kind(), StoreErrorKind::NotAStore { .. }),
        "{err}"
    );
}

#[test]
fn a_directory_of_other_things_is_not_a_store() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("notes.txt"), b"mine").expect("write a file");
    let err = SledDeviceStore::open(dir.path()).expect_err("the directory is refused");
    assert!(
        matches!(err.kind(), StoreErrorKind::NotAStore { .. }),
        "{err}"
    );
    assert!(
        !dir.path().join("db").exists(),
        "nothing was created in someone else's directory"
    );
}

#[test]
fn a_sled_database_of_other_data_without_a_layout_is_not_a_store() {
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("sled opens");
    db.open_tree("beams.devices")
        .expect("tree")
        .insert("x", "y")
        .expect("raw write");
    let err = SledDeviceStore::from_db(db).expect_err("refused");
    assert!(
        matches!(err.kind(), StoreErrorKind::NotAStore { .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_application_may_share_the_database() {
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("sled opens");
    db.insert("app-key", "app-value").expect("raw write");
    let app_tree = db.open_tree("app-tree").expect("tree");
    for n in 0..100_u32 {
        app_tree
            .insert(n.to_be_bytes(), &b"app"[..])
            .expect("raw write");
    }
    let app_keys = || -> Vec<Vec<u8>> {
        app_tree
            .iter()
            .keys()
            .map(|key| key.expect("raw read").to_vec())
            .collect()
    };
    let before = app_keys();

    let store = SledDeviceStore::from_db(db.clone()).expect("the store opens beside app data");
    let alice = user("alice");
    let kept = register(&store, Platform::Web, 1, 10).await;
    for n in 2..20 {
        let device = register(&store, Platform::ALL[n as usize % 3], n, 10).await;
        associate(&store, &device.id, &alice, AssociationPolicy::default(), 20).await;
        let news = Interest::new("news").expect("interest");
        store
            .add_interest(&device.id, &news, 10)
            .await
            .expect("add_interest succeeds");
    }
    assert_eq!(
        store.remove_user(&alice).await.expect("remove_user").len(),
        18
    );
    drop(store);

    assert_eq!(
        db.get("app-key").expect("raw read").as_deref(),
        Some(&b"app-value"[..]),
        "the application's key in the default tree is untouched"
    );
    assert_eq!(app_keys(), before, "the application's tree is untouched");
    assert!(
        db.tree_names().iter().any(|name| &name[..] == b"app-tree"),
        "the application's tree is still listed"
    );
    let store = SledDeviceStore::from_db(db).expect("and again");
    assert_eq!(
        store.device(&kept.id).await.expect("read succeeds"),
        Some(kept),
        "the store's own data is there too"
    );
}

#[test]
fn a_store_open_elsewhere_is_unavailable() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("devices");
    let _first = SledDeviceStore::open(&path).expect("a new store opens");
    let err = SledDeviceStore::open(&path).expect_err("sled locks its directory");
    assert_eq!(err.kind(), &StoreErrorKind::Unavailable);
}

#[tokio::test]
async fn interval_durability_keeps_data_across_a_clean_close() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("devices");
    let durability = beams_store_sled::Durability::FlushEvery(std::time::Duration::from_secs(60));
    let (flushed, closed) = {
        let store = SledDeviceStore::open_with(&path, durability).expect("opens");
        assert_eq!(store.durability(), durability);
        let flushed = register(&store, Platform::Fcm, 1, 10).await;
        store.flush().await.expect("explicit flush");
        // Not flushed by the interval (a minute), by hand, nor by the writer (which flushes
        // once two transactions are behind, and the explicit flush left none): closing
        // writes it.
        let closed = register(&store, Platform::Fcm, 2, 10).await;
        (flushed, closed)
    };
    let store = released::open_store(&path);
    for device in [flushed, closed] {
        assert_eq!(
            store.device(&device.id).await.expect("read succeeds"),
            Some(device)
        );
    }
}
