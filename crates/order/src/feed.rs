//! Wakes what follows the outbox (event streams, the relay) when this
//! process commits events, and ends the streams at shutdown.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Wakes event streams when this process commits events (streams also poll,
/// for events written by other replicas).
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub written: Arc<Notify>,
    /// Ends every stream when the service shuts down.
    pub stopping: CancellationToken,
}
