//! The servers of `hostile_servers.rs`, reached through an HTTP proxy named
//! in the environment: the reqwest path. A loopback URL never goes through a
//! proxy, so the clients call `https://NAME.beacon.test`: the test proxy (on
//! loopback) takes the CONNECT, terminates TLS with a certificate from a
//! test CA (`tests/fixtures/tls`, trusted here through `SSL_CERT_FILE`), and
//! relays the request to the hostile server on loopback. No traffic leaves
//! the machine; nothing resolves `beacon.test` but the proxy.
// Tests and tools unwrap to fail loudly at the line that broke.
#![allow(clippy::unwrap_used)]

#[macro_use]
#[path = "common/hostile.rs"]
mod hostile;

use std::sync::LazyLock;

static PROXY: LazyLock<hostile::TlsProxy> = LazyLock::new(|| {
    let proxy = hostile::TlsProxy::start();
    // SAFETY: set once, before any client of this test binary reads the
    // environment (every test goes through `proxied()` first).
    #[allow(unsafe_code)]
    unsafe {
        for v in [
            "NO_PROXY",
            "no_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
        ] {
            std::env::remove_var(v);
        }
        std::env::set_var("ALL_PROXY", format!("http://{}", proxy.addr));
        std::env::set_var("SSL_CERT_FILE", hostile::tls_fixture("ca.pem"));
    }
    proxy
});

fn proxied() -> hostile::Variant {
    hostile::Variant::Proxy(&PROXY)
}

hostile_tests!(proxied());
