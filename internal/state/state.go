package state

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// FormatVersion is the newest on-disk layout this build reads and writes.
// A file with a higher version was written by a newer oauthform and is
// refused, never overwritten.
//
// Version 2 is version 1 plus encryption at rest (an encryption entry in
// meta, sealed records). A state is written with the lowest version that
// describes it: 1 while it is unencrypted, so older builds keep reading it,
// and 2 once it is encrypted, so that they refuse it instead of reading
// records whose tokens they cannot see.
const FormatVersion = 2

// formatPlain and formatEncrypted are the versions written for an
// unencrypted and an encrypted state.
const (
	formatPlain     = 1
	formatEncrypted = 2
)

// SealedToken is what Record.Access and Record.Refresh hold in a Sealed
// record for a token that exists but could not be opened (no passphrase):
// a non-empty stand-in, so that IsZero still says whether there is a token.
// It is never a credential; Put refuses Sealed records.
const SealedToken = "(sealed)"

// RecordVersion is the version of the Record encoding written by this build.
// Older records are upgraded on read.
const RecordVersion = 1

// Status is a connection's standing with its provider.
type Status string

// Statuses.
const (
	// StatusActive: the tokens are believed to work.
	StatusActive Status = "active"
	// StatusNeedsReconnect: the provider rejected the grant (invalid_grant
	// on refresh, say). The next plan turns this into a reconnect, as
	// Terraform turns a tainted object into a replacement.
	StatusNeedsReconnect Status = "needs_reconnect"
	// StatusFailing: refreshes have failed for longer than give_up_after
	// with errors that may be transient; they are still retried, with
	// backoff, but the connection needs attention.
	StatusFailing Status = "failing"
)

// LastError is the most recent provider error for a connection.
type LastError struct {
	Kind    string `json:"kind"`              // providers.Error kind, e.g. "invalid_grant"
	Code    string `json:"code,omitempty"`    // the provider's own code
	Message string `json:"message,omitempty"` // the provider's message, no secrets
	// Count, Since and Next track failures that may be transient: how
	// many in a row, since when, and when the next attempt is due
	// (exponential backoff across runs). Zero for a terminal failure.
	Count int       `json:"count,omitempty"`
	Since time.Time `json:"since,omitzero"`
	Next  time.Time `json:"next_attempt,omitzero"`
	At    time.Time `json:"at"`
}

// Record is the state of one connection. Fields mirror the configuration
// they were granted under so that plan can detect drift.
type Record struct {
	// Version is the encoding version this record was read from; writers
	// always write RecordVersion.
	Version int
	// Conn is the connection name; it is the record's key.
	Conn string

	Provider         string
	ClientID         string
	ClientSecretHash string // see HashSecret; never the secret itself
	RedirectURI      string
	// Grant is the grant type the tokens were obtained by
	// ("device_code", "client_credentials"); empty means the
	// authorization code, as for records older than the grant attribute.
	Grant string
	// Scopes are the scopes requested at the last grant.
	Scopes []string
	// GrantedScopes are the scopes the provider reported granting; nil when
	// the provider did not say.
	GrantedScopes []string
	Params        map[string]string
	// RefreshBefore is the local refresh margin the record was last applied
	// with (a local setting: changing it is an update, not a reconnect).
	RefreshBefore time.Duration

	Access    secret.Secret
	Refresh   secret.Secret
	TokenType string
	// Expiry of the access token; the zero time means it does not expire.
	Expiry time.Time
	// ExpiryAssumed is true when the provider's answer gave no expiry and
	// Expiry is an assumed lifetime (token_lifetime, or an hour for a
	// token that can be refreshed), not the provider's word.
	ExpiryAssumed bool

	Status    Status
	LastError *LastError
	// Meta holds provider response data kept for the user, as JSON values
	// (Burner's connected_burners). Values read from a store hold numbers
	// as json.Number, so large ids survive exactly.
	Meta map[string]any

	Created   time.Time
	Refreshed time.Time

	// Generation counts the refresh tokens this grant has held: every
	// refresh answer written (and every rotated token salvaged from an
	// unusable answer) increments it. The custody journal keeps the latest
	// generation outside the state too, so a state that went back in time
	// (a restored backup, a rolled-back file) is noticed before its spent
	// refresh token is presented.
	Generation uint64
	// InFlight is set, and durably written, before a refresh request is
	// sent, and cleared by the write of its answer. Found set by the next
	// refresh (which holds the connection's lock, so its writer is gone),
	// it means the refresh was interrupted: its answer never reached the
	// state, and the provider may have rotated the refresh token.
	InFlight *Flight
	// Discovery holds the endpoints of a provider declared by issuer, as
	// its metadata gave them, so that refreshes and plan need not fetch
	// it; nil for providers whose endpoints are declared.
	Discovery *Discovery

	// Sealed is set on a record read from an encrypted state by a store
	// without the passphrase. Its metadata is real; its secrets are not
	// there: Access and Refresh hold SealedToken when the record has that
	// token and are zero when it has none, and ClientSecretHash is empty.
	// Put refuses a Sealed record (ErrSealed), so a record read without
	// the passphrase can never overwrite its tokens.
	Sealed bool
}

