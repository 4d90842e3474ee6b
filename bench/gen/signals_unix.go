//go:build unix

package main

import (
	"os"
	"syscall"
)

// controlSignals steer `gen serve`: SIGUSR1 turns the latency off, SIGUSR2
// back on, SIGHUP only writes the counters.
var controlSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP}

func control(sig os.Signal) string {
	switch sig {
	case syscall.SIGUSR1:
		return "latency-off"
	case syscall.SIGUSR2:
		return "latency-on"
	}
	return ""
}
