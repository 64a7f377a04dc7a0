//! A service's database connections when work on them is cut short or
//! their server side goes away: on SQLite, and on PostgreSQL with
//! `SHOP_TEST_BACKEND=postgres`.

use std::time::Duration;

use shop::services::DataHome;
use shop_common::config::Env;
use shop_common::db::{is_unavailable, Db};
use sqlx::Row;

use crate::helpers::TestDatabase;

/// The order service's database with one connection per set (so the next
/// statement takes the very connection the last one left), a table `t`
/// of its own, and the database it lives in (kept until the test ends).
async fn one_connection(dir: &tempfile::TempDir, pool_size: u32) -> (Db, Option<TestDatabase>) {
    let database = TestDatabase::for_this_run().await;
    let data = match &database {
        Some(database) => DataHome::Postgres(database.url.clone()),
        None => DataHome::Dir(dir.path().to_owned()),
    };
    let env = Env::from_pairs([
        ("DB_POOL_SIZE", pool_size.to_string()),
        ("DB_ACQUIRE_TIMEOUT_MS", "10000".to_owned()),
    ]);
    let db = data
        .open(&env, shop_order::NAME, shop_order::migrations())
        .await
        .expect("the database opens");
    sqlx::query("CREATE TABLE t (v INTEGER NOT NULL)")
        .execute(&db.writer)
        .await
        .expect("a table of the test's own");
    (db, database)
}

async fn rows_in_t(db: &Db) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM t")
        .fetch_one(&db.reader)
        .await
        .expect("a count")
        .get("n")
}

/// A statement that runs for seconds unless stopped.
fn long_statement(db: &Db) -> &'static str {
    if db.is_postgres() {
        "SELECT pg_sleep(1) IS NULL AS slept"
    } else {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
         SELECT COUNT(*) AS n FROM c"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_cut_short_leaves_the_connection_sound_and_nothing_half_done() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _database) = one_connection(&dir, 1).await;

    // A read abandoned midway (its request cancelled)...
    let cut = tokio::time::timeout(
        Duration::from_millis(100),
        sqlx::query(long_statement(&db)).fetch_one(&db.reader),
    )
    .await;
    assert!(cut.is_err(), "the long statement ended within 100 ms");
    // ...then the next statement on that connection gets its own answer.
    let one: i32 = sqlx::query("SELECT 1 AS one")
        .fetch_one(&db.reader)
        .await
        .expect("the connection answers again")
        .get("one");
    assert_eq!(one, 1);

    // A transaction dropped open, and one cut short in its statement.
    {
        let mut tx = db.writer.begin().await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let cut = tokio::time::timeout(Duration::from_millis(100), async {
        let mut tx = db.writer.begin().await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(long_statement(&db))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    })
    .await;
    assert!(cut.is_err(), "the transaction ended within 100 ms");
    assert_eq!(rows_in_t(&db).await, 0, "neither transaction left a row");

    // The connection is out of both transactions: a write commits alone.
    let mut tx = db.writer.begin().await.unwrap();
    sqlx::query("INSERT INTO t (v) VALUES (3)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("INSERT INTO t (v) VALUES (4)")
        .execute(&db.writer)
        .await
        .unwrap();
    let values: Vec<i32> = sqlx::query("SELECT v FROM t ORDER BY v")
        .fetch_all(&db.reader)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("v"))
        .collect();
    assert_eq!(values, [3, 4]);
    db.close().await;
}

/// PostgreSQL ends every session of the service (a restart, a failover,
/// an administrator): the statements that find their connection gone are
/// refused as unavailable (503), never more than one per connection, and
/// the set opens new ones in their place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_whose_sessions_the_server_ended_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (db, database) = one_connection(&dir, 2).await;
    let Some(database) = database else {
        // SQLite has no server to end a session.
        return;
    };
    // Both connections opened and idle.
    let (a, b) = tokio::join!(
        sqlx::query("SELECT pg_sleep(0.2)").execute(&db.reader),
        sqlx::query("SELECT pg_sleep(0.2)").execute(&db.reader),
    );
    a.unwrap();
    b.unwrap();

    let admin = sqlx::PgPool::connect(&database.url).await.unwrap();
    let ended: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) ended",
    )
    .fetch_one(&admin)
    .await
    .unwrap()
    .get("n");
    assert!(ended >= 2, "the service's two sessions ended ({ended})");

    let mut refused = 0;
    for attempt in 0..10 {
        match sqlx::query("INSERT INTO t (v) VALUES ($1)")
            .bind(attempt)
            .execute(&db.writer)
            .await
        {
            Ok(_) => {}
            Err(err) => {
                assert!(is_unavailable(&err), "refused as unavailable: {err:?}");
                refused += 1;
            }
        }
    }
    assert!(
        refused <= 2,
        "{refused} statements refused after the sessions ended"
    );
    assert_eq!(rows_in_t(&db).await, 10 - refused);
    admin.close().await;
    db.close().await;
}
