//go:build !unix && !windows

package bolt

import (
	"errors"
	"os"
)

var errNoFlock = errors.New("state locking is not supported on this platform")

func tryFlock(*os.File) (bool, error) { return false, errNoFlock }

func funlock(*os.File) error { return errNoFlock }
