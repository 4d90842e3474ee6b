//go:build !unix

package main

import "os"

// controlSignals: none outside Unix; `gen serve` keeps its latency.
var controlSignals []os.Signal

func control(os.Signal) string { return "" }
