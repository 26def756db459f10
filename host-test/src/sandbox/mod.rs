//! What one tenant's component may do, and what it costs: where its requests may go and how many
//! at once (`outbound`), its memory, CPU and size limits (`limits`), how much memory the
//! process budgets for instances (`memory_budget`), and the credentials scrubbed from whatever
//! it writes (`redact`).

pub mod limits;
pub mod memory_budget;
pub mod outbound;
pub mod redact;

pub use outbound::{check_outbound, Denied, OutboundPolicy};
