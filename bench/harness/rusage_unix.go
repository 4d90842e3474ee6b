//go:build unix

package main

import (
	"os"
	"runtime"
	"syscall"
)

// rssKiB returns the peak resident set size of a finished child, in KiB.
func rssKiB(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss) / 1024 // bytes there
	}
	return int64(ru.Maxrss) // KiB on Linux and the BSDs
}
