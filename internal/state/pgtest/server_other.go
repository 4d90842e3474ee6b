//go:build !linux

package pgtest

import "errors"

// stop does nothing: no server is started here.
func (s *server) stop() {}

// startServer is Linux-only (it runs initdb and postgres as another user
// with Linux process attributes); elsewhere the tests need EnvVar.
func startServer() (*server, error) {
	return nil, errors.New("pgtest starts its own PostgreSQL server on Linux only; set " + EnvVar +
		" to a connection string of a server whose role may create databases")
}
