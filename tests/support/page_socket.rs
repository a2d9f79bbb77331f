//! A patient's signalling socket without a browser: TLS to the daemon in
//! the test's namespace (its self-signed certificate taken as it is), from
//! a loopback address of the test's choosing, carrying the page's JSON.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Takes the daemon's certificate, whatever it is, and checks only that the
/// handshake's signatures are sound: the test's own daemon, on loopback.
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
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One page's socket to the box.
pub struct PageSocket {
    ws: WebSocketStream<TlsStream<TcpStream>>,
}

impl PageSocket {
    /// Opens the box's `/ws` from `from` (an address of 127.0.0.0/8, so
    /// that the box's limits per address see many patients), or `None` if
    /// the box refused.
    pub async fn open(from: Ipv4Addr) -> Option<PageSocket> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .ok()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        let socket = TcpSocket::new_v4().ok()?;
        socket.bind(SocketAddr::from((from, 0))).ok()?;
        let to = SocketAddr::from((Ipv4Addr::LOCALHOST, super::PORT));
        let tcp = socket.connect(to).await.ok()?;
        let name = ServerName::try_from("localhost").ok()?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .ok()?;
        let url = format!("wss://localhost:{}/ws", super::PORT);
        let (ws, _) = tokio_tungstenite::client_async(url, tls).await.ok()?;
        Some(PageSocket { ws })
    }

    /// Sends `text` as one message; false if the socket is closed.
    pub async fn send(&mut self, text: &str) -> bool {
        self.ws.send(Message::text(text)).await.is_ok()
    }

    /// The next JSON message from the box within `limit`: `None` once the
    /// box closed the socket or said nothing in time.
    pub async fn next(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next()).await;
            match message.ok()??.ok()? {
                Message::Text(text) => return serde_json::from_str(&text).ok(),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Closes the socket as a browser closing its tab would.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
