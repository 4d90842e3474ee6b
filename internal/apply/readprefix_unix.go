//go:build unix

package apply

import (
	"errors"
	"io/fs"
	"syscall"
)

// readPrefix reads the start of the file at path into buf and returns how
// many bytes it read (fewer than len(buf): the whole file). It opens the
// file with the system's own calls: os.Open also registers the file with
// Go's poller and back, which for a small read is most of the work (every
// writing command reads the start of every custody file).
func readPrefix(path string, buf []byte) (int, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Pread(fd, buf[n:], int64(n))
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: path, Err: err}
		case m == 0:
			return n, nil
		}
		n += m
	}
	return n, nil
}
