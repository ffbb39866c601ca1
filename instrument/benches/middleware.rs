//! The time `RespTimeLayer` adds to a request, in one process.
//!
//! Run with `cargo bench -p sonde-instrument --features http --bench middleware`.
//! Cases, each calling a tower service that answers at once and polling its
//! future to completion:
//! * `bare`: the inner service alone;
//! * `clock_pair`: `Instant::now()` and `elapsed()`, what timing anything
//!   costs at least;
//! * `layer`: wrapped in `RespTimeLayer` (path label = the path);
//! * `layer_routes`: wrapped, with a `Routes` hook of 4 templates;
//! * `layer_2_threads`: `layer` on two threads at once, same series (time
//!   per request per thread).
//!
//! The added time is `layer − bare`: every case builds and drops the same
//! request inside its timing, so that cost cancels out.
//!
//! Times are the measuring thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`),
//! not wall time: on a shared machine wall time also counts the slices the
//! scheduler gives to other processes, which swamps differences of tens of
//! nanoseconds. Contention between the two threads of `layer_2_threads`
//! (cache lines moving between cores) still shows, as CPU time spent
//! stalled.

// A bench whose setup fails has nothing to measure: stopping is right.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, Uri};
use rustix::time::{ClockId, clock_gettime};
use sonde_instrument::http::{RespTime, RespTimeLayer, Routes};
use sonde_instrument::metrics::Registry;
use tower_layer::Layer;
use tower_service::Service;

/// Answers every request with an empty 200, at once.
#[derive(Clone)]
struct Ok200;

impl Service<Request<()>> for Ok200 {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        black_box(&request);
        ready(Ok(Response::new(())))
    }
}

/// A request as cheap to build and drop as can be: it is built inside the
/// timing of every case, so its cost cancels out of the difference.
fn request() -> Request<()> {
    let mut request = Request::new(());
    *request.uri_mut() = Uri::from_static("/demo/hello?delay=10");
    request
}

fn call<S>(service: &mut S, request: Request<()>) -> Response<()>
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let _ = service.poll_ready(&mut cx);
    let mut future = pin!(service.call(request));
    loop {
        if let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) {
            return response;
        }
    }
}

fn thread_cpu_time() -> Duration {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

/// `iters` requests through `service`, timed in this thread's CPU time.
fn run<S>(service: &mut S, iters: u64) -> Duration
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let start = thread_cpu_time();
    for _ in 0..iters {
        black_box(call(service, request()));
    }
    thread_cpu_time().saturating_sub(start)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("middleware");

    let mut bare = Ok200;
    group.bench_function("bare", |b| b.iter_custom(|iters| run(&mut bare, iters)));

    // The floor of any timing layer: reading the clock at the start and at
    // the end of a request.
    group.bench_function("clock_pair", |b| {
        b.iter_custom(|iters| {
            let start = thread_cpu_time();
            for _ in 0..iters {
                let begin = Instant::now();
                black_box(begin.elapsed().as_secs_f64());
            }
            thread_cpu_time().saturating_sub(start)
        })
    });

    let registry = Registry::new();
    let layer = RespTimeLayer::new("go-demo").register(&registry).unwrap();
    let mut layered = layer.layer(Ok200);
    group.bench_function("layer", |b| b.iter_custom(|iters| run(&mut layered, iters)));

    let routes = Routes::new(["/demo/person", "/demo/person/:id", "/demo/random-error", "/demo/hello"]);
    let mut routed = RespTimeLayer::new("go-demo").route_template(routes).layer(Ok200);
    group.bench_function("layer_routes", |b| b.iter_custom(|iters| run(&mut routed, iters)));

    group.bench_function("layer_2_threads", |b| {
        b.iter_custom(|iters| {
            thread::scope(|scope| {
                let mut other: RespTime<Ok200> = layer.layer(Ok200);
                let handle = scope.spawn(move || run(&mut other, iters));
                let mine = run(&mut layer.layer(Ok200), iters);
                mine.max(handle.join().unwrap_or(Duration::ZERO))
            })
        })
    });

    group.finish();
    // Every request landed in one series.
    let histogram = layer.family().with_label_values(&["200", "GET", "/demo/hello", "go-demo"]).unwrap();
    assert!(histogram.count() > 0);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(700)).measurement_time(Duration::from_secs(3)).sample_size(30);
    targets = bench
}
criterion_main!(benches);
