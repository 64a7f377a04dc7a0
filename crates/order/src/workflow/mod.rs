//! The order service's workflows: what a request (or recovery) does across
//! the store and the other services. Below [`crate::routes`], never
//! importing it; above [`crate::store`] and [`crate::client`].
//!
//! - [`checkout`]: cart -> reserved stock -> order -> cart cleared, resumable.
//! - [`paying`]: one charge per order, `paid` only with it (card or manual).
//! - [`status`]: status changes; cancelling gives the stock back once.
//! - [`refund`]: cancelling a paid order refunds its payment once.
//! - [`expiry`]: unpaid orders are cancelled after `ORDER_PAYMENT_TIMEOUT`.
//! - [`recovery`]: finishes or undoes what a crash interrupted.

pub mod checkout;
pub mod expiry;
pub mod paying;
pub mod recovery;
pub mod refund;
pub mod status;

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;
use shop_common::db::{Guard, Statements, UNKNOWN_ID};
use shop_common::idempotency::Idempotency;
use shop_common::ApiError;

use crate::domain::{Order, OrderStatus};
use crate::store::orders;
use crate::AppState;

/// The 404 of a missing order.
pub fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Order {id} not found"))
}

/// The order, or 404. Read from the readers: a read sees every commit
/// made before it starts, and reads never queue behind the one writer.
pub async fn load(state: &AppState, id: i64) -> Result<Order, ApiError> {
    orders::get(&state.db.reader, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Commits `statements`: an order's write (a statement returning the
/// order), with its event and `answer`'s record guarded on it (see
/// [`Answer::recording_when`]). The order as stored, and then the answer
/// is recorded and the event feed told; `None` when the write found the
/// order no longer so, and nothing was written.
pub async fn commit_order(
    state: &AppState,
    statements: Statements,
    answer: &Answer<'_>,
) -> Result<Option<Order>, ApiError> {
    let rows = state.db.writer.commit(statements).await?;
    let order = orders::returned(&rows)?;
    if let Some(order) = &order {
        answer.committed();
        state.feed.wrote();
        state.metrics.stored(order);
        match order.status {
            OrderStatus::Pending => tracing::info!(
                order_id = order.id,
                user_id = order.user_id,
                total = %order.total_amount,
                "order placed"
            ),
            OrderStatus::Paid => tracing::info!(
                order_id = order.id,
                payment_id = order.payment_id.as_deref().unwrap_or_default(),
                "order paid"
            ),
            _ => {}
        }
    }
    Ok(order)
}

/// The answer to the request a workflow serves, as it is recorded under
/// the request's `Idempotency-Key`. A workflow whose success ends in a
/// transaction of its own records that success in it, so the answer
/// commits with the effect, one message less to the writer; the route
/// records every other answer (see [`Answer::recorded`]).
#[derive(Debug)]
pub struct Answer<'a> {
    idem: Option<&'a Idempotency>,
    /// The status of a success.
    status: StatusCode,
    recorded: AtomicBool,
}

impl<'a> Answer<'a> {
    /// Recorded under `idem` (when the request has a key), a success
    /// answering `status`.
    pub fn new(idem: Option<&'a Idempotency>, status: StatusCode) -> Answer<'a> {
        Answer {
            idem,
            status,
            recorded: AtomicBool::new(false),
        }
    }

    /// Nothing to record: a workflow run by recovery or by another workflow.
    pub fn unrecorded() -> Answer<'static> {
        Answer::new(None, StatusCode::OK)
    }

    /// The statements recording `order` as the success answer, for the
    /// batch that makes the order so, in the same message: recorded only if
    /// `guard` finds the order as the batch left it (then
    /// [`Answer::committed`]); an order built with [`UNKNOWN_ID`] (its insert is in the
    /// batch) is recorded with the id the database gave it.
    pub fn recording_when(
        &self,
        state: &AppState,
        order: &Order,
        guard: &Guard,
    ) -> Result<Statements, ApiError> {
        let id = (order.id == UNKNOWN_ID).then_some(("id", "id"));
        match self.idem {
            Some(idem) => idem.recording_when(self.status, &state.shown(order.clone()), guard, id),
            None => Ok(Statements::new()),
        }
    }

    /// The transaction holding [`Answer::recording_when`] committed.
    fn committed(&self) {
        self.recorded.store(self.idem.is_some(), Ordering::Relaxed);
    }

    /// The request's key, if it has one.
    pub fn idem(&self) -> Option<&'a Idempotency> {
        self.idem
    }

    /// The status of a success.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Whether the success is recorded already.
    pub fn recorded(&self) -> bool {
        self.recorded.load(Ordering::Relaxed)
    }
}
