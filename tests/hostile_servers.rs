//! The provider clients (RunPod and Modal, on the direct hyper path) against
//! servers that misbehave on loopback: each call ends in a clear error class,
//! within bounded time and memory, never a panic, and no error shows the
//! secret the clients were given. The same servers through a proxy:
//! `hostile_servers_proxy.rs`.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

#[macro_use]
#[path = "common/hostile.rs"]
mod hostile;

/// The environment is process-wide: set once, before any client reads it.
fn direct() -> hostile::Variant {
    static SETUP: std::sync::Once = std::sync::Once::new();
    SETUP.call_once(|| {
        // SAFETY: every test calls this first; no other thread of this test
        // binary reads the environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            for v in beacon_console::providers::PROXY_VARIABLES {
                std::env::remove_var(v);
            }
            // Known roots for the TLS case (the test CA only).
            std::env::set_var("SSL_CERT_FILE", hostile::tls_fixture("ca.pem"));
        }
    });
    hostile::Variant::Direct
}

hostile_tests!(direct());
