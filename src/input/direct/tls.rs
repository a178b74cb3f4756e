//! TLS for the direct read's connections (rustls on ring), with libpq's `sslmode` meanings:
//! `allow`/`prefer` try TLS and go on in clear when the server has none, `require` insists; these
//! three check the server's certificate against a root file when one exists (as libpq does with
//! `~/.postgresql/root.crt`) and accept any certificate otherwise; `verify-ca` checks the chain,
//! `verify-full` the chain and the host name. `sslrootcert=system` uses the system's roots. A
//! certificate refused is said in words (libpq's for a host name mismatch), not rustls's debug names.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use super::DirectError;

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    Nothing,
    Chain,
    ChainAndName,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The roots named by `sslrootcert` (a PEM file, or `system`).
fn roots(rootcert: &str) -> Result<RootCertStore, DirectError> {
    let mut store = RootCertStore::empty();
    let bad = |what: String| DirectError::Invalid(what);
    if rootcert == "system" {
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = store.add(cert);
        }
    } else {
        let certs = CertificateDer::pem_file_iter(rootcert)
            .map_err(|e| bad(format!("reading the root certificates {rootcert}: {e}")))?;
        for cert in certs {
            let cert =
                cert.map_err(|e| bad(format!("reading the root certificates {rootcert}: {e}")))?;
            store
                .add(cert)
                .map_err(|e| bad(format!("a root certificate in {rootcert}: {e}")))?;
        }
    }
    if store.is_empty() {
        return Err(bad(format!("no root certificate in {rootcert}")));
    }
    Ok(store)
}

/// libpq's default root file, `~/.postgresql/root.crt`, when it exists.
pub fn default_rootcert() -> Option<String> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".postgresql").join("root.crt");
    path.is_file().then(|| path.display().to_string())
}

/// The connector for `verify`, with the roots of `rootcert` (needed unless `Verify::Nothing`).
pub fn connector(verify: Verify, rootcert: Option<&str>) -> Result<RustlsConnect, DirectError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectError::Invalid(format!("TLS set-up: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (verify, rootcert) {
        (Verify::Nothing, _) => Arc::new(AnyCertificate(provider)),
        (_, None) => {
            return Err(DirectError::Invalid(
                "sslmode verify-ca/verify-full needs a root certificate (sslrootcert, or ~/.postgresql/root.crt)".into(),
            ))
        }
        (v, Some(file)) => {
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(file)?), provider)
                .build()
                .map_err(|e| DirectError::Invalid(format!("TLS set-up: {e}")))?;
            Arc::new(WebPki {
                inner,
                check_name: v == Verify::ChainAndName,
            })
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(RustlsConnect {
        config: Arc::new(config),
        rootcert: rootcert
            .filter(|_| verify != Verify::Nothing)
            .map(Arc::from),
    })
}

/// `sslmode` without a root file: any certificate (libpq checks none then either).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The chain checked against the roots; the host name too for `verify-full`.
#[derive(Debug)]
struct WebPki {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

/// A certificate problem said in words (libpq's for a host name mismatch), in place of rustls's
/// debug names (`UnknownIssuer`).
#[derive(Debug)]
struct CertProblem(String);

impl std::fmt::Display for CertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CertProblem {}

/// A name as rustls presents it (`DnsName("localhost")`, `IpAddress(10.0.0.1)`), bare.
fn bare_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

/// A handshake's certificate problem in words (libpq's for a host name mismatch), where rustls has
/// only a debug name for it (`UnknownIssuer`); None for any other error.
fn describe(error: &rustls::Error, host: &str, rootcert: Option<&str>) -> Option<String> {
    let rustls::Error::InvalidCertificate(error) = error else {
        return None;
    };
    Some(match error {
        CertificateError::UnknownIssuer => format!(
            "the server's certificate is not signed by a certificate authority in {} \
             (unknown issuer)",
            rootcert.unwrap_or("the root certificates")
        ),
        CertificateError::NotValidForNameContext { presented, .. } => match presented.as_slice() {
            [] => format!(
                "server certificate has no name (subjectAltName) to match host name \"{host}\""
            ),
            [one] => format!(
                "server certificate for \"{}\" does not match host name \"{host}\"",
                bare_name(one)
            ),
            [first, rest @ ..] => format!(
                "server certificate for \"{}\" (and {} other name{}) does not match host name \"{host}\"",
                bare_name(first),
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
        },
        CertificateError::NotValidForName => {
            format!("server certificate does not match host name \"{host}\"")
        }
        e @ (CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            format!("the server's certificate has expired ({e})")
        }
        e @ (CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }) => {
            format!("the server's certificate is not valid yet ({e})")
        }
        _ => return None,
    })
}

impl ServerCertVerifier for WebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// tokio-postgres's TLS connector over rustls.
#[derive(Clone)]
pub struct RustlsConnect {
    config: Arc<ClientConfig>,
    /// The `sslrootcert` the chain is checked against, for messages.
    rootcert: Option<Arc<str>>,
}

pub struct RustlsConnectOne {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    rootcert: Option<Arc<str>>,
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnectOne;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnectOne> {
        // tokio-postgres asks for a connector for a socket directory too, where the server
        // refuses TLS anyway: its name is never checked.
        let domain = if domain.is_empty() || domain.starts_with('/') {
            "localhost"
        } else {
            domain
        };
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnectOne {
            config: self.config.clone(),
            name,
            rootcert: self.rootcert.clone(),
        })
    }
}

impl<S> TlsConnect<S> for RustlsConnectOne
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let host = self.name.to_str().into_owned();
            let tls = tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map_err(|e| {
                    let problem = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                        .and_then(|r| describe(r, &host, self.rootcert.as_deref()));
                    match problem {
                        Some(p) => io::Error::new(e.kind(), CertProblem(p)),
                        None => e,
                    }
                })?;
            Ok(RustlsStream(tls))
        })
    }
}

pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding, as libpq's channel_binding=prefer does when it cannot.
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_are_said_in_words() {
        let mismatch = |presented: &[&str]| {
            describe(
                &rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected: ServerName::try_from("127.0.0.1").unwrap(),
                    presented: presented.iter().map(|p| p.to_string()).collect(),
                }),
                "127.0.0.1",
                Some("/ca.crt"),
            )
            .unwrap()
        };
        assert_eq!(
            mismatch(&["DnsName(\"localhost\")"]),
            "server certificate for \"localhost\" does not match host name \"127.0.0.1\""
        );
        assert_eq!(
            mismatch(&["DnsName(\"db\")", "IpAddress(10.0.0.1)", "DnsName(\"x\")"]),
            "server certificate for \"db\" (and 2 other names) does not match host name \"127.0.0.1\""
        );
        let unknown = describe(
            &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            "h",
            Some("/ca.crt"),
        )
        .unwrap();
        assert!(unknown.contains("not signed by a certificate authority in /ca.crt"));
        assert_eq!(describe(&rustls::Error::DecryptError, "h", None), None);
    }
}
