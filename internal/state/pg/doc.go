// Package pg is the PostgreSQL state backend, for a state shared by a
// team: several machines read and write one state in one schema of one
// database. Open returns its Store, which implements state.Store and
// every optional interface of package state (state.Backend); the
// connection string is a secret.Secret, since it may hold the password,
// and the store's Path names the state without credentials.
//
// It owns what only PostgreSQL needs: the schema's tables and their
// creation (pg.go), the locks as session advisory locks on a dedicated
// connection, which PostgreSQL releases when the session ends, with each
// holder's state.LockInfo in a locks table (lock.go), writes as
// transactions on that session, ordered by a row lock on the serial
// (write.go), concurrent puts and connection locks batched on it so that
// an apply at -parallelism 50 does not queue for it one by one (batch.go), the backup tables, and Purge, which deletes forgotten
// records from the backup and runs VACUUM FULL so that their dead row
// versions do not stay in the tables' files (forget.go).
//
// What a record holds, how it is encoded and sealed, when a write turns
// encryption on, and who holds a lock are package state's (see
// state.Base): this package only stores.
package pg