// Flight describes a refresh request on its way to the provider.
type Flight struct {
	// Since is when the request was about to be sent.
	Since time.Time `json:"since"`
	// PID and Host name the process that sent it.
	PID  int    `json:"pid"`
	Host string `json:"host"`
	// Generation is the generation its answer will have.
	Generation uint64 `json:"generation"`
}

// String describes the flight for messages.
func (f *Flight) String() string {
	return fmt.Sprintf("at %s by process %d on %s", f.Since.UTC().Format(time.RFC3339), f.PID, f.Host)
}

// Discovery is what a provider's discovery document gave for the
// connection's last grant or refresh (RFC 8414 / OpenID Connect
// Discovery), and when it was fetched.
type Discovery struct {
	Issuer       string `json:"issuer"`
	AuthorizeURL string `json:"authorization_endpoint"`
	TokenURL     string `json:"token_endpoint"`
	RevokeURL    string `json:"revocation_endpoint,omitempty"`
	CheckURL     string `json:"userinfo_endpoint,omitempty"`
	// DeviceAuthURL is the device_authorization_endpoint (RFC 8628).
	DeviceAuthURL string    `json:"device_authorization_endpoint,omitempty"`
	IssRequired   bool      `json:"iss_required,omitempty"`
	Fetched       time.Time `json:"fetched"`
}

// Snapshot is a consistent read of the whole state.
type Snapshot struct {
	// Lineage is a random id fixed when the state was created; empty when no
	// state exists yet.
	Lineage string
	// Serial increments on every write.
	Serial uint64
	// Records by connection name.
	Records map[string]*Record
	// Encrypted says the state's secrets are sealed at rest. Its records
	// are Sealed when the store has no passphrase.
	Encrypted bool
	// UnderFallback says the state is sealed under the store's fallback
	// passphrase (Options.Fallback), not its own: a rotation has begun,
	// and the next write under the operation lock that reseals (Rekey
	// with the store's passphrase) finishes it.
	UnderFallback bool
	// Enforced says the state's encryption is enforced
	// (Encryption.Enforced).
	Enforced bool
}

// Empty reports whether the snapshot has no state at all (not created yet).
func (s *Snapshot) Empty() bool { return s == nil || s.Lineage == "" }

// LockInfo says who holds the state lock. It is shown to a second writer
// that cannot get the lock.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"` // the command, e.g. "apply"
	Who       string    `json:"who"`       // user@host
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	Version   string    `json:"version"` // oauthform version
	Created   time.Time `json:"created"`
	Path      string    `json:"path"` // the state path
}

// String renders the lock holder for error messages.
func (l *LockInfo) String() string {
	return fmt.Sprintf("ID:        %s\nPath:      %s\nOperation: %s\nWho:       %s\nPID:       %d\nVersion:   %s\nCreated:   %s",
		l.ID, l.Path, l.Operation, l.Who, l.PID, l.Version, l.Created.Format(time.RFC3339))
}

// LockError is returned when the lock is held by someone else and could not
// be acquired within the lock timeout.
type LockError struct {
	Info *LockInfo // the holder; nil when it could not be read
	// Conn is the connection whose lock is held; empty for the operation
	// lock.
	Conn string
	Err  error
}

