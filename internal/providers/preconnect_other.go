//go:build !unix

package providers

import "net"

// closedByPeer: without a read that does not wait (Windows), a
// connection opened ahead is taken as it is; preconnectMaxAge bounds how
// stale it can be, and a request that finds it closed before sending
// anything fails as a request on a broken connection does.
func closedByPeer(net.Conn) bool { return false }
