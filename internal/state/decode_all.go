package state

import (
	"runtime"
	"sync"
)

// Stored is one record as a store keeps it: its connection and its
// encoding (EncodeRecord).
type Stored struct {
	Conn string
	Data []byte
}

// decodeChunk is the fewest records a decoding goroutine is given.
const decodeChunk = 512

// DecodeAllStored decodes stored records (DecodeStored) on every core: a
// snapshot of 10,000 records spends most of its time in the JSON decoder.
// On error it returns the first one in the order of stored.
func DecodeAllStored(stored []Stored, encrypted bool, sl *Sealer) (map[string]*Record, error) {
	recs := make([]*Record, len(stored))
	errs := make([]error, len(stored))
	decode := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			recs[i], errs[i] = DecodeStored(stored[i].Conn, stored[i].Data, encrypted, sl)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(stored)+decodeChunk-1)/decodeChunk)
	if workers <= 1 {
		decode(0, len(stored))
	} else {
		var wg sync.WaitGroup
		per := (len(stored) + workers - 1) / workers
		for lo := 0; lo < len(stored); lo += per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				decode(lo, min(lo+per, len(stored)))
			}()
		}
		wg.Wait()
	}
	out := make(map[string]*Record, len(stored))
	for i, s := range stored {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out[s.Conn] = recs[i]
	}
	return out, nil
}
