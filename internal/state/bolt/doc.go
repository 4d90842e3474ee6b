// Package bolt is the local state backend, the default: a bbolt file
// (state.db, 0600, in a 0700 folder that git is made to ignore,
// state.MakeDir). Open returns its Store, which implements state.Store
// and every optional interface of package state (state.Backend).
//
// It owns what only the file needs: the file's layout and its validation
// (a file it cannot read as an oauthform state is reported, never
// modified), the operation lock and the connection locks (flock files
// beside the state, <path>.lock and <path>.locks/<conn>.lock: flock on
// Unix, LockFileEx on Windows; the OS releases them when their holder
// dies), the backup taken before the first write after each Lock
// (<path>.backup), group commit of concurrent Puts, the watermark of the
// last commit (<path>.serial, state.WriteWatermark; at most every 100 ms,
// and at Unlock and Close), and
// compaction: bbolt leaves the pages a transaction frees as they were, so
// after a change of encryption, and in Purge after deletes, the file is
// rewritten from its live data (and the backup without the deleted
// records), so that no secret in its old form and no forgotten record is
// left in either file.
//
// What a record holds, how it is encoded and sealed, when a write turns
// encryption on, and who holds a lock are package state's (see
// state.Base): this package only stores.
package bolt