func (e *LockError) Error() string {
	what := "state"
	if e.Conn != "" {
		what = fmt.Sprintf("connection %q", e.Conn)
	}
	if e.Info == nil {
		return fmt.Sprintf("%s is locked by another process: %v", what, e.Err)
	}
	if e.Info.Path != "" && e.Conn == "" {
		what = "state " + e.Info.Path
	}
	return fmt.Sprintf("%s is locked by %s (pid %d on %s, running %q since %s)",
		what, e.Info.Who, e.Info.PID, e.Info.Host, e.Info.Operation, e.Info.Created.Format(time.RFC3339))
}

func (e *LockError) Unwrap() error { return e.Err }

// Errors callers can test with errors.Is.
var (
	// ErrLocked: the state lock is held by someone else.
	ErrLocked = errors.New("state locked")
	// ErrNotLocked: a write was attempted without holding the lock.
	ErrNotLocked = errors.New("state lock not held")
	// ErrCorrupt: the file is not a readable oauthform state.
	ErrCorrupt = errors.New("state file is corrupt or not an oauthform state")
	// ErrNewerFormat: the file was written by a newer oauthform.
	ErrNewerFormat = errors.New("state file was written by a newer oauthform")
	// ErrNoState: the state does not exist yet (run `oauthform init`).
	ErrNoState = errors.New("no state")
	// ErrNotFound: no record for that connection.
	ErrNotFound = errors.New("no such connection in state")
	// ErrSealed: the state is encrypted and the store was opened without
	// its passphrase, and the operation needs the secrets (Get, Put,
	// Rekey), or Put was given a Sealed record.
	ErrSealed = errors.New("the state is encrypted and no passphrase was given")
	// ErrWrongPassphrase: the passphrase does not open the state (it fails
	// the sealed check value in the state's meta). Nothing was read or
	// written.
	ErrWrongPassphrase = errors.New("the passphrase does not open this state")
	// ErrEnforced is ErrSealed for a state whose encryption is enforced
	// (Encryption.Enforced): it is never read or written without its key.
	ErrEnforced = fmt.Errorf("%w: this state enforces encryption at rest (it was sealed under enforced = true), so its tokens are never read or written without its key", ErrSealed)
)

// Options configure a backend's Open (bolt.Open, pg.Open).
type Options struct {
	// LockTimeout is how long Lock waits for another holder before failing
	// with a LockError. Zero fails at once.
	LockTimeout time.Duration
	// Create makes Open create the state (and its folder) if missing.
	// Without it, a missing state reads as an empty Snapshot and any write
	// fails with ErrNoState.
	Create bool
	// Now is the clock (for Created times); nil means time.Now.
	Now func() time.Time
	// Version is the oauthform version recorded in the state's meta and
	// in LockInfo; empty means "dev".
	Version string
	// Passphrase, when set, opens an encrypted state's secrets and seals
	// what is written. On an unencrypted state the first write under the
	// operation lock turns encryption on: every record is sealed in one
	// transaction (and Notify is told); a write under a connection lock
	// only (`token`) cannot, and writes unsealed (Notify is told too). A
	// state created by this store is encrypted from the start. Zero: an
	// encrypted state reads as Sealed records and refuses Get and Put
	// with ErrSealed; an unencrypted one stays so. Keys are derived once
	// per process (seal.Derive).
	Passphrase secret.Secret
	// Fallback, when set, is the passphrase of the previous key, during a
	// rotation: it opens an encrypted state that Passphrase does not
	// open, and the store then reads and writes under it (the state keeps
	// one key) until Rekey reseals the state under Passphrase. It is
	// never used to seal a new state.
	Fallback secret.Secret
	// Enforced says the configuration enforces encryption at rest: the
	// encryption this store turns on or changes records it
	// (Encryption.Enforced).
	Enforced bool
	// Notify receives notes for the user about what the store did on its
	// own (turning encryption on). They hold no secret. nil drops them.
	Notify func(msg string)
}

