//! The control-plane output: the flagd document, where it is stored, and the audit log.

pub mod audit;
#[cfg(feature = "etcd")]
pub mod etcd;
mod fast_decode;
pub mod file;
pub(crate) mod flagd;
pub mod fractional;
pub(crate) mod record_text;
pub(crate) mod store;

pub use flagd::{Document, FlagCodec, flag_key};
pub use record_text::RecordText;
pub use store::{
    AuditRead, CommitRequest, Committed, Conflict, FlagStore, Held, Presence, RegionAck, Snapshot,
    StoreError,
};
