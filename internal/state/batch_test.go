package state

import (
	"sync"
	"testing"
	"time"
)

// Requests that arrive while a batch runs are run together in the next
// one, on one of their callers' goroutines; every request runs once.
func TestBatcher(t *testing.T) {
	var b Batcher[*int]
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	run := func(reqs []*int) {
		mu.Lock()
		first := len(batches) == 0
		var got []int
		for _, r := range reqs {
			got = append(got, *r)
			*r = -*r // answered
		}
		batches = append(batches, got)
		mu.Unlock()
		if first {
			<-release
		}
	}
	const n = 10
	reqs := make([]*int, n)
	for i := range reqs {
		v := i + 1
		reqs[i] = &v
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Do(reqs[0], run) }()
	waitUntil(t, func() bool { q, leading := b.Queued(); return leading && q == 0 })
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); b.Do(reqs[i], run) }()
	}
	waitUntil(t, func() bool { q, _ := b.Queued(); return q == n-1 })
	close(release)
	wg.Wait()
	if len(batches) != 2 || len(batches[0]) != 1 || len(batches[1]) != n-1 {
		t.Fatalf("batches %v, want the first request alone, then the %d others together", batches, n-1)
	}
	for i, r := range reqs {
		if *r != -(i + 1) {
			t.Errorf("request %d: %d, want it answered once", i+1, *r)
		}
	}
	if q, leading := b.Queued(); q != 0 || leading {
		t.Errorf("after the batches: %d queued, leading %v", q, leading)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(time.Millisecond)
	}
}
