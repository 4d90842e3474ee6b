// Package state records what oauthform has done: one versioned Record per
// connection (tokens, scopes, expiry, status) plus meta (format version,
// lineage, serial). It owns the model and everything that does not depend
// on where the state is stored: the Store interface and the other
// interfaces a store may implement (Rekeyer, Importer, Custodian,
// EncryptionReporter), the record encoding (EncodeRecord), the meta and
// its validation (ParseMeta), the encryption decision (OpenSealer,
// PlanWrite), the bookkeeping of locks (LockInfo, WaitLock), of deleted
// records (Forgetting) and of the local state's watermark, and the
// errors. The storage is in one package per backend: bolt (a bbolt file,
// the default) and pg (a PostgreSQL schema); the exported helpers here
// that say "for backends" exist for them, so that each backend only
// stores.
//
// Every write increments the serial, so a saved plan can tell that the state
// moved on. Tokens are secret.Secret values: they redact when printed and are
// revealed only inside the store's encoding (EncodeRecord), which every
// backend stores as it is, so records move between backends unchanged.
// A store never rewrites a state it cannot read as an oauthform state
// (ErrCorrupt, ErrNewerFormat).
//
// # Encryption at rest
//
// With Options.Passphrase, the secrets of every record (access and refresh
// tokens, the client secret fingerprint) are sealed with XChaCha20-Poly1305
// under a key derived from the passphrase with Argon2id (package seal). The
// KDF parameters, the salt and a sealed check value live in the state's
// meta; each record's seal is bound to the state's lineage and the
// connection's name (associated data), so sealed values cannot be moved
// between records or states. Everything plan and show need (provider,
// client_id, scopes, expiry, status, refresh_before, whether there is an
// access and a refresh token) stays readable, so a store opened without the
// passphrase reads an encrypted state as Sealed records (see Record.Sealed)
// and refuses only what needs the secrets: Get and Put give ErrSealed
// (Delete needs no passphrase). A wrong passphrase is found by the check
// value before anything is read or written: ErrWrongPassphrase.
//
// Encryption is turned on by the first write of a store that has a
// passphrase and holds the operation lock on an unencrypted state (every
// record is sealed in one transaction, and Options.Notify is told; see
// PrepareEnable and SealingUpdate), or explicitly by Rekey, which also
// changes the passphrase and turns encryption off, again in one
// transaction. Either way the store then replaces the backup, and the
// bbolt store rewrites its file from its live data, because bbolt leaves
// freed pages as they were. Reads never change the encryption, so plan
// shows nothing for it.
//
// # Forgetting
//
// A deleted record's bytes outlive Delete: bbolt frees its pages without
// overwriting them, PostgreSQL keeps the dead row version until VACUUM,
// and the backup holds the record as it was before the command. Purge,
// called once per command after its deletes (and by Unlock and Close when
// the caller did not), clears them: the bbolt file is compacted into a
// fresh copy and the backup rewritten without the deleted records; on
// PostgreSQL they are deleted from the backup tables and both tables are
// VACUUM FULLed. Copies outside the store's reach are not cleared: disk
// blocks of replaced files, PostgreSQL's write-ahead log and backups, an
// old state set aside by `state migrate` (state.db.migrated-*), emergency
// files.
package state
