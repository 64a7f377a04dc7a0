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

use shop_common::ApiError;

use crate::domain::Order;
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
