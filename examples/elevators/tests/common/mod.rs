//! A minimal HTTP/1.1 client over raw TCP (keep-alive, Content-Length bodies), so tests can
//! also misbehave: close mid-request or mid-response.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use tenantry::{Config, Tenantry};
use tenantry_test_support::TestDatabase;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A `Tenantry` on `db` with a pool of `pool_size`.
pub async fn connect(db: &TestDatabase, pool_size: usize) -> Tenantry {
    let mut config = Config::default();
    config.database_url = Some(db.url());
    config.pool.max_size = pool_size;
    Tenantry::connect(config).await.expect("connects")
}

/// Serves `router` on 127.0.0.1 at a free port.
pub async fn spawn(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// One keep-alive connection.
pub struct Connection {
    stream: BufReader<TcpStream>,
}

/// A response: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Connection {
    pub async fn open(address: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self { stream: BufReader::new(stream) })
    }

    /// The bytes of a request.
    pub fn request(method: &str, host: &str, path: &str, body: Option<&str>) -> Vec<u8> {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
        if let Some(body) = body {
            raw.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
        } else {
            raw.push_str("\r\n");
        }
        raw.into_bytes()
    }

    pub async fn write(&mut self, raw: &[u8]) -> std::io::Result<()> {
        self.stream.get_mut().write_all(raw).await
    }

    /// Sends a request and reads its response.
    pub async fn send(&mut self, method: &str, host: &str, path: &str, body: Option<&str>) -> std::io::Result<Answer> {
        self.write(&Self::request(method, host, path, body)).await?;
        self.read_answer().await
    }

    pub async fn read_answer(&mut self) -> std::io::Result<Answer> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| std::io::ErrorKind::InvalidData)?;
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned() })
    }
}
