//! The scratch-card service: one deterministic card per user, the nice-to-have part of the
//! balance page.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use runner_http::IncomingDeadline;

use crate::model::{Balance, CURRENCY, ScratchCard};
use crate::services::downstream::{CallerConnection, Downstream, Stats};
use crate::services::faults::Faults;
use crate::user_id::user_id_from_path;

/// The card of `user_id`: every third user wins something, deterministically.
pub fn card_for(user_id: u64) -> ScratchCard {
    let prize = if user_id.is_multiple_of(3) {
        // At most 700: the cast cannot truncate.
        ((user_id % 7 + 1) * 100) as i64
    } else {
        0
    };
    let message = if prize > 0 {
        format!("You won {}.{:02} {CURRENCY}!", prize / 100, prize % 100)
    } else {
        "No luck this time.".to_owned()
    };
    ScratchCard {
        user_id,
        card_id: format!("card-{user_id:06}"),
        prize: Balance {
            amount_minor: prize,
            currency: CURRENCY.to_owned(),
        },
        message,
    }
}

/// The scratch-card service: its faults and its counters.
#[derive(Debug, Clone)]
pub struct Scratch {
    downstream: Downstream,
}

impl Scratch {
    /// A scratch-card service with these faults.
    pub fn new(faults: Faults) -> Self {
        Self {
            downstream: Downstream::new(faults),
        }
    }

    /// Its live fault settings.
    pub fn faults(&self) -> &Faults {
        &self.downstream.faults
    }

    /// Its request counters.
    pub fn stats(&self) -> &Stats {
        &self.downstream.stats
    }

    /// The HTTP routes: `GET /cards/{user_id}` and the admin routes.
    pub fn router(&self) -> Router {
        self.downstream
            .router("/cards/{user_id}", get(get_card).with_state(self.clone()))
    }
}

async fn get_card(
    State(scratch): State<Scratch>,
    incoming: Option<Extension<IncomingDeadline>>,
    connection: CallerConnection,
    raw: Result<UrlPath<String>, PathRejection>,
) -> Response {
    // A card is never stale (no replica to lag): the plan's `stale` is the wallet's.
    let work = |_| async {
        match user_id_from_path(raw) {
            Ok(user_id) => Json(card_for(user_id)).into_response(),
            Err(error) => error.into_response(),
        }
    };
    scratch.downstream.serve(incoming, connection, work).await
}
