package state

import "sync"

// Batcher coalesces concurrent requests of one kind so that one round
// trip, transaction or read serves all of them: the pg store's puts,
// connection locks and their releases on its one lock session, the bolt
// store's reads (each opens, maps and unmaps the file). At -parallelism
// 50 the requests would otherwise queue one by one.
//
// The first caller leads: it runs every request queued (its own
// included) with run. Callers that arrive meanwhile queue up; when the
// leader is done it hands the lead to the first of them, which runs the
// next batch, its own included, so a request always runs in a batch that
// started after it arrived. No goroutine is started: every batch runs on
// the goroutine of one of its callers, and each caller returns once run
// has returned for its batch. The zero Batcher is ready to use.
type Batcher[T any] struct {
	mu      sync.Mutex
	queue   []*waiter[T]
	leading bool // a caller is running a batch, or has been handed the lead
}

type waiter[T any] struct {
	req T
	// wake receives true when the waiter is to lead the next batch,
	// false when its request has been run.
	wake chan bool
}

// Do runs req in a batch with run and returns once it has run. run must
// answer every request it is given (T carries its result).
func (b *Batcher[T]) Do(req T, run func([]T)) {
	w := &waiter[T]{req: req, wake: make(chan bool, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	if b.leading {
		b.mu.Unlock()
		if lead := <-w.wake; !lead {
			return
		}
		b.mu.Lock()
	}
	b.leading = true
	batch := b.queue // holds w
	b.queue = nil
	b.mu.Unlock()

	reqs := make([]T, len(batch))
	for i, o := range batch {
		reqs[i] = o.req
	}
	run(reqs)
	for _, o := range batch {
		if o != w {
			o.wake <- false
		}
	}
	b.mu.Lock()
	if len(b.queue) > 0 {
		b.queue[0].wake <- true
	} else {
		b.leading = false
	}
	b.mu.Unlock()
}

// Queued reports how many requests wait for the next batch and whether a
// caller leads (runs a batch or has been handed the lead), for tests.
func (b *Batcher[T]) Queued() (n int, leading bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue), b.leading
}
