//go:build !unix

package apply

import (
	"errors"
	"io"
	"os"
)

// readPrefix reads the start of the file at path into buf and returns how
// many bytes it read (fewer than len(buf): the whole file).
func readPrefix(path string, buf []byte) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}
