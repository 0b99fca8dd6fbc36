//! The one throwaway PostgreSQL cluster of a test binary.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::address::{socket_conninfo, tcp_url};
use crate::binaries::postgres_bin_dir;
use crate::layout::Layout;
use crate::once::get_or_start;
use crate::pgbouncer::PgBouncer;
use crate::pki::{self, ClientPki};
use crate::server::{self, Durability};
use crate::sql::execute_blocking;
use crate::tls;
use crate::watchdog;

/// One throwaway PostgreSQL cluster per test binary.
///
/// Started on first use by [`Cluster::shared`], in a temporary directory, with durability off
/// (`fsync`, `synchronous_commit`, `full_page_writes`); [`Cluster::durable`] is a second one with
/// durability on, for benchmarks. A watchdog process stops it and removes
/// the directory once the test binary has exited, unless a test failed while holding a
/// [`TestDatabase`](crate::TestDatabase) (see there).
#[derive(Debug)]
pub struct Cluster {
    pub(crate) layout: Layout,
    bin_dir: PathBuf,
    durability: Durability,
    port: u16,
    pgbouncer: OnceLock<Result<PgBouncer, String>>,
    pki: Option<ClientPki>,
}

impl Cluster {
    /// The cluster of this test binary, started on first use.
    ///
    /// Starting runs `initdb` into a temporary directory and `pg_ctl start`, listening on
    /// 127.0.0.1 at a free port and on a Unix socket in the temporary directory; it takes about
    /// a second. Blocking; callable from any thread, inside or outside a tokio runtime. As
    /// root, the server programs run as the `postgres` OS user (through `runuser`).
    ///
    /// # Panics
    ///
    /// If the cluster cannot be started, with what to do next: e.g. when the PostgreSQL
    /// programs are missing, install them (`apt-get install postgresql`) or point
    /// `TENANTRY_PG_BIN` at the directory holding `initdb` and `pg_ctl`. After a failed
    /// start, every later call panics at once with the same message.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
        get_or_start(&SHARED, "the test cluster", || Cluster::start(Durability::Off, None))
    }

    /// A second throwaway cluster of this binary, with production durability: `fsync`,
    /// `synchronous_commit` and `full_page_writes` on (PostgreSQL's defaults), so every commit
    /// waits for the disk. For benchmarks that must measure what users get; tests use
    /// [`shared`](Self::shared). Started on first use, like it, in its own temporary directory.
    ///
    /// # Panics
    ///
    /// As [`shared`](Self::shared).
    pub fn durable() -> &'static Cluster {
        static DURABLE: OnceLock<Result<Cluster, String>> = OnceLock::new();
        get_or_start(&DURABLE, "the durable test cluster", || Cluster::start(Durability::On, None))
    }

    /// A third throwaway cluster of this binary, with TLS: `ssl = on`, a certificate for
    /// `localhost` signed by a test CA (made with rcgen), that CA as `ssl_ca_file`, and
    /// `pg_hba.conf` lines that make [`CERT_USER`](crate::CERT_USER) present a client
    /// certificate and [`TLS_ONLY_USER`](crate::TLS_ONLY_USER) use TLS (both superusers).
    /// [`client_pki`](Self::client_pki) has the files a client needs. Started on first use.
    ///
    /// # Panics
    ///
    /// As [`shared`](Self::shared).
    pub fn tls() -> &'static Cluster {
        static TLS: OnceLock<Result<Cluster, String>> = OnceLock::new();
        get_or_start(&TLS, "the TLS test cluster", || Cluster::start(Durability::Off, Some(false)))
    }

    /// As [`tls`](Self::tls), but the server's certificate is self-signed.
    ///
    /// # Panics
    ///
    /// As [`shared`](Self::shared).
    pub fn tls_self_signed() -> &'static Cluster {
        static SELF_SIGNED: OnceLock<Result<Cluster, String>> = OnceLock::new();
        get_or_start(&SELF_SIGNED, "the self-signed TLS test cluster", || Cluster::start(Durability::Off, Some(true)))
    }

    /// The CA, a wrong CA and a client certificate and key, as files, for a cluster started
    /// by [`tls`](Self::tls) or [`tls_self_signed`](Self::tls_self_signed).
    pub fn client_pki(&self) -> Option<&ClientPki> {
        self.pki.as_ref()
    }

    /// `self_signed`: `None` for no TLS, else whether the server's certificate signs itself.
    fn start(durability: Durability, self_signed: Option<bool>) -> Self {
        let bin_dir = postgres_bin_dir();
        let layout = Layout::create();
        // Before anything else can fail: the watchdog also removes a half-made cluster.
        watchdog::spawn(&layout, &bin_dir.join("pg_ctl"));
        server::init(&layout, &bin_dir);
        let pki = self_signed.map(|self_signed| {
            let pki = pki::generate(self_signed);
            tls::configure(&layout, &pki);
            ClientPki::write(&pki, &layout.root.join("client-pki"))
        });
        let port = server::start(&layout, &bin_dir, durability);
        if pki.is_some() {
            let conninfo = crate::address::socket_conninfo(&layout.socket, port, "postgres");
            execute_blocking(conninfo, tls::roles_sql())
                .unwrap_or_else(|err| panic!("could not create the TLS test roles: {err}"));
        }
        Self { layout, bin_dir, durability, port, pgbouncer: OnceLock::new(), pki }
    }

    /// Whether this cluster waits for the disk on commit (`fsync` and `synchronous_commit`):
    /// false for [`shared`](Self::shared), true for [`durable`](Self::durable).
    pub fn is_durable(&self) -> bool {
        self.durability == Durability::On
    }

    /// The TCP port on 127.0.0.1 (also the number of the Unix socket file).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.layout.socket
    }

    /// Restarts the server in place (same port), terminating every session, as a deploy or a
    /// failover would; returns once it accepts connections again. Affects every test of the
    /// binary: put a test that restarts in a test file of its own.
    pub fn restart(&self) {
        crate::server::restart(&self.layout, &self.bin_dir, self.port);
    }

    /// The directory holding this cluster's `initdb`, `pg_ctl`, `psql` and `pg_dump`.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The cluster's data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.layout.data
    }

    /// `postgresql://postgres@127.0.0.1:{port}/{dbname}`: TCP, understood by tokio-postgres and
    /// sqlx. Characters outside `[A-Za-z0-9._~-]` in `dbname` are percent-encoded.
    pub fn url(&self, dbname: &str) -> String {
        tcp_url(self.port, dbname)
    }

    /// `host={socket_dir} port={port} user=postgres dbname={dbname}`: the Unix socket, in the
    /// key/value form that tokio-postgres parses (values are quoted when they need it).
    pub fn socket_conninfo(&self, dbname: &str) -> String {
        socket_conninfo(&self.layout.socket, self.port, dbname)
    }

    /// The PgBouncer of this test binary in transaction pooling mode, in front of this cluster,
    /// started on first use.
    ///
    /// # Panics
    ///
    /// If PgBouncer cannot be started, with what to do next: e.g. when it is missing, install
    /// it (`apt-get install pgbouncer`) or set `TENANTRY_PGBOUNCER` to the executable.
    pub fn pgbouncer(&'static self) -> &'static PgBouncer {
        get_or_start(&self.pgbouncer, "the test PgBouncer", || PgBouncer::start(&self.layout, self.port))
    }
}
