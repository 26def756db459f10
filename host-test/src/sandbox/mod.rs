//! What one tenant's component may do, enforced: where its requests may go and how many at once
//! (`outbound`), how much memory it may grow to (`memory_budget`), and the credentials scrubbed
//! from whatever it writes (`redact`). The limits themselves are configuration
//! (`config::limits`).

pub mod memory_budget;
pub mod outbound;
pub mod redact;

pub use outbound::{check_outbound, Denied, OutboundPolicy};
