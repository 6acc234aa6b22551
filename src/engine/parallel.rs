//! CPU-bound work spread over the machine's cores: a plan renders and hashes the runtimes
//! that changed (about 0.2 ms of one core each) on every core at once. The calling task's
//! thread takes a share itself and waits for the others, as it would have spent the whole
//! time rendering alone; a slice too small to be worth a thread runs where it is.

use std::sync::OnceLock;

/// Items below which a second thread costs more than it saves.
const MIN_PER_THREAD: usize = 8;

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `items.iter().map(f).collect()`, in order, over up to one thread per core.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_on(cores(), items, f)
}

fn map_on<T: Sync, R: Send>(threads: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len().div_ceil(MIN_PER_THREAD)).max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let mut parts = items.chunks(per);
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts.map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>())).collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        for h in others {
            out.extend(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items_whatever_the_threads() {
        let items: Vec<u64> = (0..1000).collect();
        let want: Vec<u64> = items.iter().map(|i| i * i).collect();
        for threads in [1, 2, 3, 7, 64, 2000] {
            assert_eq!(map_on(threads, &items, |i| i * i), want, "{threads} threads");
        }
        assert!(map_on(4, &[] as &[u64], |i| *i).is_empty());
        assert_eq!(map_on(4, &[5u64], |i| i + 1), vec![6]);
    }

    #[test]
    fn the_work_is_shared_between_threads() {
        let items: Vec<u32> = (0..64).collect();
        let ids = map_on(4, &items, |_| std::thread::current().id());
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 4, "64 items over 4 threads use 4 threads");
        assert_eq!(ids[0], std::thread::current().id(), "the caller takes the first share");
    }

    #[test]
    #[should_panic(expected = "item 40")]
    fn a_panic_on_another_thread_reaches_the_caller() {
        let items: Vec<u32> = (0..64).collect();
        map_on(4, &items, |i| assert_ne!(*i, 40, "item 40"));
    }
}
