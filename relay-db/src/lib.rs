//! What the XFTP and SMP relays share around PostgreSQL: the `[STORE_LOG] db_*` settings, the
//! connection (with libpq's defaults for what the connection string leaves out), the schema
//! check and the reference's `migrations` table, so that either implementation runs over a
//! database the other created.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

/// Where libpq on Debian looks for the server's socket when the connection names no host.
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `[STORE_LOG] db_*`: where the database is.
#[derive(Clone, PartialEq, Eq)]
pub struct DbOptions {
    /// `db_connection`: a libpq connection string or URL (may hold a password: never logged).
    pub connection: String,
    /// `db_schema`.
    pub schema: String,
    /// `db_pool_size`.
    pub pool_size: usize,
}

impl std::fmt::Debug for DbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbOptions")
            .field("connection", &"<hidden>")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// What to do with schema migrations this relay has and the database lacks (a schema with
/// none applied yet always gets them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Migrate {
    /// Apply them.
    Up,
    /// Refuse to start, naming them.
    #[default]
    Refuse,
}

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `db_connection` or `db_schema` is malformed.
    #[error("[STORE_LOG] {0}")]
    Config(String),
    /// The schema is missing.
    #[error(
        "the schema {schema} does not exist in the database: create it (CREATE SCHEMA {schema}) \
         or run `{tool} database import`"
    )]
    NoSchema {
        /// The schema.
        schema: String,
        /// The relay's command.
        tool: &'static str,
    },
    /// The database has migrations this relay does not know (a newer relay wrote it).
    #[error(
        "the database has schema migrations this {tool} does not know: {names}; use a newer {tool}"
    )]
    Unknown {
        /// The relay's command.
        tool: &'static str,
        /// The migrations.
        names: String,
    },
    /// Migrations are pending and were not confirmed.
    #[error("the database needs schema migrations {0}: start with --confirm-migrations up")]
    Pending(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(describe(&e))
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Db(e.to_string())
    }
}

/// A database error as the logs show it: the server's message, or what failed on the way.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// A schema name used in statements: an unquoted SQL identifier only.
fn check_schema(schema: &str) -> Result<(), DbError> {
    let mut chars = schema.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(DbError::Config(format!(
            "db_schema = {schema}: expected a lower-case SQL name (letters, digits, _)"
        )))
    }
}

/// The connection settings, with libpq's defaults for what the string leaves out, the
/// schema as the search path and `app` as the application name.
pub fn pg_config(opts: &DbOptions, app: &str) -> Result<tokio_postgres::Config, DbError> {
    check_schema(&opts.schema)?;
    let mut config = tokio_postgres::Config::from_str(&opts.connection)
        .map_err(|e| DbError::Config(format!("db_connection is not a valid connection: {e}")))?;
    if config.get_hosts().is_empty() {
        config.host_path(DEFAULT_SOCKET_DIR);
    }
    if config.get_user().is_none() {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .map_err(|_| DbError::Config("db_connection names no user".into()))?;
        config.user(user);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.options(format!("-c search_path={}", opts.schema));
    config.application_name(app);
    Ok(config)
}

/// One connection, driven on the current runtime.
pub async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client, DbError> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("database connection closed: {e}");
        }
    });
    Ok(client)
}

/// A pool of `opts.pool_size` connections; waiting for one gives up after `wait`.
pub fn pool(opts: &DbOptions, app: &str, wait: Duration) -> Result<Pool, DbError> {
    if opts.pool_size == 0 {
        return Err(DbError::Config("db_pool_size must be at least 1".into()));
    }
    let manager = Manager::from_config(
        pg_config(opts, app)?,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(opts.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| DbError::Db(e.to_string()))
}

/// Whether the schema exists.
pub async fn schema_exists(client: &tokio_postgres::Client, schema: &str) -> Result<bool, DbError> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await?
        .get(0))
}

/// A relay's schema: its command (for messages) and its migrations in order, with the
/// reference's names so that its `migrations` table and ours agree.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// `xftp-server` or `smp-server`.
    pub tool: &'static str,
    /// (name, statements), oldest first.
    pub migrations: &'static [(&'static str, &'static str)],
}

impl Schema {
    /// Creates the schema if asked, checks it exists and brings its migrations up to date.
    pub async fn prepare(
        &self,
        opts: &DbOptions,
        create_schema: bool,
        migrate: Migrate,
    ) -> Result<(), DbError> {
        let config = pg_config(opts, self.tool)?;
        let mut client = connect(&config).await?;
        if !schema_exists(&client, &opts.schema).await? {
            if !create_schema {
                return Err(DbError::NoSchema {
                    schema: opts.schema.clone(),
                    tool: self.tool,
                });
            }
            client
                .batch_execute(&format!("CREATE SCHEMA {}", opts.schema))
                .await?;
        }
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS migrations \
                 (name TEXT NOT NULL PRIMARY KEY, ts TIMESTAMP NOT NULL, down TEXT)",
            )
            .await?;
        let applied: Vec<String> = client
            .query("SELECT name FROM migrations ORDER BY name", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let unknown: Vec<&str> = applied
            .iter()
            .map(String::as_str)
            .filter(|a| !self.migrations.iter().any(|(n, _)| n == a))
            .collect();
        if !unknown.is_empty() {
            return Err(DbError::Unknown {
                tool: self.tool,
                names: unknown.join(", "),
            });
        }
        let pending: Vec<&(&str, &str)> = self
            .migrations
            .iter()
            .filter(|(n, _)| !applied.iter().any(|a| a == n))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        // A new, empty schema takes its migrations without asking, as the reference does.
        if migrate == Migrate::Refuse && !applied.is_empty() {
            let names: Vec<&str> = pending.iter().map(|(n, _)| *n).collect();
            return Err(DbError::Pending(names.join(", ")));
        }
        for (name, up) in pending {
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO migrations (name, down, ts) VALUES ($1, NULL, now() AT TIME ZONE 'UTC')",
                &[name],
            )
            .await?;
            tx.batch_execute(up).await?;
            tx.commit().await?;
            tracing::info!("database: migration {name} applied");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(check_schema("smp_server").is_ok());
        assert!(check_schema("_x1").is_ok());
        for bad in ["", "1abc", "Smp", "a;drop", "a b", &"x".repeat(64)] {
            assert!(check_schema(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_connection_is_never_printed() {
        let o = DbOptions {
            connection: "postgresql://u:secret@h/db".into(),
            schema: "s".into(),
            pool_size: 1,
        };
        assert!(!format!("{o:?}").contains("secret"));
    }

    #[test]
    fn missing_host_and_user_take_libpq_defaults() {
        let o = DbOptions {
            connection: "postgresql:///db".into(),
            schema: "s".into(),
            pool_size: 1,
        };
        if std::env::var("USER").is_ok() || std::env::var("LOGNAME").is_ok() {
            let c = pg_config(&o, "t").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.get_hosts().len(), 1);
            assert!(c.get_user().is_some());
            assert_eq!(c.get_options(), Some("-c search_path=s"));
        }
    }
}
