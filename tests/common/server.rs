//! A small real HTTP/1.1 server for tests: GitHub's REST API as its docs describe it, and the
//! blob host its artifact downloads redirect to. Every request is recorded with its headers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
}

pub enum Body {
    Bytes(Vec<u8>),
    File(PathBuf),
    /// Claims `claim` bytes in Content-Length, sends `bytes`, then closes.
    Truncated {
        bytes: Vec<u8>,
        claim: usize,
    },
    /// A HEAD answer: this Content-Length, no body.
    Head(usize),
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    pub fn json(status: u16, v: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::Bytes(v.to_string().into_bytes()),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn redirect(to: &str) -> Reply {
        Reply {
            status: 302,
            headers: vec![("location".into(), to.into())],
            body: Body::Bytes(Vec::new()),
        }
    }
    pub fn file(path: PathBuf) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/zip".into())],
            body: Body::File(path),
        }
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

pub struct Server {
    pub base: String,
    pub host: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Serves on `ip` (an address of this machine's loopback range) at a free port.
    pub fn start(ip: &str, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind((ip, 0)).expect("bind test server");
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (h, r) = (handler.clone(), recorded.clone());
                std::thread::spawn(move || serve(stream, h, r));
            }
        });
        Server {
            base: format!("http://{addr}"),
            host: addr.to_string(),
            requests,
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self, path_prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .count()
    }
}

fn serve(mut stream: TcpStream, handler: Handler, recorded: Arc<Mutex<Vec<Request>>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    if let Some(n) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut sink = vec![0u8; n];
        let _ = reader.read_exact(&mut sink);
    }
    let req = Request {
        method,
        path,
        headers,
    };
    recorded.lock().unwrap().push(req.clone());
    let reply = handler(&req);
    let reason = match reply.status {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nconnection: close\r\n",
        reply.status
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match reply.body {
        Body::Bytes(b) => {
            head.push_str(&format!("content-length: {}\r\n\r\n", b.len()));
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&b);
        }
        Body::File(p) => {
            let mut f = std::fs::File::open(&p).expect("served file");
            let len = f.metadata().unwrap().len();
            head.push_str(&format!("content-length: {len}\r\n\r\n"));
            let _ = stream.write_all(head.as_bytes());
            let _ = std::io::copy(&mut f, &mut stream);
        }
        Body::Head(len) => {
            head.push_str(&format!("content-length: {len}\r\n\r\n"));
            let _ = stream.write_all(head.as_bytes());
        }
        Body::Truncated { bytes, claim } => {
            head.push_str(&format!("content-length: {claim}\r\n\r\n"));
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&bytes);
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
