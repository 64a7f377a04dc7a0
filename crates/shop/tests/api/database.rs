//! A service's database connections when work on them is cut short or
//! their server side goes away: on SQLite, and on PostgreSQL with
//! `SHOP_TEST_BACKEND=postgres`.

use std::time::Duration;

use shop::services::DataHome;
use shop_common::config::Env;
use shop_common::db::{is_unavailable, is_unique_violation, Db, Statements};
use shop_common::paging::Arg;
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

/// A transaction sent whole (`Connections::commit`: on SQLite one message
/// in the writer's queue, on PostgreSQL its statements pipelined) stores
/// every value exactly as given, however hostile to SQL its text, and lands
/// whole or not at all; a text PostgreSQL cannot hold (a NUL) is refused
/// there and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_sent_whole_keeps_each_value_as_given_and_lands_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _database) = one_connection(&dir, 1).await;
    kept_table(&db).await;
    let texts = [
        "plain",
        "it's",
        "''",
        "back\\slash\\",
        "\\'; DROP TABLE kept; --",
        "E'\\x41'",
        "$1 $2 $$ $tag$",
        "line\nbreak\ttab",
        "ünïcødé ✓ 🛒",
        "",
    ];
    let numbers = [0, -1, 42, i64::MIN, i64::MAX];
    let mut whole = Statements::new();
    for (k, text) in texts.iter().enumerate() {
        let n = numbers[k % numbers.len()];
        whole = whole.push(
            "INSERT INTO kept (k, text, n) VALUES ($1, $2, $3) RETURNING k, text, n",
            vec![
                Arg::Int(k as i64),
                Arg::Text((*text).to_owned()),
                Arg::Int(n),
            ],
        );
    }
    whole = whole.push(
        "INSERT INTO kept (k, text, n) VALUES ($1, $2, $1) RETURNING k, text, n",
        vec![Arg::Int(100), Arg::Null],
    );
    let returned = db
        .writer
        .commit(whole)
        .await
        .expect("the transaction commits");
    assert_eq!(
        returned.len(),
        texts.len() + 1,
        "a row returned per statement"
    );
    let stored = sqlx::query("SELECT k, text, n FROM kept ORDER BY k")
        .fetch_all(&db.reader)
        .await
        .unwrap();
    for (rows, what) in [(&returned, "returned"), (&stored, "stored")] {
        for (k, text) in texts.iter().enumerate() {
            let row = &rows[k];
            assert_eq!(row.get::<i64, _>("k"), k as i64, "{what} key");
            assert_eq!(row.get::<String, _>("text"), *text, "{what} text");
            assert_eq!(
                row.get::<i64, _>("n"),
                numbers[k % numbers.len()],
                "{what} number"
            );
        }
        let nulls = &rows[texts.len()];
        assert_eq!(nulls.get::<Option<String>, _>("text"), None, "{what} NULL");
    }

    // A transaction whose last statement fails leaves nothing of its first.
    let failing = kept(&[(200, "first"), (0, "a key taken")]);
    let Err(err) = db.writer.commit(failing).await else {
        panic!("a key taken, yet the transaction committed");
    };
    assert!(
        is_unique_violation(&err),
        "the statement's own failure: {err:?}"
    );
    // A text with a NUL is refused, and its transaction with it.
    let nul = kept(&[(300, "fine"), (301, "nul\0inside")]);
    if db.writer.commit(nul).await.is_ok() {
        // SQLite keeps a NUL; PostgreSQL's text cannot.
        assert!(!db.is_postgres(), "PostgreSQL took a text with a NUL");
    }
    let keys: Vec<i64> = sqlx::query("SELECT k FROM kept WHERE k >= 200 ORDER BY k")
        .fetch_all(&db.reader)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("k"))
        .collect();
    let expected: &[i64] = if db.is_postgres() { &[] } else { &[300, 301] };
    assert_eq!(keys, expected, "nothing of a failed transaction landed");
    // The connection serves the next one.
    let next = Statements::new()
        .push(
            "INSERT INTO kept (k, n) VALUES ($1, $1)",
            vec![Arg::Int(400)],
        )
        .push(
            "INSERT INTO kept (k, n) VALUES ($1, $1)",
            vec![Arg::Int(401)],
        );
    db.writer
        .commit(next)
        .await
        .expect("the next transaction commits");
    db.close().await;
}

/// Transactions sent whole from many tasks at once (on PostgreSQL over a
/// few pipelined connections, many in flight on each, their statements
/// often prepared for the first time while others' transactions are open
/// or failed) each answer their own rows and land whole, or not at all
/// when a statement of theirs fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_sent_whole_at_once_each_land_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _database) = one_connection(&dir, 8).await;
    kept_table(&db).await;
    db.writer.commit(kept(&[(-1, "taken")])).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..150i64 {
        let db = db.clone();
        tasks.spawn(async move {
            // A statement of its own text: prepared anew on PostgreSQL.
            let fresh = Statements::new().push(
                format!("INSERT INTO kept (k, text, n) VALUES ($1, $2, $1) /* {i} */ RETURNING k"),
                vec![Arg::Int(10_000 + i), Arg::Text("fresh".to_owned())],
            );
            match i % 3 {
                0 => {
                    let rows = db.writer.commit(kept(&[(i, "a")]).then(fresh)).await;
                    let keys: Vec<i64> = rows.unwrap().iter().map(|r| r.get("k")).collect();
                    assert_eq!(keys, [10_000 + i], "task {i}'s own row");
                }
                1 => {
                    let failing = fresh.then(kept(&[(i, "b"), (-1, "a key taken")]));
                    let Err(refused) = db.writer.commit(failing).await else {
                        panic!("task {i}: a key taken, yet it committed");
                    };
                    assert!(is_unique_violation(&refused), "task {i}: {refused:?}");
                }
                _ => db
                    .writer
                    .commit(kept(&[(i, "alone")]))
                    .await
                    .map(drop)
                    .unwrap(),
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let keys: Vec<i64> = sqlx::query("SELECT k FROM kept ORDER BY k")
        .fetch_all(&db.reader)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("k"))
        .collect();
    let mut expected: Vec<i64> = [-1]
        .into_iter()
        .chain((0..150).filter(|i| i % 3 != 1))
        .collect();
    expected.extend((0..150).filter(|i| i % 3 == 0).map(|i| 10_000 + i));
    assert_eq!(keys, expected, "each transaction whole or not at all");
    db.close().await;
}

/// The table [`kept`] writes to, empty.
async fn kept_table(db: &Db) {
    sqlx::query("CREATE TABLE kept (k BIGINT PRIMARY KEY, text TEXT, n BIGINT)")
        .execute(&db.writer)
        .await
        .unwrap();
}

/// Inserts of `(k, text)` rows into `kept` (with `n` = `k`), in order.
fn kept(rows: &[(i64, &str)]) -> Statements {
    rows.iter()
        .fold(Statements::new(), |statements, &(k, text)| {
            statements.push(
                "INSERT INTO kept (k, text, n) VALUES ($1, $2, $1)",
                vec![Arg::Int(k), Arg::Text(text.to_owned())],
            )
        })
}
