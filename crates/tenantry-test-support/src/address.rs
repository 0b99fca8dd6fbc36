//! Connection strings and ports.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it for a bind to port 0).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("could not find a free TCP port on 127.0.0.1: {err}; is loopback networking up?"))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` within `timeout`.
pub(crate) fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `postgresql://postgres@127.0.0.1:{port}/{dbname}`, understood by tokio-postgres and sqlx.
pub(crate) fn tcp_url(port: u16, dbname: &str) -> String {
    format!("postgresql://postgres@127.0.0.1:{port}/{}", percent_encode(dbname))
}

/// `host={socket_dir} port={port} user=postgres dbname={dbname}` (libpq key/value form).
pub(crate) fn socket_conninfo(socket_dir: &Path, port: u16, dbname: &str) -> String {
    format!(
        "host={} port={port} user=postgres dbname={}",
        conninfo_value(&socket_dir.to_string_lossy()),
        conninfo_value(dbname)
    )
}

/// A key/value conninfo value: bare when safe, else single-quoted with `\` escapes.
pub(crate) fn conninfo_value(value: &str) -> String {
    let safe = !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c == '\'' || c == '\\');
    if safe {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a URL path segment.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_tcp_to_localhost() {
        assert_eq!(tcp_url(5433, "t_a_1_0"), "postgresql://postgres@127.0.0.1:5433/t_a_1_0");
        assert_eq!(tcp_url(1, "a b/é"), "postgresql://postgres@127.0.0.1:1/a%20b%2F%C3%A9");
    }

    #[test]
    fn conninfo_quotes_only_when_needed() {
        assert_eq!(
            socket_conninfo(Path::new("/tmp/x/socket"), 5433, "db"),
            "host=/tmp/x/socket port=5433 user=postgres dbname=db"
        );
        assert_eq!(
            socket_conninfo(Path::new("/tmp/a b"), 1, "it's"),
            r"host='/tmp/a b' port=1 user=postgres dbname='it\'s'"
        );
    }

    #[test]
    fn free_ports_are_nonzero() {
        assert_ne!(free_port(), 0);
    }
}
