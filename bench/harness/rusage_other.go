//go:build !unix

package main

import "os"

// rssKiB is not measured on this platform.
func rssKiB(*os.ProcessState) int64 { return 0 }
