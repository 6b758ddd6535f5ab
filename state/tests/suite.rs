//! One behavioural suite, run against both backends: the in-memory store and a
//! real etcd started by the test. Each run uses its own key prefix.

use std::sync::Arc;
use std::time::Duration;

use throng_state::{Compare, EtcdStore, MAX_TXN_OPS, MemoryStore, Op, StateError, StateStore, WatchEvent};
use throng_testkit::{EtcdServer, poll_until};

async fn suite(store: Arc<dyn StateStore>, prefix: &str) {
    put_get_list_delete(&*store, prefix).await;
    transactions(&*store, prefix).await;
    leases(&*store, prefix).await;
    watches(&*store, prefix).await;
    lists_then_watches_without_a_gap(&*store, prefix).await;
}

async fn put_get_list_delete(store: &dyn StateStore, p: &str) {
    assert_eq!(store.get(&format!("{p}/a")).await.ok().flatten(), None);
    for key in ["b", "a", "c/x"] {
        store
            .put(&format!("{p}/{key}"), key.as_bytes().to_vec(), None)
            .await
            .expect("put");
    }
    let a = store.get(&format!("{p}/a")).await.expect("get").expect("a");
    assert_eq!(a.value, b"a");
    let keys: Vec<String> = store
        .list(&format!("{p}/"))
        .await
        .expect("list")
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(keys, vec![format!("{p}/a"), format!("{p}/b"), format!("{p}/c/x")]);
    let before = a.mod_revision;
    store
        .put(&format!("{p}/a"), b"a2".to_vec(), None)
        .await
        .expect("put");
    let a2 = store.get(&format!("{p}/a")).await.expect("get").expect("a");
    assert!(a2.mod_revision > before, "revision grows on change");
    assert!(store.delete(&format!("{p}/a")).await.expect("delete"));
    assert!(!store.delete(&format!("{p}/a")).await.expect("delete"));
    assert_eq!(
        store
            .delete_prefix(&format!("{p}/"))
            .await
            .expect("delete prefix"),
        2
    );
    assert!(store.list(&format!("{p}/")).await.expect("list").is_empty());
}

async fn transactions(store: &dyn StateStore, p: &str) {
    let key = format!("{p}/txn");
    let other = format!("{p}/txn-other");
    let put = |value: &str| Op::Put {
        key: key.clone(),
        value: value.as_bytes().to_vec(),
        lease: None,
    };
    // Create-if-absent succeeds once, at the key's new revision.
    let created = store
        .txn(vec![Compare::Absent(key.clone())], vec![put("1")])
        .await
        .expect("txn")
        .expect("applied");
    assert_eq!(
        store.get(&key).await.expect("get").expect("key").mod_revision,
        created
    );
    assert!(
        store
            .txn(vec![Compare::Absent(key.clone())], vec![put("2")])
            .await
            .expect("txn")
            .is_none()
    );
    // Compare-and-set on the value.
    assert!(
        store
            .txn(
                vec![Compare::ValueEquals(key.clone(), b"9".to_vec())],
                vec![put("3")]
            )
            .await
            .expect("txn")
            .is_none()
    );
    assert!(
        store
            .txn(
                vec![
                    Compare::ValueEquals(key.clone(), b"1".to_vec()),
                    Compare::Present(key.clone())
                ],
                vec![
                    put("3"),
                    Op::Put {
                        key: other.clone(),
                        value: b"x".to_vec(),
                        lease: None
                    }
                ],
            )
            .await
            .expect("txn")
            .is_some()
    );
    assert_eq!(store.get(&key).await.expect("get").expect("key").value, b"3");
    assert!(
        store.get(&other).await.expect("get").is_some(),
        "both writes applied"
    );
    // A failed compare applies nothing.
    assert!(
        store
            .txn(
                vec![Compare::Absent(other.clone())],
                vec![Op::Delete(key.clone())]
            )
            .await
            .expect("txn")
            .is_none()
    );
    assert!(store.get(&key).await.expect("get").is_some());
    // Both stores take MAX_TXN_OPS operations at once, and refuse one more
    // without applying any.
    let many = |count: usize| -> Vec<Op> {
        (0..count)
            .map(|i| Op::Put {
                key: format!("{p}/many/{i:04}"),
                value: b"x".to_vec(),
                lease: None,
            })
            .collect()
    };
    assert!(
        store
            .txn(Vec::new(), many(MAX_TXN_OPS))
            .await
            .expect("txn at the limit")
            .is_some()
    );
    store.delete_prefix(&format!("{p}/many/")).await.expect("cleanup");
    let refused = store
        .txn(Vec::new(), many(MAX_TXN_OPS + 1))
        .await
        .expect_err("one operation over the limit");
    assert!(refused.to_string().contains("too many operations"), "{refused}");
    assert!(store.list(&format!("{p}/many/")).await.expect("list").is_empty());
    store.delete_prefix(&format!("{p}/")).await.expect("cleanup");
}

