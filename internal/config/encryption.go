package config

import (
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/keys"
	"github.com/oauthform/oauthform/internal/secret"
)

// keyAttributes are the attributes of a key provider, in an encryption
// block and in its fallback block: exactly one is set.
var keyAttributes = []hcl.AttributeSchema{
	{Name: keys.KindPassphrase},
	{Name: keys.KindCommand},
	{Name: keys.KindKeyring},
	{Name: keys.KindKeyFile},
}

var encryptionSchema = &hcl.BodySchema{
	Attributes: append([]hcl.AttributeSchema{{Name: "enforced"}}, keyAttributes...),
	Blocks:     []hcl.BlockHeaderSchema{{Type: "fallback"}},
}

var fallbackSchema = &hcl.BodySchema{Attributes: keyAttributes}

// Encryption is the oauthform.encryption block: the key provider that
// seals the state's secrets at rest, the fallback one that still opens it
// during a rotation, and whether encryption is enforced.
type Encryption struct {
	// Key is the key provider (Key.IsZero: none, allowed only with
	// Enforced, which then refuses every command that needs a key).
	Key keys.Source
	// Fallback, when set, is the key provider of the previous key: it is
	// only read, never used to seal.
	Fallback *keys.Source
	// Enforced: no command writes or keeps a plain record.
	Enforced bool
	// Passphrase is the key's passphrase: Key.Passphrase as configured,
	// or, for the other providers, what Resolve found (zero until then).
	Passphrase secret.Secret
	// FallbackPassphrase is the fallback's, once resolved.
	FallbackPassphrase secret.Secret
	DeclRange          hcl.Range
	EnforcedRange      hcl.Range

	once       sync.Once
	resolveErr error
}

// Resolve resolves the key providers once (the first call runs the
// command, reads the keyring or the key file; later ones return what it
// found): Passphrase and FallbackPassphrase are then set. The secrets
// stay in this process's memory.
func (e *Encryption) Resolve(resolve func(keys.Source) (secret.Secret, error)) error {
	e.once.Do(func() {
		if !e.Key.IsZero() {
			p, err := resolve(e.Key)
			if err != nil {
				e.resolveErr = err
				return
			}
			e.Passphrase = p
		}
		if e.Fallback != nil {
			p, err := resolve(*e.Fallback)
			if err != nil {
				e.resolveErr = fmt.Errorf("fallback: %w", err)
				return
			}
			e.FallbackPassphrase = p
		}
	})
	return e.resolveErr
}

// EnforcedAt says where enforced is set, for messages: "FILE line N".
func (e *Encryption) EnforcedAt() string {
	return fmt.Sprintf("%s line %d", e.EnforcedRange.Filename, e.EnforcedRange.Start.Line)
}

// decodeEncryption decodes an encryption block; nil when it is invalid.
func (l *loader) decodeEncryption(eb *hcl.Block) *Encryption {
	enc := &Encryption{DeclRange: eb.DefRange}
	content, diags := eb.Body.Content(encryptionSchema)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	ok := true
	if attr, has := content.Attributes["enforced"]; has {
		b, set, bok := l.attrBool(attr)
		ok = ok && bok
		enc.Enforced, enc.EnforcedRange = set && b, attr.Expr.Range()
	}
	key, kok := l.decodeKeySource(content, "encryption")
	ok = ok && kok
	enc.Key, enc.Passphrase = key, key.Passphrase
	var fallback *hcl.Block
	for _, fb := range content.Blocks {
		if fallback != nil {
			l.diags = append(l.diags, errorAt(fb.DefRange, "Duplicate fallback block",
				"A fallback block was already declared at %s. Only one is allowed: the key the state was sealed with before.", pos(fallback.DefRange)))
			ok = false
			continue
		}
		fallback = fb
		fcontent, fdiags := fb.Body.Content(fallbackSchema)
		l.diags = append(l.diags, fdiags...)
		if fdiags.HasErrors() {
			ok = false
			continue
		}
		src, fok := l.decodeKeySource(fcontent, "fallback")
		if !fok {
			ok = false
			continue
		}
		if src.IsZero() {
			l.diags = append(l.diags, errorAt(fb.DefRange, "Missing key provider",
				"A fallback block names the previous key with one of %s; or remove it.", keyAttributeNames()))
			ok = false
			continue
		}
		enc.Fallback = &src
	}
	if ok && key.IsZero() {
		switch {
		case fallback != nil:
			l.diags = append(l.diags, errorAt(eb.DefRange, "Missing key provider",
				"A fallback key is only read: the encryption block also needs the new key, with one of %s.", keyAttributeNames()))
			ok = false
		case !enc.Enforced:
			l.diags = append(l.diags, errorAt(eb.DefRange, "Missing key provider",
				"The encryption block needs a key provider: one of %s. Remove the block to store tokens unsealed.", keyAttributeNames()))
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return enc
}

func keyAttributeNames() string {
	names := make([]string, len(keyAttributes))
	for i, a := range keyAttributes {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

// decodeKeySource decodes the key provider attributes of a block named
// what: at most one of them.
func (l *loader) decodeKeySource(content *hcl.BodyContent, what string) (keys.Source, bool) {
	var src keys.Source
	var seen *hcl.Attribute
	ok := true
	for _, a := range keyAttributes {
		attr, has := content.Attributes[a.Name]
		if !has {
			continue
		}
		if seen != nil {
			l.diags = append(l.diags, errorAt(attr.NameRange, "Conflicting key providers",
				"The %s block already takes its key from %s (%s): give exactly one of %s.", what, seen.Name, pos(seen.NameRange), keyAttributeNames()))
			ok = false
			continue
		}
		seen = attr
		switch a.Name {
		case keys.KindPassphrase:
			s, set, sok := l.attrString(attr, true)
			if !sok {
				ok = false
				continue
			}
			if !set || s == "" {
				l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid value",
					"The passphrase must not be empty: tokens would be sealed with no secret. Remove the encryption block to store them unsealed."))
				ok = false
				continue
			}
			l.secrets = append(l.secrets, s)
			src.Passphrase = secret.New(s)
		case keys.KindCommand:
			list, set, lok := l.attrStrings(attr)
			if !lok {
				ok = false
				continue
			}
			if !set || len(list) == 0 || list[0] == "" {
				l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid value",
					`passphrase_command is a program and its arguments, run without a shell: for example ["pass", "show", "oauthform/prod"].`))
				ok = false
				continue
			}
			src.Command = list
		case keys.KindKeyring, keys.KindKeyFile:
			s, set, sok := l.attrString(attr, false)
			if !sok {
				ok = false
				continue
			}
			if !set || s == "" {
				l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid value",
					"%s must not be empty: it names the keyring service or the key file.", a.Name))
				ok = false
				continue
			}
			if a.Name == keys.KindKeyring {
				src.Keyring = s
			} else {
				src.KeyFile = s
			}
		}
	}
	return src, ok
}
