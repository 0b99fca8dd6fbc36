//! Forwarded headers through a real nginx: clients that send their own `Forwarded` and
//! `X-Forwarded-Host` headers reach the tenant of the host they connected to, never another.
//!
//! The test starts nginx (`/usr/sbin/nginx`, or `TEST_TENANTRY_NGINX`) as a throwaway
//! process with its own prefix directory, configuration and loopback ports (`daemon off;`,
//! `master_process off;`), in front of the app served with axum's `ConnectInfo`. The client
//! connects from 127.0.0.2, nginx reaches the app from 127.0.0.1 (the one trusted proxy), so
//! the `for=` entry nginx appends for the client is never trusted.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use common::Fixture;
use tenantry_tower::resolve::Subdomain;
use tenantry_tower::{ForwardedHeader, ResolveTenantLayer, Tenant, TenantTx, TrustedProxies};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the client connects from: not a trusted proxy.
const CLIENT: &str = "127.0.0.2";
/// Where the outer nginx of the chain connects to the inner one from: a trusted proxy.
const CHAIN_HOP: &str = "127.0.0.3";

/// `/whoami`: the tenant and the marker row its transaction reads (its own data).
fn app(fixture: &Fixture, proxies: TrustedProxies) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|Tenant(tenant): Tenant, mut tx: TenantTx| async move {
                let marker: String = tx.query_one("SELECT tenant FROM marker", &[]).await.expect("reads").get(0);
                tx.into_inner().commit().await.expect("commits");
                format!("{tenant}:{marker}")
            }),
        )
        .layer(ResolveTenantLayer::new(fixture.tenantry.clone(), Subdomain::new().trust_forwarded(proxies)))
}

/// Serves `app` on a free port of 127.0.0.1 with the peer address in each request.
async fn serve(app: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds the app");
    let port = listener.local_addr().expect("app address").port();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serves");
    });
    port
}

fn free_port() -> u16 {
    // Bound and released: nginx binds it right after (a race no other test here joins).
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port()
}

