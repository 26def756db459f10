//! The host's one HTTP connector, shared by every tenant's component and by sinks: proxy
//! (`proxy`), connections and trust roots (`connect`), the pooled client with its deadline
//! (`client`), its own error type (`error`), and the adapter that hands it to components as
//! WASI-HTTP (`wasi`). Which request may go out at all is the sandbox's decision
//! (`sandbox::outbound`); this module carries the allowed ones.

pub mod client;
mod connect;
pub mod error;
pub mod proxy;
pub mod tls;
pub mod wasi;

pub use client::{HttpClient, ResponseBody};
pub use connect::port_or_default;
pub use error::NetError;
pub use proxy::{check_proxy_url, environment_proxy, environment_proxy_problems, ProxySetting};
pub use tls::{client_config, ClientIdentity};
