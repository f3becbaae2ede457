//! hello-hyper: hyper 0.14's HTTP/1.1 server on Tokio's current-thread
//! runtime (one thread), answering every request with "Hello, World!"
//! (text/plain), keep-alive; a peer of bench/http_peers.sh.
//!
//!   hello-hyper [--port N]
//!
//! Prints "listening on 127.0.0.1:PORT" once it accepts connections.
//! Pipelined responses are flushed together (http1_pipeline_flush), the way
//! hyper's own TechEmpower entry is tuned.
use std::convert::Infallible;
use std::io::Write;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::{make_service_fn, service_fn};
use hyper::{Body, Request, Response, Server};

async fn hello(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let mut res = Response::new(Body::from("Hello, World!"));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(res)
}

fn main() {
    let mut port: u16 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse().expect("--port N"),
            _ => {
                eprintln!("usage: hello-hyper [--port N]");
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let make = make_service_fn(|_conn| async { Ok::<_, Infallible>(service_fn(hello)) });
        let server = Server::bind(&([127, 0, 0, 1], port).into())
            .http1_pipeline_flush(true)
            .serve(make);
        println!("listening on {}", server.local_addr());
        std::io::stdout().flush().ok();
        if let Err(e) = server.await {
            eprintln!("hello-hyper: {e}");
            std::process::exit(1);
        }
    });
}
