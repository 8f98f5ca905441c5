//! The wallet service: balances in an embedded SQLite database.
//!
//! `GET /balances/{user_id}` answers `{"user_id": 7, "amount_minor": 55446, "currency": "EUR"}`
//! or 404. Amounts are integer minor units; floats never touch money.
//!
//! With the `stale_rate` fault, a share of the answers come as a replica that lags behind
//! the primary gives them: `"stale": true` beside the balance, which may be behind.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use runner_http::IncomingDeadline;
use rusqlite::{Connection, OptionalExtension};

use crate::error::ApiError;
use crate::model::{Balance, CURRENCY, WalletBalance};
use crate::services::downstream::{CallerConnection, Downstream, Stats};
use crate::services::faults::{Faults, Plan};
use crate::user_id::user_id_from_path;

/// The users the database is seeded with.
pub const SEEDED_USERS: std::ops::RangeInclusive<u64> = 1..=1000;

/// The balance every seeded user starts with, in minor units: deterministic, so tests and
/// the README can quote it.
pub fn seeded_balance(user_id: u64) -> i64 {
    // Stays below 10,000.00; the cast cannot truncate.
    ((user_id.wrapping_mul(7_919).wrapping_add(1_234)) % 1_000_000) as i64
}

/// The wallet service: a database connection, its faults and its counters.
#[derive(Debug, Clone)]
pub struct Wallet {
    // One connection behind a mutex: each lookup is a primary-key read of microseconds, far
    // cheaper than a hop to a blocking thread, and it is never held across an await.
    db: Arc<Mutex<Connection>>,
    downstream: Downstream,
}

impl Wallet {
    /// Opens (creating and seeding if needed) the database at `path`; `:memory:` for one
    /// that lives only as long as the service.
    pub fn open(path: &Path, faults: Faults) -> Result<Self, rusqlite::Error> {
        let db = Connection::open(path)?;
        seed(&db)?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
            downstream: Downstream::answering_stale(faults),
        })
    }

    /// A wallet with an in-memory database, seeded.
    pub fn in_memory(faults: Faults) -> Result<Self, rusqlite::Error> {
        Self::open(Path::new(":memory:"), faults)
    }

    /// Its live fault settings.
    pub fn faults(&self) -> &Faults {
        &self.downstream.faults
    }

    /// Its request counters.
    pub fn stats(&self) -> &Stats {
        &self.downstream.stats
    }

    /// The HTTP routes: `GET /balances/{user_id}` and the admin routes.
    pub fn router(&self) -> Router {
        self.downstream.router(
            "/balances/{user_id}",
            get(get_balance).with_state(self.clone()),
        )
    }

    fn balance(&self, user_id: u64) -> Result<Option<Balance>, rusqlite::Error> {
        let Ok(id) = i64::try_from(user_id) else {
            return Ok(None);
        };
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        db.query_row(
            "SELECT amount_minor, currency FROM balances WHERE user_id = ?1",
            [id],
            |row| {
                Ok(Balance {
                    amount_minor: row.get(0)?,
                    currency: row.get(1)?,
                })
            },
        )
        .optional()
    }
}

/// Creates the table and inserts the seeded users that are missing, in one transaction.
fn seed(db: &Connection) -> Result<(), rusqlite::Error> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS balances (
             user_id      INTEGER PRIMARY KEY,
             amount_minor INTEGER NOT NULL,
             currency     TEXT    NOT NULL
         );",
    )?;
    let tx = db.unchecked_transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT OR IGNORE INTO balances (user_id, amount_minor, currency) VALUES (?1, ?2, ?3)",
        )?;
        for user_id in SEEDED_USERS {
            // Seeded ids are at most 1000: the cast cannot wrap.
            insert.execute(rusqlite::params![
                user_id as i64,
                seeded_balance(user_id),
                CURRENCY
            ])?;
        }
    }
    tx.commit()
}

async fn get_balance(
    State(wallet): State<Wallet>,
    incoming: Option<Extension<IncomingDeadline>>,
    connection: CallerConnection,
    raw: Result<UrlPath<String>, PathRejection>,
) -> Response {
    // Borrowed into the work, which is moved into `serve` beside it.
    let balances = &wallet;
    let work = |plan: Plan| async move {
        let user_id = match user_id_from_path(raw) {
            Ok(user_id) => user_id,
            Err(error) => return error.into_response(),
        };
        match balances.balance(user_id) {
            // The amount is the database's: its balances do not change while it runs, so a
            // lagging replica would give the same figure. The mark is what a caller sees.
            Ok(Some(balance)) => Json(WalletBalance {
                user_id,
                balance,
                stale: plan.stale,
            })
            .into_response(),
            Ok(None) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_user",
                format!("no wallet for user {user_id}"),
            )
            .into_response(),
            Err(error) => {
                tracing::error!(%error, "wallet database error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "database_error",
                    "the wallet database failed",
                )
                .into_response()
            }
        }
    };
    wallet.downstream.serve(incoming, connection, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_a_thousand_users_once() {
        let wallet = Wallet::in_memory(Faults::none()).unwrap();
        let one = wallet.balance(1).unwrap().unwrap();
        assert_eq!(one.amount_minor, seeded_balance(1));
        assert_eq!(one.currency, "EUR");
        assert!(wallet.balance(1000).unwrap().is_some());
        assert!(wallet.balance(1001).unwrap().is_none());
        assert!(wallet.balance(0).unwrap().is_none());
        assert!(wallet.balance(u64::MAX).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_stale_answer_is_marked_and_a_fresh_one_as_before() {
        use tower::ServiceExt;
        let answer = |stale_rate| async move {
            let faults = Faults::new(
                crate::services::faults::FaultConfig {
                    stale_rate,
                    ..Default::default()
                },
                0,
            )
            .unwrap();
            let wallet = Wallet::in_memory(faults).unwrap();
            let request = axum::http::Request::get("/balances/7")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = wallet.router().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()
        };
        let balance = seeded_balance(7);
        assert_eq!(
            answer(1.0).await,
            serde_json::json!({"user_id": 7, "amount_minor": balance, "currency": "EUR", "stale": true})
        );
        // No `stale` field at all: the answer of old.
        assert_eq!(
            answer(0.0).await,
            serde_json::json!({"user_id": 7, "amount_minor": balance, "currency": "EUR"})
        );
        // And an answer without it reads as fresh.
        let old: WalletBalance =
            serde_json::from_str(r#"{"user_id": 7, "amount_minor": 1, "currency": "EUR"}"#)
                .unwrap();
        assert!(!old.stale);
    }

    #[test]
    fn reopening_keeps_the_data() {
        let path =
            std::env::temp_dir().join(format!("runner-example-test-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let wallet = Wallet::open(&path, Faults::none()).unwrap();
            let db = wallet.db.lock().unwrap();
            db.execute("UPDATE balances SET amount_minor = 5 WHERE user_id = 2", [])
                .unwrap();
        }
        let wallet = Wallet::open(&path, Faults::none()).unwrap();
        assert_eq!(wallet.balance(2).unwrap().unwrap().amount_minor, 5);
        let _ = std::fs::remove_file(&path);
    }
}
