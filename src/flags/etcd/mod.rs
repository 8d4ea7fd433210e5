//! The routing document in etcd (DESIGN §3, feature `etcd`): the whole
//! document under one key; every commit one transaction comparing the key's
//! `mod_revision` and putting the document and its audit entry together.

mod conn;
mod store;
pub mod sync;

pub use conn::{Blocking, Reach};
pub use store::EtcdStore;
