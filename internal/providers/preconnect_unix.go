//go:build unix

package providers

import (
	"errors"
	"net"
	"syscall"
)

// closedByPeer reports whether c, a connection no request was sent on yet,
// is unusable: the server closed it (a read gives end of file) or wrote
// to it unasked. One read that does not wait: the socket is non-blocking,
// and a live, silent connection gives EAGAIN. (A read deadline set in the
// past would not do: Go reports the deadline before reading.)
func closedByPeer(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var rerr error
	var b [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		_, rerr = syscall.Read(int(fd), b[:])
		return true // one attempt, never wait
	}); err != nil {
		return true
	}
	if rerr != nil {
		return !errors.Is(rerr, syscall.EAGAIN) && !errors.Is(rerr, syscall.EWOULDBLOCK)
	}
	return true // n == 0: end of file; n > 0: bytes nobody asked for
}
