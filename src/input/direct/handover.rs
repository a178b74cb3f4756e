//! Connections whose socket pgveil takes back from tokio-postgres once the session is set up.
//!
//! tokio-postgres does the parts of a connection that are easy to get wrong (host lists, TLS
//! negotiation, SCRAM and MD5 authentication, the server's error fields) and the setup
//! statements; the COPY that follows is read by [`super::copy_out`] straight from the socket.
//! tokio-postgres turns every row of a COPY into a message of its own (a parsed frame, a
//! reference-counted buffer, a stream poll), which cost a third of the direct read's CPU.
//!
//! The socket is handed to tokio-postgres inside a [`Tap`], which keeps the right to take it back.
//! Taking it is safe once the client is idle: the server sends nothing unasked after
//! ReadyForQuery, so tokio-postgres holds no unread bytes; its connection task, polled again, finds
//! the socket gone and ends. With TLS the tap sits above the TLS session (its state goes with the
//! stream), and the raw socket's tap below it stays in place.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::Host;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_postgres::Client;

use super::connect::{self, Target};
use super::tls::RustlsConnectOne;
use super::DirectError;

/// A byte stream to the server: a socket, or a TLS session over one.
pub trait DataStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> DataStream for T {}

type Inner = Arc<Mutex<Option<Box<dyn DataStream>>>>;

/// A stream lent to tokio-postgres: reads and writes go through until it is taken back; after it,
/// reads see the end of the stream and writes fail.
#[derive(Clone)]
pub struct Tap(Inner);

impl Tap {
    fn new(stream: Box<dyn DataStream>) -> Tap {
        Tap(Arc::new(Mutex::new(Some(stream))))
    }

    fn take(&self) -> Option<Box<dyn DataStream>> {
        self.0.lock().expect("not poisoned").take()
    }
}

impl AsyncRead for Tap {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.0.lock().expect("not poisoned").as_mut() {
            Some(s) => Pin::new(s).poll_read(cx, buf),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.lock().expect("not poisoned").as_mut() {
            Some(s) => Pin::new(s).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.lock().expect("not poisoned").as_mut() {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.lock().expect("not poisoned").as_mut() {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl TlsStream for Tap {
    fn channel_binding(&self) -> ChannelBinding {
        // As the TLS stream below (SCRAM without channel binding).
        ChannelBinding::none()
    }
}

/// pgveil's TLS connector, leaving a tap over the session it opens in `slot`.
struct TappedTls {
    inner: RustlsConnectOne,
    slot: Arc<Mutex<Option<Tap>>>,
}

impl TlsConnect<Tap> for TappedTls {
    type Stream = Tap;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Tap>> + Send>>;

    fn connect(self, stream: Tap) -> Self::Future {
        Box::pin(async move {
            let tls = TlsConnect::<Tap>::connect(self.inner, stream).await?;
            let tap = Tap::new(Box::new(tls));
            *self.slot.lock().expect("not poisoned") = Some(tap.clone());
            Ok(tap)
        })
    }
}

/// A connection set up through tokio-postgres whose stream can be taken back.
pub struct Lent {
    pub client: Client,
    raw: Tap,
    tls: Arc<Mutex<Option<Tap>>>,
}

impl Lent {
    /// The stream, once the client is idle (no request under way): the TLS session if one was
    /// opened, else the socket. The client is dropped (its connection task then ends).
    pub fn take(self) -> io::Result<Box<dyn DataStream>> {
        let tls = self.tls.lock().expect("not poisoned").take();
        let stream = match tls {
            Some(tap) => tap.take(),
            None => self.raw.take(),
        };
        drop(self.client);
        stream.ok_or_else(|| io::Error::other("the connection's stream was taken before"))
    }
}

/// Connect as [`connect::connect`] does (the hosts in order, each address of a name), with the
/// stream lent to tokio-postgres.
pub async fn connect(target: &Target) -> Result<Lent, DirectError> {
    let config = &target.config;
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let ports = config.get_ports();
    let count = hosts.len().max(addrs.len());
    let mut last = None;
    for i in 0..count {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let name = match hosts.get(i) {
            Some(Host::Tcp(h)) => h.clone(),
            _ => String::new(),
        };
        let attempt = async {
            let socket: Box<dyn DataStream> = match (addrs.get(i), hosts.get(i)) {
                (Some(ip), _) => Box::new(tcp((*ip, port)).await?),
                (None, Some(Host::Tcp(h))) => Box::new(tcp((h.as_str(), port)).await?),
                (None, Some(Host::Unix(dir))) => Box::new(
                    UnixStream::connect(Path::new(dir).join(format!(".s.PGSQL.{port}"))).await?,
                ),
                (None, None) => return Err(io::Error::other("no host").into()),
            };
            lend(target, socket, &name).await
        };
        let result = match config.get_connect_timeout() {
            Some(limit) => tokio::time::timeout(*limit, attempt)
                .await
                .unwrap_or_else(|_| Err(io::Error::from(io::ErrorKind::TimedOut).into())),
            None => attempt.await,
        };
        match result {
            Ok(lent) => return Ok(lent),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(Failure::Postgres(e)) => connect::failure(target, e),
        Some(Failure::Io(e)) => DirectError::Connect {
            target: target.describe.clone(),
            source: Box::new(io::Error::new(
                e.kind(),
                format!("error connecting to server: {e}"),
            )),
        },
        None => DirectError::Invalid("no host to connect to".into()),
    })
}

/// Why an attempt failed: the network's error, or tokio-postgres's (the server's message).
enum Failure {
    Io(io::Error),
    Postgres(tokio_postgres::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

async fn tcp<A: tokio::net::ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
    let socket = TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    Ok(socket)
}

async fn lend(target: &Target, socket: Box<dyn DataStream>, name: &str) -> Result<Lent, Failure> {
    let raw = Tap::new(socket);
    let slot = Arc::new(Mutex::new(None));
    let inner = MakeTlsConnect::<Tap>::make_tls_connect(&mut target.tls().clone(), name)
        .map_err(Failure::Io)?;
    let tls = TappedTls {
        inner,
        slot: slot.clone(),
    };
    let (client, connection) = target
        .config
        .connect_raw(raw.clone(), tls)
        .await
        .map_err(Failure::Postgres)?;
    tokio::spawn(async move {
        // Ends when the stream is taken back, or with the connection.
        let _ = connection.await;
    });
    Ok(Lent {
        client,
        raw,
        tls: slot,
    })
}
