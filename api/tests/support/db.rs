//! Test databases on both backends: SQLite in a temporary folder, PostgreSQL in a fresh database
//! `gridproof_test_<random>` on the server of `GRIDPROOF_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/`), dropped afterwards. Without a server the PostgreSQL
//! variants print a loud SKIP line and pass, unless `GRIDPROOF_REQUIRE_POSTGRES=1` (CI), which
//! makes them fail instead.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use gridproof_api::store::{Store, StoreOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/";

/// A store under test and what is needed to reach its database behind its back.
pub struct TestDb {
    pub store: Store,
    pub backend: TestBackend,
    _dir: Option<tempfile::TempDir>,
}

/// Where the test database lives.
pub enum TestBackend {
    Sqlite(PathBuf),
    Postgres(Arc<PgGuard>),
}

/// Drops the test database when the last handle goes, even if the test panicked.
pub struct PgGuard {
    pub admin: PgConnectOptions,
    pub name: String,
}

impl PgGuard {
    /// Connection options of the test database itself.
    pub fn options(&self) -> PgConnectOptions {
        self.admin.clone().database(&self.name)
    }
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for dropping the test database");
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect_with(&admin).await {
                    let _ = c.execute(sqlx::AssertSqlSafe(sql)).await;
                }
            });
        })
        .join();
    }
}

impl TestDb {
    /// True on PostgreSQL (for SQL that differs between the backends).
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, TestBackend::Postgres(_))
    }

    /// The database as `DATABASE_URL` / `--database-url` of a `gridproof` process names it (the
    /// SQLite file's path, or `GRIDPROOF_TEST_DATABASE_URL`'s server with this test's database).
    pub fn database_url(&self) -> String {
        match &self.backend {
            TestBackend::Sqlite(path) => path.display().to_string(),
            TestBackend::Postgres(g) => {
                // The server's URL with this database as its path (a query string is kept).
                let server = server_url();
                let (base, query) = match server.split_once('?') {
                    Some((base, query)) => (base, format!("?{query}")),
                    None => (server.as_str(), String::new()),
                };
                let authority = base.find("://").map_or(0, |i| i + 3);
                let path = base[authority..]
                    .find('/')
                    .map_or(base.len(), |i| authority + i);
                format!("{}/{}{query}", &base[..path], g.name)
            }
        }
    }

    /// Another store on the same database (another process or machine).
    pub async fn reopen(&self) -> Store {
        match &self.backend {
            TestBackend::Sqlite(path) => Store::open_sqlite(path.clone(), &StoreOptions::default())
                .await
                .unwrap(),
            TestBackend::Postgres(g) => Store::open_postgres(g.options(), &StoreOptions::default())
                .await
                .unwrap(),
        }
    }

    /// Runs raw SQL on the database, bypassing the store; the number of rows it changed.
    pub async fn raw_execute(&self, sql: &str) -> u64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match &self.backend {
            TestBackend::Sqlite(path) => {
                let mut c = sqlx::SqliteConnection::connect_with(
                    &sqlx::sqlite::SqliteConnectOptions::new().filename(path),
                )
                .await
                .unwrap();
                c.execute(sql).await.unwrap().rows_affected()
            }
            TestBackend::Postgres(g) => {
                let mut c = sqlx::PgConnection::connect_with(&g.options())
                    .await
                    .unwrap();
                c.execute(sql).await.unwrap().rows_affected()
            }
        }
    }

    /// Every byte the database holds for `table`: on SQLite the database file and its WAL (what
    /// an attacker with the disk sees), on PostgreSQL every row rendered as text (bytea in hex).
    pub async fn raw_bytes(&self, table: &str) -> Vec<u8> {
        match &self.backend {
            TestBackend::Sqlite(path) => {
                let mut all = std::fs::read(path).unwrap();
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                if let Ok(w) = std::fs::read(wal) {
                    all.extend(w);
                }
                all
            }
            TestBackend::Postgres(g) => {
                let mut c = sqlx::PgConnection::connect_with(&g.options())
                    .await
                    .unwrap();
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text FROM {table} t"
                )))
                .fetch_all(&mut c)
                .await
                .unwrap();
                rows.join("\n").into_bytes()
            }
        }
    }
}

/// A fresh SQLite store in a temporary folder.
pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridproof.db");
    let store = Store::open_sqlite(path.clone(), &StoreOptions::default())
        .await
        .unwrap();
    TestDb {
        store,
        backend: TestBackend::Sqlite(path),
        _dir: Some(dir),
    }
}

/// The server the PostgreSQL variants run on.
fn server_url() -> String {
    std::env::var("GRIDPROOF_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.into())
}

/// A fresh PostgreSQL database, or `None` (after a loud SKIP line) when no server answers.
pub async fn postgres_db(test: &str) -> Option<TestDb> {
    let url = server_url();
    let admin = PgConnectOptions::from_str(&url).expect("GRIDPROOF_TEST_DATABASE_URL parses");
    let connect = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::PgConnection::connect_with(&admin),
    )
    .await;
    let mut conn = match connect {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return skip(test, &url, &e.to_string()),
        Err(_) => return skip(test, &url, "connection timed out"),
    };
    let name = format!("gridproof_test_{:016x}", rand::random::<u64>());
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let guard = Arc::new(PgGuard { admin, name });
    let store = Store::open_postgres(guard.options(), &StoreOptions::default())
        .await
        .unwrap();
    Some(TestDb {
        store,
        backend: TestBackend::Postgres(guard),
        _dir: None,
    })
}

fn skip(test: &str, url: &str, why: &str) -> Option<TestDb> {
    if std::env::var("GRIDPROOF_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("GRIDPROOF_REQUIRE_POSTGRES=1 but no PostgreSQL at {url}: {why}");
    }
    // Straight to the stderr handle: libtest captures eprintln! of passing tests.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!! SKIPPED the PostgreSQL variant of {test}: no server at {url} ({why}). \
         Start one or set GRIDPROOF_TEST_DATABASE_URL. !!!!!!!!\n"
    );
    None
}

/// `name::sqlite` and `name::postgres`, both running `async fn name(&TestDb)` of the test file.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::support::db::sqlite_db().await;
                super::$name(&db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = crate::support::db::postgres_db(stringify!($name)).await {
                    super::$name(&db).await;
                }
            }
        }
    )*};
}
