package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/secret"
)

// backendSchemas are the arguments of each backend type.
var backendSchemas = map[string]*hcl.BodySchema{
	BackendLocal: {Attributes: []hcl.AttributeSchema{{Name: "path"}}},
	BackendPG: {Attributes: []hcl.AttributeSchema{
		{Name: "conn_str"},
		{Name: "schema_name"},
	}},
}

// pgIdentRE is an unquoted PostgreSQL identifier as oauthform accepts it
// for a schema: lower case, so that it means the same quoted or not, and
// at most NAMEDATALEN-1 bytes.
var pgIdentRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// passwordKeyRE finds a password keyword (keyword/value form) or query
// parameter (URL form) in a connection string.
var passwordKeyRE = regexp.MustCompile(`(^|[\s?&])password\s*=`)

// decodeBackends decodes the backend blocks of the oauthform block.
// statePath is its state_path attribute, nil when absent: the two exclude
// each other, since each says where the state is.
func (l *loader) decodeBackends(blocks []*hcl.Block, statePath *hcl.Attribute) {
	var first *hcl.Block
	for _, b := range blocks {
		if first != nil {
			l.diags = append(l.diags, errorAt(b.DefRange, "Duplicate backend block",
				"A backend block was already declared at %s. The state lives in one place: keep one backend block.", pos(first.DefRange)))
			continue
		}
		first = b
		typ := b.Labels[0]
		schema, known := backendSchemas[typ]
		if !known {
			detail := fmt.Sprintf("There is no backend %q.", typ)
			switch sug := suggest(typ, []string{BackendLocal, BackendPG}); {
			case sug != "":
				detail += fmt.Sprintf(" Did you mean %q?", sug)
			case strings.HasPrefix(strings.ToLower(typ), "postgres"):
				detail += ` PostgreSQL's backend is called "pg".`
			}
			detail += ` The backends are "local" (a file, the default) and "pg" (PostgreSQL, for state shared by a team).`
			l.diags = append(l.diags, errorAt(b.LabelRanges[0], "Unknown backend type", "%s", detail))
			continue
		}
		be := &Backend{Type: typ, DeclRange: b.DefRange, TypeRange: b.LabelRanges[0]}
		content, diags := b.Body.Content(schema)
		l.diags = append(l.diags, diags...)
		ok := !diags.HasErrors()
		switch typ {
		case BackendLocal:
			ok = l.decodeLocalBackend(be, content) && ok
		case BackendPG:
			ok = l.decodePGBackend(b, be, content) && ok
		}
		if statePath != nil {
			what := fmt.Sprintf("The backend %q block at %s keeps the state in PostgreSQL, so state_path, which names a local state file, has no meaning. Remove state_path.",
				typ, pos(b.DefRange))
			if typ == BackendLocal {
				what = fmt.Sprintf("state_path and the backend \"local\" block at %s both say where the state file is. Keep one: move the path into the block as path = \"...\", or remove the block.",
					pos(b.DefRange))
			}
			d := errorAt(statePath.NameRange, "Conflicting state settings", "%s", what)
			d.Context = hcl.RangeOver(statePath.Range, b.DefRange).Ptr()
			l.diags = append(l.diags, d)
			ok = false
		}
		if ok {
			l.cfg.Settings.Backend = be
		}
	}
}

// decodeLocalBackend decodes backend "local" { path = "..." }, the
// explicit form of state_path.
func (l *loader) decodeLocalBackend(be *Backend, content *hcl.BodyContent) bool {
	attr, present := content.Attributes["path"]
	if !present {
		return true
	}
	s, set, ok := l.attrString(attr, false)
	if !ok {
		return false
	}
	if !set {
		return true
	}
	if s == "" {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid value",
			"path must not be empty; leave it out for the default %s.", DefaultStatePath))
		return false
	}
	be.Path = s
	l.cfg.Settings.StatePath = s
	return true
}

