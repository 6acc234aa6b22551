//! Draining on shutdown. Background work (a run, a rotation step, a drift pass) holds a
//! [`Work`] guard while it acts; once [`Drain::start`] is called no new work is admitted,
//! work in progress stops at its next boundary (a run before its next wave, the rotation
//! driver after its current step) and [`Drain::wait`] returns when the last guard is gone
//! or the grace period ends, whichever comes first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

#[derive(Debug)]
pub struct Drain {
    draining: AtomicBool,
    active: watch::Sender<usize>,
}

impl Default for Drain {
    fn default() -> Self {
        Self { draining: AtomicBool::new(false), active: watch::Sender::new(0) }
    }
}

/// Proof that a piece of work was admitted; dropping it lets the drain finish.
#[derive(Debug)]
pub struct Work<'a>(&'a Drain);

impl Drop for Work<'_> {
    fn drop(&mut self) {
        self.0.active.send_modify(|n| *n -= 1);
    }
}

/// An owned guard, for work spawned onto its own task.
pub struct OwnedWork(std::sync::Arc<super::Context>);

impl Drop for OwnedWork {
    fn drop(&mut self) {
        self.0.drain.active.send_modify(|n| *n -= 1);
    }
}

impl Drain {
    /// Admits a piece of work, or `None` once draining.
    pub fn enter(&self) -> Option<Work<'_>> {
        self.admit().then(|| Work(self))
    }

    fn admit(&self) -> bool {
        let mut admitted = false;
        self.active.send_modify(|n| {
            // Checked under the counter's lock, so `wait` never misses a late entrant.
            if !self.draining.load(Ordering::SeqCst) {
                *n += 1;
                admitted = true;
            }
        });
        admitted
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Stops admitting work; work in progress sees `is_draining` from now on.
    pub fn start(&self) {
        self.active.send_modify(|_| self.draining.store(true, Ordering::SeqCst));
    }

    /// Waits until no admitted work is left, at most `grace`; the number still active.
    pub async fn wait(&self, grace: Duration) -> usize {
        let mut rx = self.active.subscribe();
        let _ = tokio::time::timeout(grace, rx.wait_for(|n| *n == 0)).await;
        *self.active.borrow()
    }
}

impl super::Context {
    /// An owned guard on this context's drain, or `None` once draining.
    pub fn enter_owned(self: &std::sync::Arc<Self>) -> Option<OwnedWork> {
        self.drain.admit().then(|| OwnedWork(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn draining_refuses_new_work_and_waits_for_the_rest() {
        let d = std::sync::Arc::new(Drain::default());
        let held = d.enter().expect("admitted before draining");
        d.start();
        assert!(d.enter().is_none(), "no new work once draining");
        assert!(d.is_draining());
        assert_eq!(d.wait(Duration::from_millis(50)).await, 1, "the grace period ends with work left");
        let d2 = d.clone();
        let waiter = tokio::spawn(async move { d2.wait(Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        assert_eq!(waiter.await.unwrap(), 0, "the last guard ends the wait");
    }
}
