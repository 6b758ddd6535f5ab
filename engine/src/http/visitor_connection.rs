//! A visitor's own HTTP/1.1 keep-alive connection.
//!
//! Each idle visitor holds one of these between pages, so it is kept lean: an
//! idle connection is the socket and its host, nothing else. Buffers exist only
//! while a request is in flight, and no task drives the connection in the
//! background (hyper's client connection keeps a task and two 8 KiB buffers per
//! connection, three times the size of the session that owns it).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Uri, header};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{HttpRequest, HttpResponse, RequestError, user_agent};

/// The most header bytes a response may have.
const MAX_HEAD: usize = 64 * 1024;
/// The most headers a response may have.
const MAX_HEADERS: usize = 64;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// A visitor's own HTTP/1.1 keep-alive connection to one host, opened on
/// first use and again after the server closes it — as a browser tab keeps
/// its connection, rather than borrowing from a shared pool.
#[derive(Default)]
pub struct VisitorConnection {
    open: Option<OpenConnection>,
    /// How `https` connections are made; without it only `http` is spoken.
    tls: Option<Arc<rustls::ClientConfig>>,
}

struct OpenConnection {
    socket: Socket,
    host: String,
    port: u16,
}

enum Socket {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Socket {
    fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(tcp) => tcp,
            Socket::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl VisitorConnection {
    /// A connection that speaks `https` with `tls` as well as plain `http`.
    pub fn with_tls(tls: Arc<rustls::ClientConfig>) -> Self {
        VisitorConnection {
            open: None,
            tls: Some(tls),
        }
    }

    /// Sends `request` over this visitor's connection within `timeout`.
    pub async fn send(
        &mut self,
        request: HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, RequestError> {
        tokio::time::timeout(timeout, self.exchange(request))
            .await
            .map_err(|_| RequestError::Timeout)?
    }

    /// True while a connection is open (for tests and diagnostics).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    async fn exchange(&mut self, request: HttpRequest) -> Result<HttpResponse, RequestError> {
        let uri: Uri = request
            .url
            .parse()
            .map_err(|e: http::uri::InvalidUri| RequestError::InvalidUrl(e.to_string()))?;
        let secure = match uri.scheme_str() {
            Some("https") if self.tls.is_some() => true,
            Some("http") | None => false,
            _ => {
                return Err(RequestError::InvalidUrl(format!(
                    "{}: this connection speaks http only",
                    request.url
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| RequestError::InvalidUrl("no host".into()))?;
        let default_port = if secure { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default_port);
        let head = request_head(&request, &uri, host, default_port)?;
        let is_head = request.method == http::Method::HEAD;

        let reused = self.keep_if_alive(host, port);
        if !reused {
            self.connect(host, port, secure).await?;
        }
        match self
            .round_trip(&head, &request.body, is_head, request.keep_body)
            .await
        {
            Ok(answer) => Ok(answer),
            // A kept-alive connection the server closed while the visitor was
            // thinking: say it again on a fresh one, as browsers do.
            Err(Failure::BeforeAnswer(_)) if reused => {
                self.connect(host, port, secure).await?;
                self.round_trip(&head, &request.body, is_head, request.keep_body)
                    .await
                    .map_err(Failure::into_error)
            }
            Err(failure) => Err(failure.into_error()),
        }
    }

    /// Keeps the open connection if it goes to `host:port` and the server has
    /// not closed it; drops it otherwise. True when it was kept.
    fn keep_if_alive(&mut self, host: &str, port: u16) -> bool {
        let Some(open) = &self.open else { return false };
        let alive = open.host == host
            && open.port == port
            && {
                let mut probe = [0u8; 1];
                // Nothing to read is the healthy state; end of stream or stray
                // bytes mean the connection cannot carry another exchange.
                matches!(open.socket.tcp().try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            };
        if !alive {
            self.open = None;
        }
        alive
    }

    async fn connect(&mut self, host: &str, port: u16, secure: bool) -> Result<(), RequestError> {
        self.open = None;
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| RequestError::Connect(format!("{host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let socket = match self.tls.as_ref().filter(|_| secure) {
            None => Socket::Plain(tcp),
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| RequestError::InvalidUrl(format!("{host}: {e}")))?;
                let stream = TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| RequestError::Connect(format!("TLS handshake with {host}:{port}: {e}")))?;
                Socket::Tls(Box::new(stream))
            }
        };
        self.open = Some(OpenConnection {
            socket,
            host: host.to_string(),
            port,
        });
        Ok(())
    }

    async fn round_trip(
        &mut self,
        head: &[u8],
        body: &[u8],
        is_head: bool,
        keep_body: bool,
    ) -> Result<HttpResponse, Failure> {
        let Some(open) = self.open.as_mut() else {
            return Err(Failure::BeforeAnswer("no connection".into()));
        };
        let result = match &mut open.socket {
            Socket::Plain(tcp) => exchange_on(tcp, head, body, is_head, keep_body).await,
            Socket::Tls(tls) => exchange_on(tls.as_mut(), head, body, is_head, keep_body).await,
        };
        match result {
            Ok((response, keep_alive)) => {
                if !keep_alive {
                    self.open = None;
                }
                Ok(response)
            }
            Err(failure) => {
                self.open = None;
                Err(failure)
            }
        }
    }
}

/// How an exchange failed: before any byte of the answer (safe to say again
/// on a fresh connection) or during it.
enum Failure {
    BeforeAnswer(String),
    DuringAnswer(String),
}

impl Failure {
    fn into_error(self) -> RequestError {
        match self {
            Failure::BeforeAnswer(e) | Failure::DuringAnswer(e) => RequestError::Protocol(e),
        }
    }
}

/// The request line and headers, ready to write.
fn request_head(
    request: &HttpRequest,
    uri: &Uri,
    host: &str,
    default_port: u16,
) -> Result<Vec<u8>, RequestError> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(request.method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    head.extend_from_slice(host.as_bytes());
    if let Some(port) = uri.port_u16().filter(|p| *p != default_port) {
        head.extend_from_slice(format!(":{port}").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let mut has_agent = false;
    for (name, value) in &request.headers {
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(RequestError::InvalidUrl(format!(
                "header {name} has a line break"
            )));
        }
        has_agent |= *name == header::USER_AGENT;
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !has_agent {
        head.extend_from_slice(b"user-agent: ");
        head.extend_from_slice(user_agent().as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !request.body.is_empty() || request.method == http::Method::POST || request.method == http::Method::PUT
    {
        head.extend_from_slice(format!("content-length: {}\r\n", request.body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    Ok(head)
}

/// Writes one request and reads its answer. Returns the response and whether
/// the connection may carry another exchange.
async fn exchange_on<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    head: &[u8],
    body: &[u8],
    is_head: bool,
    keep_body: bool,
) -> Result<(HttpResponse, bool), Failure> {
    let write = async {
        stream.write_all(head).await?;
        if !body.is_empty() {
            stream.write_all(body).await?;
        }
        // TLS holds written records until flushed.
        stream.flush().await
    };
    write.await.map_err(|e| Failure::BeforeAnswer(e.to_string()))?;

    let mut reader = Reader {
        stream,
        buffer: BytesMut::new(),
    };
    let (mut response, framing, keep_alive) = loop {
        let parsed = reader.read_head().await?;
        // 1xx answers are interim: the real one follows.
        if !(100..200).contains(&parsed.0.status) || parsed.0.status == 101 {
            break parsed;
        }
    };
    let framing = if is_head || response.status == 204 || response.status == 304 {
        Framing::Empty
    } else {
        framing
    };
    let limit = super::body_to_keep(keep_body, response.status);
    let mut kept = (limit > 0).then(BytesMut::new);
    let mut sink = |data: &[u8]| {
        response.body_bytes += data.len() as u64;
        if let Some(kept) = kept.as_mut()
            && kept.len() < limit
        {
            kept.extend_from_slice(data);
        }
    };
    let reusable = match framing {
        Framing::Empty => keep_alive,
        Framing::Length(length) => {
            reader.read_exact_body(length, &mut sink).await?;
            keep_alive
        }
        Framing::Chunked => {
            reader.read_chunked_body(&mut sink).await?;
            keep_alive
        }
        Framing::UntilClose => {
            reader.read_to_end(&mut sink).await?;
            false
        }
    };
    response.body = kept.map(BytesMut::freeze);
    // Bytes past the answer mean the server misbehaved; do not reuse.
    Ok((response, reusable && reader.buffer.is_empty()))
}

/// How a response body is delimited.
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

struct Reader<'a, S> {
    stream: &'a mut S,
    buffer: BytesMut,
}

impl<S: AsyncRead + Unpin> Reader<'_, S> {
    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> Result<bool, std::io::Error> {
        self.buffer.reserve(READ_CHUNK);
        Ok(self.stream.read_buf(&mut self.buffer).await? > 0)
    }

    /// Reads a status line and headers.
    async fn read_head(&mut self) -> Result<(HttpResponse, Framing, bool), Failure> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buffer) {
                Ok(httparse::Status::Complete(length)) => {
                    let head = head_of(&parsed)?;
                    let _ = self.buffer.split_to(length);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) if self.buffer.len() < MAX_HEAD => {}
                Ok(httparse::Status::Partial) => {
                    return Err(Failure::DuringAnswer("response headers too large".into()));
                }
                Err(e) => return Err(Failure::DuringAnswer(format!("malformed response: {e}"))),
            }
            let was_empty = self.buffer.is_empty();
            match self.fill().await {
                Ok(true) => {}
                Ok(false) if was_empty => {
                    return Err(Failure::BeforeAnswer("connection closed before an answer".into()));
                }
                Ok(false) => return Err(Failure::DuringAnswer("connection closed mid-headers".into())),
                Err(e) if was_empty => return Err(Failure::BeforeAnswer(e.to_string())),
                Err(e) => return Err(Failure::DuringAnswer(e.to_string())),
            }
        }
    }

    async fn read_exact_body(&mut self, mut left: u64, sink: &mut impl FnMut(&[u8])) -> Result<(), Failure> {
        while left > 0 {
            if self.buffer.is_empty() && !self.fill().await.map_err(during)? {
                return Err(Failure::DuringAnswer("connection closed mid-body".into()));
            }
            let take = (left as usize).min(self.buffer.len());
            sink(&self.buffer.split_to(take));
            left -= take as u64;
        }
        Ok(())
    }

    async fn read_to_end(&mut self, sink: &mut impl FnMut(&[u8])) -> Result<(), Failure> {
        loop {
            if !self.buffer.is_empty() {
                sink(&self.buffer.split());
            }
            match self.fill().await {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                // A TLS server may end a close-delimited body without a
                // close_notify; the body is complete all the same.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(during(e)),
            }
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    async fn read_line(&mut self) -> Result<Bytes, Failure> {
        loop {
            if let Some(at) = self.buffer.windows(2).position(|w| w == b"\r\n") {
                let line = self.buffer.split_to(at).freeze();
                let _ = self.buffer.split_to(2);
                return Ok(line);
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(Failure::DuringAnswer("chunk line too long".into()));
            }
            if !self.fill().await.map_err(during)? {
                return Err(Failure::DuringAnswer("connection closed mid-chunk".into()));
            }
        }
    }

    async fn read_chunked_body(&mut self, sink: &mut impl FnMut(&[u8])) -> Result<(), Failure> {
        loop {
            let line = self.read_line().await?;
            let size_text = line.split(|b| *b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size_text)
                .ok()
                .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                .ok_or_else(|| Failure::DuringAnswer("malformed chunk size".into()))?;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(());
            }
            self.read_exact_body(size, sink).await?;
            if !self.read_line().await?.is_empty() {
                return Err(Failure::DuringAnswer("chunk not followed by CRLF".into()));
            }
        }
    }
}

fn during(e: std::io::Error) -> Failure {
    Failure::DuringAnswer(e.to_string())
}

/// Status, redirect, cookies, framing and keep-alive from parsed headers.
fn head_of(parsed: &httparse::Response) -> Result<(HttpResponse, Framing, bool), Failure> {
    let status = parsed.code.unwrap_or(0);
    let mut response = HttpResponse {
        status,
        ..HttpResponse::default()
    };
    let mut keep_alive = parsed.version == Some(1);
    let mut framing = Framing::UntilClose;
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or_default().trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse()
                .map_err(|_| Failure::DuringAnswer(format!("bad content-length {value:?}")))?;
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(length);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.contains("close") {
                keep_alive = false;
            } else if value.contains("keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("location") {
            response.location = Some(value.to_string());
        } else if h.name.eq_ignore_ascii_case("set-cookie")
            && let Some(pair) = value.split(';').next()
        {
            response.set_cookies.push(pair.trim().to_string());
        }
    }
    Ok((response, framing, keep_alive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each connection's requests with the canned
    /// answers in order, recording what it was sent, then closes.
    async fn canned_server(
        answers: Vec<Vec<&'static [u8]>>,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            for connection in answers {
                let (mut socket, _) = listener.accept().await.unwrap();
                for answer in connection {
                    let mut request = Vec::new();
                    let mut byte = [0u8; 1];
                    while !request.ends_with(b"\r\n\r\n") {
                        if socket.read(&mut byte).await.unwrap() == 0 {
                            break;
                        }
                        request.push(byte[0]);
                    }
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(length) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|l| l.parse::<usize>().ok())
                    {
                        let mut body = vec![0u8; length];
                        socket.read_exact(&mut body).await.unwrap();
                        seen.push(format!("{text}{}", String::from_utf8_lossy(&body)));
                    } else {
                        seen.push(text);
                    }
                    socket.write_all(answer).await.unwrap();
                }
            }
            seen
        });
        (base, task)
    }

    fn get(base: &str, path: &str) -> HttpRequest {
        HttpRequest {
            keep_body: true,
            ..HttpRequest::get(format!("{base}{path}"))
        }
    }

    const SECOND: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn keeps_one_connection_across_requests_and_reads_every_framing() {
        let (base, server) = canned_server(vec![vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nset-cookie: a=1; Path=/\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nlocation: /next\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ]])
        .await;
        let mut connection = VisitorConnection::default();
        let first = connection.send(get(&base, "/a"), SECOND).await.unwrap();
        assert_eq!((first.status, first.body.as_deref()), (200, Some(&b"hello"[..])));
        assert_eq!(first.set_cookies, vec!["a=1".to_string()]);
        let second = connection.send(get(&base, "/b"), SECOND).await.unwrap();
        assert_eq!(
            (second.body_bytes, second.body.as_deref()),
            (5, Some(&b"abcde"[..]))
        );
        let third = connection.send(get(&base, "/c"), SECOND).await.unwrap();
        assert_eq!((third.status, third.location.as_deref()), (302, Some("/next")));
        let post = HttpRequest::post(format!("{base}/d"), "text/plain", "body!");
        let fourth = connection.send(post, SECOND).await.unwrap();
        assert_eq!(fourth.status, 204);
        assert!(connection.is_open());
        let seen = server.await.unwrap();
        assert_eq!(
            seen.len(),
            4,
            "all four requests on the one connection the server accepted"
        );
        assert!(
            seen[0].starts_with("GET /a HTTP/1.1\r\nhost: 127.0.0.1:"),
            "{}",
            seen[0]
        );
        assert!(seen[0].contains("user-agent: throng/"));
        assert!(seen[3].starts_with("POST /d HTTP/1.1\r\n") && seen[3].ends_with("\r\n\r\nbody!"));
    }

    #[tokio::test]
    async fn reconnects_when_the_server_closed_the_idle_connection() {
        let (base, server) = canned_server(vec![
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
            vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
        ])
        .await;
        let mut connection = VisitorConnection::default();
        assert_eq!(
            connection.send(get(&base, "/1"), SECOND).await.unwrap().status,
            200
        );
        // The server's first connection closes after its one answer.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            connection.send(get(&base, "/2"), SECOND).await.unwrap().status,
            200
        );
        assert_eq!(server.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_close_delimited_body_ends_the_connection() {
        let (base, server) = canned_server(vec![vec![b"HTTP/1.0 200 OK\r\n\r\nuntil close"]]).await;
        let mut connection = VisitorConnection::default();
        let send = connection.send(get(&base, "/"), SECOND);
        let (response, seen) = tokio::join!(send, server);
        let response = response.unwrap();
        assert_eq!(response.body.as_deref(), Some(&b"until close"[..]));
        assert!(!connection.is_open());
        assert_eq!(seen.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_truncated_body_is_a_protocol_error() {
        let (base, _server) =
            canned_server(vec![vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"]]).await;
        let mut connection = VisitorConnection::default();
        let error = connection.send(get(&base, "/"), SECOND).await.unwrap_err();
        assert_eq!(error.class(), "protocol", "{error}");
        assert!(!connection.is_open());
    }

    #[tokio::test]
    async fn garbage_is_a_protocol_error_and_a_refused_port_a_connect_error() {
        let (base, _server) = canned_server(vec![vec![b"SMTP ready\r\n\r\n"]]).await;
        let mut connection = VisitorConnection::default();
        let error = connection.send(get(&base, "/"), SECOND).await.unwrap_err();
        assert!(error.to_string().contains("malformed response"), "{error}");

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = connection
            .send(get(&format!("http://127.0.0.1:{port}"), "/"), SECOND)
            .await
            .unwrap_err();
        assert_eq!(error.class(), "connect", "{error}");
    }
}