// Store is the state storage, implemented by the backends (packages bolt
// and pg). Every implementation must pass statetest.TestStore.
//
// Reads never block each other and do not need the lock. Writes (Put,
// Delete) need the lock taken with Lock; each is durable when it returns
// (concurrent Puts of one process may share a transaction: group commit,
// and fail together when it fails), moves the serial on, and the first
// write after Lock is preceded by a consistent backup (skipped while the
// state has never been written, so a fresh state never replaces an older
// backup).
type Store interface {
	// Snapshot returns a consistent copy of the whole state. A state that
	// does not exist yet gives an empty Snapshot (Lineage "").
	Snapshot(ctx context.Context) (*Snapshot, error)
	// Get returns one record, or ErrNotFound.
	Get(ctx context.Context, conn string) (*Record, error)
	// Lock takes the state lock for an operation, waiting up to the lock
	// timeout. It returns a *LockError (wrapping ErrLocked) naming the holder
	// when it cannot.
	Lock(ctx context.Context, operation string) (*LockInfo, error)
	// Unlock releases the lock taken by this Store.
	Unlock(ctx context.Context) error
	// LockConn takes the lock of one connection, for the read, refresh and
	// write of its tokens. It waits up to wait (or until ctx ends) while
	// another process holds it and then fails with a *LockError naming the
	// holder. It is independent of the operation lock: `token` refreshes a
	// connection while an `apply` elsewhere waits on a person, and apply
	// takes the connection's lock too before touching its tokens, so a
	// rotating refresh token is never used twice. The returned func
	// releases the lock.
	LockConn(ctx context.Context, conn string, wait time.Duration) (release func() error, err error)
	// Put writes one record, durably when it returns (possibly in one
	// transaction with concurrent Puts of this process). It needs the
	// operation lock or the record's connection lock.
	Put(ctx context.Context, rec *Record) error
	// Delete removes one record; deleting a missing record is ErrNotFound.
	// It needs the operation lock or the connection lock. The record's
	// bytes may remain in the store's storage (freed pages, dead row
	// versions, the backup) until Purge.
	Delete(ctx context.Context, conn string) error
	// Purge clears every copy of the records deleted since the last
	// Purge that the store can reach: the storage they were freed from,
	// and the backup, which keeps the other records as they were. It is
	// meant to be called once per command, after its deletes; it does
	// nothing when nothing was deleted, and it needs the operation lock.
	// Unlock and Close purge first what the caller did not. A failure is
	// a *PurgeError: the records are deleted, their bytes may remain.
	Purge(ctx context.Context) error
	// Init creates the state if it does not exist and returns its lineage.
	Init(ctx context.Context) (lineage string, err error)
	// Backup writes a consistent copy of the state next to it.
	Backup(ctx context.Context) error
	// Path names the state for messages (a file path or a URL without
	// credentials).
	Path() string
	// Close releases every resource, including a held lock. Calling it
	// again is harmless.
	Close() error
}

// Backend is what a backend's store implements: Store and every optional
// interface of this package. Both backends' stores are Backends.
type Backend interface {
	Store
	Rekeyer
	Importer
	Custodian
	EncryptionReporter
}

// HashSecret returns the fingerprint of a client secret stored in a Record:
// HMAC-SHA256 keyed by the state's lineage, so the value cannot be looked up
// in a table built for another state. Plan compares fingerprints to notice a
// changed client secret without ever storing it.
func HashSecret(lineage string, s secret.Secret) string {
	if s.IsZero() {
		return ""
	}
	m := hmac.New(sha256.New, []byte("oauthform/client-secret/"+lineage))
	m.Write([]byte(s.Reveal()))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// Rekeyer is implemented by stores that can change how their secrets are
// sealed at rest. Both backends implement it.
type Rekeyer interface {
	// Rekey rewrites every record in one transaction under newPass: with
	// a fresh salt, a new key and a new check value when newPass is set
	// (turning encryption on if it was off), unsealed when newPass is zero
	// (turning encryption off). It needs the operation lock and, on an
	// encrypted state, the current passphrase (Options.Passphrase);
	// without it nothing is written (ErrSealed, ErrWrongPassphrase). It
	// waits for the connection locks of the records it rewrites, so no
	// refresh in flight is lost. From then on the store uses newPass.
	Rekey(ctx context.Context, newPass secret.Secret) (*RekeyResult, error)
}

// RekeyResult says what Rekey did.
type RekeyResult struct {
	// Records is the number of records rewritten.
	Records int
	// WasEncrypted and Encrypted describe the state before and after.
	WasEncrypted, Encrypted bool
	// Serial is the state's serial after the rewrite.
	Serial uint64
}
