//! One long-lived thread for the blocking work of a scrape.
//!
//! Collecting reads hundreds of files and building the text allocates
//! about as many small strings; both block, so they leave the async
//! workers. tokio's blocking pool would start a new thread now and then,
//! and glibc gives every thread that allocates its own malloc arena, which
//! keeps its high-water mark: at 50 containers each arena held about
//! 1.8 MiB, and RSS grew with every new thread (13.6 MiB after 1,000
//! scrapes against 9.5 MiB with one arena, `BENCHMARKS.md`). Scrapes are
//! serialized by the executor anyway, so one thread loses nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc::{self, Sender};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A thread that runs jobs one at a time, in order.
#[derive(Debug)]
pub struct WorkThread {
    // `Sender` is `Send` but not `Sync`; the lock is held only to queue.
    jobs: Mutex<Sender<Job>>,
}

/// The job could not run: it panicked (a bug; the thread carries on), or
/// the thread could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the render thread lost the job")]
pub struct JobLost;

impl WorkThread {
    /// Starts the thread; it ends when the `WorkThread` is dropped.
    pub fn start(name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            for job in queue {
                // A panicking job drops its reply sender, which the caller
                // sees as `JobLost`; the next job runs as usual.
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
        })?;
        Ok(WorkThread { jobs: Mutex::new(jobs) })
    }

    /// Runs `job` on the thread and waits for its result without blocking
    /// the async worker. A job whose caller has gone away before its turn
    /// (the client closed the connection, the future was dropped) is
    /// skipped: nobody would read its answer.
    pub async fn run<T, F>(&self, job: F) -> Result<T, JobLost>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            if !reply.is_closed() {
                let _ = reply.send(job());
            }
        });
        {
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.send(job).map_err(|_| JobLost)?;
        }
        result.await.map_err(|_| JobLost)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn jobs_run_on_one_thread_in_order_and_survive_a_panic() {
        let thread = WorkThread::start("test-work").unwrap();
        let first = thread.run(|| std::thread::current().id()).await.unwrap();
        let lost = thread.run(|| -> u8 { panic!("a bug in a job") }).await;
        assert_eq!(lost, Err(JobLost));
        let second = thread.run(|| std::thread::current().id()).await.unwrap();
        assert_eq!(first, second);
        assert_ne!(first, std::thread::current().id());
        assert_eq!(thread.run(|| 2 + 2).await, Ok(4));
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_skipped() {
        let thread = Arc::new(WorkThread::start("test-skip").unwrap());
        // Holds the thread until released, so the next job waits its turn.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let holder = Arc::clone(&thread);
        let holding = tokio::spawn(async move {
            holder
                .run(move || {
                    let _ = started_tx.send(());
                    let _ = held.recv();
                })
                .await
        });
        started.await.unwrap();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        // Queued behind the held job, then abandoned (as a client that
        // hangs up does).
        let abandoned = thread.run(move || flag.store(true, Ordering::SeqCst));
        let poll_once = futures_util::FutureExt::now_or_never(abandoned);
        assert!(poll_once.is_none(), "the job cannot have run yet");
        release.send(()).unwrap();
        holding.await.unwrap().unwrap();
        assert_eq!(thread.run(|| 1).await, Ok(1));
        assert!(!ran.load(Ordering::SeqCst), "an abandoned job ran");
    }
}