/// A throwaway nginx; stopped (and its directory removed) when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx with `http_block` as the inside of its `http { }` block.
    fn start(http_block: &str, ports: &[u16]) -> Self {
        let binary =
            std::env::var_os("TEST_TENANTRY_NGINX").map_or_else(|| PathBuf::from("/usr/sbin/nginx"), PathBuf::from);
        assert!(
            binary.is_file(),
            "nginx not found at {}: install it (`apt-get install nginx-light`) or point TEST_TENANTRY_NGINX at it",
            binary.display()
        );
        let dir = std::env::temp_dir().join(format!("tenantry-nginx-{}-{}", std::process::id(), ports[0]));
        std::fs::create_dir_all(dir.join("logs")).expect("nginx prefix directory");
        let path = |name: &str| dir.join(name).display().to_string();
        // Every path nginx would otherwise take from its build (/var/lib/nginx, /run) is set
        // here, so the test needs nothing outside its directory.
        let config = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {pid};\nerror_log {log} info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n  \
             fastcgi_temp_path {tmp}/fastcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n\
             {http_block}\n}}\n",
            pid = path("nginx.pid"),
            log = path("logs/error.log"),
            tmp = path("tmp"),
        );
        std::fs::create_dir_all(dir.join("tmp")).expect("nginx temp directory");
        std::fs::write(dir.join("nginx.conf"), config).expect("writes nginx.conf");
        let child = Command::new(&binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starts {}: {error}", binary.display()));
        let mut nginx = Self { child, dir };
        nginx.wait_until_listening(ports);
        nginx
    }

    fn wait_until_listening(&mut self, ports: &[u16]) {
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited with {status}:\n{}", self.log());
            }
            if ports.iter().all(|port| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("nginx did not listen on {ports:?} within 5 s:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // One process (`master_process off`): killing it stops nginx entirely.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sends `head` (request line and headers, without the blank line) to nginx on `port` from
/// the client address, and returns the status and body of the answer.
async fn send(port: u16, head: &str) -> (u16, String) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(format!("{CLIENT}:0").parse().expect("client address")).expect("binds the client address");
    let mut stream = socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await.expect("connects to nginx");
    stream.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("writes");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("reads");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status =
        answer.get(9..12).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn trusted(addresses: &[&str]) -> TrustedProxies {
    addresses.iter().fold(TrustedProxies::new(), |proxies, address| proxies.address(address.parse().expect("ip")))
}

/// Rejects any host that is not a plain tenant host before it reaches a `server` that
/// proxies: `$host` then cannot carry `"`, `,` or `;` into the headers nginx writes.
fn catch_all(ports: &[u16]) -> String {
    let listens: String = ports.iter().map(|port| format!("    listen 127.0.0.1:{port} default_server;\n")).collect();
    format!("  server {{\n{listens}    server_name _;\n    return 421;\n  }}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_headers_through_nginx_reach_the_real_tenant() {
    let db = tenantry_test_support::test_database("forwarded_nginx").await;
    let fixture = Fixture::new(&db).await;
    fixture.create_with_marker("acme").await;
    fixture.create_with_marker("globex").await;

    let xfh_app = serve(app(&fixture, trusted(&["127.0.0.1"]))).await;
    let fwd_app = serve(app(&fixture, trusted(&["127.0.0.1", CHAIN_HOP]).header(ForwardedHeader::Forwarded))).await;
    let (xfh, fwd, chain) = (free_port(), free_port(), free_port());
    let tenant_hosts = r"~^[a-z0-9-]+\.example\.com$";
    // The typical reverse proxy: X-Forwarded-Host and X-Forwarded-For set, everything else the
    // client sent (its own Forwarded) passed on untouched, Host left as nginx's default
    // ($proxy_host, an IP address: no tenant).
    let xfh_server = format!(
        "  server {{\n    listen 127.0.0.1:{xfh};\n    server_name {tenant_hosts};\n    location / {{\n      \
         proxy_pass http://127.0.0.1:{xfh_app};\n      proxy_set_header X-Forwarded-Host $host;\n      \
         proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n"
    );
    // RFC 7239: append `for=…;host=…` to whatever Forwarded arrived (nginx.com's recipe,
    // with host=); the client's X-Forwarded-Host is passed on untouched. The chain's outer
    // nginx does the same and reaches the inner one from CHAIN_HOP.
    let forwarded_maps = "  map $remote_addr $forwarded_for {\n    ~^[0-9.]+$ \"for=$remote_addr\";\n    \
         ~^[0-9A-Fa-f:.]+$ \"for=\\\"[$remote_addr]\\\"\";\n    default \"for=unknown\";\n  }\n  \
         map $http_forwarded $forwarded_before {\n    \"\" \"\";\n    default \"$http_forwarded, \";\n  }\n";
    let forwarded_location = |upstream: u16, bind: &str| {
        format!(
            "    location / {{\n      proxy_pass http://127.0.0.1:{upstream};\n      {bind}\
             proxy_set_header Host $host;\n      \
             proxy_set_header Forwarded \"${{forwarded_before}}${{forwarded_for}};host=\\\"$host\\\"\";\n    }}\n"
        )
    };
    let fwd_server = format!(
        "  server {{\n    listen 127.0.0.1:{fwd};\n    server_name {tenant_hosts};\n{}  }}\n",
        forwarded_location(fwd_app, "")
    );
    let chain_server = format!(
        "  server {{\n    listen 127.0.0.1:{chain};\n    server_name {tenant_hosts};\n{}  }}\n",
        forwarded_location(fwd, &format!("proxy_bind {CHAIN_HOP};\n      "))
    );
    let ports = [xfh, fwd, chain];
    let _nginx =
        Nginx::start(&format!("{}{forwarded_maps}{xfh_server}{fwd_server}{chain_server}", catch_all(&ports)), &ports);

    let acme = "GET /whoami HTTP/1.1\r\nHost: acme.example.com";
    let spoofs = [
        "",
        "\r\nForwarded: host=globex.example.com",
        "\r\nX-Forwarded-Host: globex.example.com",
        "\r\nForwarded: for=127.0.0.1;host=globex.example.com\r\nX-Forwarded-Host: globex.example.com",
        "\r\nX-Forwarded-Host: globex.example.com\r\nForwarded: for=127.0.0.1;host=globex.example.com",
        "\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Host: globex.example.com, globex.example.com",
        "\r\nForwarded: for=127.0.0.3;host=globex.example.com\r\nForwarded: for=127.0.0.1;host=globex.example.com",
        "\r\nForwarded: for=\"[::1]\";host=\"globex.example.com\", for=127.0.0.1;host=globex.example.com",
        "\r\nForwarded: for=_hidden;host=globex.example.com;proto=https, for=unknown",
        "\r\nForwarded: for=\"unterminated;host=globex.example.com",
        "\r\nForwarded: host=globex.example.com;host=globex.example.com",
    ];
    for port in ports {
        for spoof in spoofs {
            let request = format!("{acme}{spoof}");
            assert_eq!(send(port, &request).await, (200, "acme:acme".into()), "port {port}: {request:?}");
        }
        let globex = "GET /whoami HTTP/1.1\r\nHost: globex.example.com\r\nX-Forwarded-Host: acme.example.com";
        assert_eq!(send(port, globex).await, (200, "globex:globex".into()), "port {port}");
        // A Host that would smuggle a second element into the header nginx writes never
        // reaches a proxying server.
        let smuggling = "GET /whoami HTTP/1.1\r\nHost: x\",for=127.0.0.1;host=\"globex.example.com";
        assert_eq!(send(port, smuggling).await.0, 421, "port {port}");
    }
}
