//! The ordered bounded queue between the reader and the sinks: items (events, batches being masked)
//! enter in input order and leave in that same order, while at most `depth` of them wait.
//!
//! Invariants:
//! * **Order**: items are handed on exactly in the order they were pushed; a ready item behind one
//!   that is not ready waits for it.
//! * **Bound**: when [`OrderedQueue::push`] returns, at most `depth` items are held (`depth` ≥ 1).
//!   To keep it, the oldest item is handed on even when it is not ready: the consumer then waits
//!   for it (a batch's masking job), which is what bounds memory.
//! * **Promptness**: a ready item at the front never waits in the queue; it is handed on by the
//!   push that made it the front.

use std::collections::VecDeque;

pub struct OrderedQueue<T> {
    /// Oldest first.
    items: VecDeque<T>,
    /// The most items held between two pushes; at least 1.
    depth: usize,
    /// Whether an item can be handed on without waiting (e.g. not a batch still being masked).
    ready: fn(&T) -> bool,
}

impl<T> OrderedQueue<T> {
    pub fn new(depth: usize, ready: fn(&T) -> bool) -> OrderedQueue<T> {
        OrderedQueue {
            items: VecDeque::new(),
            depth: depth.max(1),
            ready,
        }
    }

    /// Add `item` at the back, then hand on (to `out`, in order) the front items that are ready
    /// and, beyond those, the oldest ones while more than `depth` are held. An error from `out`
    /// stops at once and is returned; the items not handed on stay (the caller drops the queue).
    pub fn push<E>(&mut self, item: T, mut out: impl FnMut(T) -> Result<(), E>) -> Result<(), E> {
        self.items.push_back(item);
        while self.items.len() > self.depth || self.items.front().is_some_and(self.ready) {
            let front = self.items.pop_front().expect("non-empty");
            out(front)?;
        }
        Ok(())
    }

    /// Hand on every item left, in order (the end of the input).
    pub fn drain<E>(&mut self, mut out: impl FnMut(T) -> Result<(), E>) -> Result<(), E> {
        while let Some(front) = self.items.pop_front() {
            out(front)?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::OrderedQueue;

    /// `(sequence number, ready)`.
    type Item = (u32, bool);

    fn ready(item: &Item) -> bool {
        item.1
    }

    #[test]
    fn items_leave_in_the_order_they_entered() {
        let mut q = OrderedQueue::new(3, ready as fn(&Item) -> bool);
        let mut out = Vec::new();
        let pattern = [
            true, false, false, true, true, false, true, false, false, false, true,
        ];
        for (i, r) in pattern.iter().enumerate() {
            q.push((i as u32, *r), |it| {
                out.push(it.0);
                Ok::<_, ()>(())
            })
            .unwrap();
        }
        q.drain(|it| {
            out.push(it.0);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(out, (0..pattern.len() as u32).collect::<Vec<_>>());
        assert!(q.is_empty());
    }

    #[test]
    fn at_most_depth_items_are_held_and_ready_fronts_do_not_wait() {
        for depth in 1..5 {
            let mut q = OrderedQueue::new(depth, ready as fn(&Item) -> bool);
            let mut handed = 0;
            for i in 0..20u32 {
                // Every third item is ready; the others wait for the bound.
                q.push((i, i % 3 == 0), |_| {
                    handed += 1;
                    Ok::<_, ()>(())
                })
                .unwrap();
                assert!(q.len() <= depth, "depth {depth}: {} held", q.len());
                assert_eq!(handed + q.len(), i as usize + 1);
            }
        }
        // A ready item at the front is handed on by the push itself.
        let mut q = OrderedQueue::new(4, ready as fn(&Item) -> bool);
        let mut out = Vec::new();
        q.push((0, true), |it| {
            out.push(it.0);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!((out.len(), q.len()), (1, 0));
        // A ready item behind a pending one waits for it.
        q.push((1, false), |_| Ok::<_, ()>(())).unwrap();
        q.push((2, true), |it| {
            out.push(it.0);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!((out.len(), q.len()), (1, 2));
    }

    #[test]
    fn an_error_from_the_consumer_stops_the_queue() {
        let mut q = OrderedQueue::new(1, ready as fn(&Item) -> bool);
        q.push((0, false), |_| Err("unused")).unwrap();
        let err = q.push((1, false), |it| Err(it.0)).unwrap_err();
        assert_eq!(err, 0);
    }
}