async fn leases(store: &dyn StateStore, p: &str) {
    let key = format!("{p}/leased");
    let lease = store.grant_lease(Duration::from_secs(1)).await.expect("grant");
    store
        .put(&key, b"v".to_vec(), Some(lease))
        .await
        .expect("put leased");
    assert_eq!(store.get(&key).await.expect("get").expect("key").lease, lease);
    // Kept alive past its TTL, the key stays.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        store.keep_alive(lease).await.expect("keep alive");
    }
    assert!(
        store.get(&key).await.expect("get").is_some(),
        "kept-alive key survives"
    );
    // Left alone, the key vanishes and the lease is lost.
    poll_until(Duration::from_secs(10), "leased key to expire", || async {
        store.get(&key).await.expect("get").is_none().then_some(())
    })
    .await;
    assert!(matches!(
        store.keep_alive(lease).await,
        Err(StateError::LeaseLost(_))
    ));
    assert!(matches!(
        store.put(&key, b"v".to_vec(), Some(lease)).await,
        Err(StateError::LeaseLost(_))
    ));
    // Revoking deletes at once.
    let lease = store.grant_lease(Duration::from_secs(30)).await.expect("grant");
    store.put(&key, b"v".to_vec(), Some(lease)).await.expect("put");
    store.revoke_lease(lease).await.expect("revoke");
    assert!(store.get(&key).await.expect("get").is_none());
}

async fn watches(store: &dyn StateStore, p: &str) {
    let mut events = store.watch(&format!("{p}/w/")).await.expect("watch");
    store
        .put(&format!("{p}/w/1"), b"one".to_vec(), None)
        .await
        .expect("put");
    store
        .put(&format!("{p}/elsewhere"), b"x".to_vec(), None)
        .await
        .expect("put");
    store.delete(&format!("{p}/w/1")).await.expect("delete");
    let first = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("event");
    let first_revision = first.as_ref().map(WatchEvent::revision).unwrap_or_default();
    match first {
        Some(WatchEvent::Put(kv)) => {
            assert_eq!(kv.key, format!("{p}/w/1"));
            assert_eq!(kv.value, b"one");
        }
        other => panic!("expected a put, got {other:?}"),
    }
    let second = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("event");
    match second {
        Some(WatchEvent::Delete { key, revision }) => {
            assert_eq!(key, format!("{p}/w/1"), "keys outside the prefix are not seen");
            assert!(revision > first_revision, "a delete has a revision of its own");
        }
        other => panic!("expected a delete, got {other:?}"),
    }
    store.delete_prefix(&format!("{p}/")).await.expect("cleanup");
}

/// A cache built from `list_and_watch` misses nothing: what was there is in
/// the list, every later change arrives in order, none twice.
async fn lists_then_watches_without_a_gap(store: &dyn StateStore, p: &str) {
    let prefix = format!("{p}/lw/");
    store
        .put(&format!("{prefix}a"), b"1".to_vec(), None)
        .await
        .expect("put");
    store
        .put(&format!("{prefix}b"), b"2".to_vec(), None)
        .await
        .expect("put");
    let mut snapshot = store.list_and_watch(&prefix).await.expect("list and watch");
    let keys: Vec<&str> = snapshot.entries.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, [format!("{prefix}a"), format!("{prefix}b")]);
    assert!(
        snapshot
            .entries
            .iter()
            .all(|kv| kv.mod_revision <= snapshot.revision)
    );
    store
        .put(&format!("{prefix}a"), b"3".to_vec(), None)
        .await
        .expect("put");
    store.delete(&format!("{prefix}b")).await.expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), snapshot.changes.recv())
            .await
            .expect("a change within 5 s")
            .expect("the watch is open");
        assert!(
            event.revision() > snapshot.revision,
            "only changes after the list"
        );
        seen.push(event);
    }
    assert!(matches!(&seen[0], WatchEvent::Put(kv) if kv.value == b"3"));
    assert!(matches!(&seen[1], WatchEvent::Delete { key, .. } if key == &format!("{prefix}b")));
    assert!(seen[0].revision() < seen[1].revision());
    store.delete_prefix(&format!("{p}/")).await.expect("cleanup");
}

#[tokio::test]
async fn memory_store_passes_the_suite() {
    suite(Arc::new(MemoryStore::new()), "/test/memory").await;
}

#[tokio::test]
async fn etcd_store_passes_the_suite() {
    let etcd = EtcdServer::start();
    let store = EtcdStore::connect(&[etcd.endpoint()])
        .await
        .expect("connect to etcd");
    suite(Arc::new(store), "/test/etcd").await;
}

#[tokio::test]
async fn unreachable_etcd_is_a_clear_error_naming_the_endpoint() {
    let port = throng_testkit::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let error = EtcdStore::connect(std::slice::from_ref(&endpoint))
        .await
        .err()
        .expect("connecting to nothing fails");
    assert!(matches!(error, StateError::Unavailable { .. }), "{error}");
    assert!(error.to_string().contains(&endpoint), "{error}");
}