// decodePGBackend decodes backend "pg" { conn_str = ... schema_name = ... }.
func (l *loader) decodePGBackend(b *hcl.Block, be *Backend, content *hcl.BodyContent) bool {
	ok := true
	be.Schema = DefaultPGSchema
	if attr, present := content.Attributes["schema_name"]; present {
		s, set, valid := l.attrString(attr, false)
		switch {
		case !valid:
			ok = false
		case set && !pgIdentRE.MatchString(s):
			l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid schema_name",
				"schema_name must be a PostgreSQL identifier of at most 63 characters: lower-case letters, digits and underscores, not starting with a digit; %q is not. Leave it out for the default %q.",
				s, DefaultPGSchema))
			ok = false
		case set && strings.HasPrefix(s, "pg_"):
			l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid schema_name",
				"Schema names starting with \"pg_\" are reserved by PostgreSQL for its system schemas; choose another, or leave it out for the default %q.", DefaultPGSchema))
			ok = false
		case set:
			be.Schema = s
		}
	}
	attr, present := content.Attributes["conn_str"]
	if !present {
		l.diags = append(l.diags, errorAt(b.Body.MissingItemRange(), "Missing required argument",
			"The argument \"conn_str\" is required: the backend \"pg\" needs the PostgreSQL connection string, such as postgres://USER@HOST:5432/DB?sslmode=verify-full. "+
				"It holds a password, so keep it out of the file: conn_str = env(\"OAUTHFORM_PG\")."))
		return false
	}
	s, set, valid := l.attrString(attr, true)
	if !valid {
		return false
	}
	if !set || strings.TrimSpace(s) == "" {
		l.diags = append(l.diags, errorAt(attr.Expr.Range(), "Invalid value",
			"conn_str must not be null or empty: give the PostgreSQL connection string, for example with conn_str = env(\"OAUTHFORM_PG\") and that environment variable set."))
		return false
	}
	l.secrets = append(l.secrets, s)
	if !looksLikeConnStr(s) {
		// The value is not quoted: it may hold a password.
		d := errorAt(attr.Expr.Range(), "Invalid conn_str",
			"conn_str is not a PostgreSQL connection string: give a URL (postgres://USER@HOST:5432/DB) or keyword/value pairs (host=HOST dbname=DB user=USER). Its value is not shown: it may hold a password.")
		markSensitive(d)
		l.diags = append(l.diags, d)
		return false
	}
	if _, isLit := literalString(attr.Expr); isLit && connStrHasPassword(s) {
		// The subject is the block: the snippet of the attribute would
		// show the password.
		l.diags = append(l.diags, warningAt(b.DefRange, "Password in the configuration",
			"The conn_str of this backend is written in the file and holds a password, which would end up in git with the configuration. "+
				"Read it from the environment instead, conn_str = env(\"OAUTHFORM_PG\"), or leave the password out and let PostgreSQL find it (PGPASSWORD, ~/.pgpass)."))
	}
	be.ConnStr = secret.New(s)
	return ok
}

// looksLikeConnStr tells a PostgreSQL connection string, URL or
// keyword/value form, from something else (a file name, a host name).
func looksLikeConnStr(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") || strings.Contains(s, "=")
}

// connStrHasPassword reports whether a connection string carries a
// password: user:password@ in a URL, or a password keyword or parameter.
func connStrHasPassword(s string) bool {
	s = strings.TrimSpace(s)
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			authority, _, _ := strings.Cut(rest, "/")
			authority, _, _ = strings.Cut(authority, "?")
			if at := strings.LastIndex(authority, "@"); at >= 0 && strings.Contains(authority[:at], ":") {
				return true
			}
		}
	}
	return passwordKeyRE.MatchString(s)
}

// ValidPGSchema reports whether s can be a pg backend's schema_name: an
// unquoted, lower-case PostgreSQL identifier of at most 63 bytes, not
// starting with the reserved "pg_".
func ValidPGSchema(s string) bool {
	return pgIdentRE.MatchString(s) && !strings.HasPrefix(s, "pg_")
}
