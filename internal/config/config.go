// Package config turns a directory of *.oauth.hcl files into a typed,
// validated Config. Load is the entry point: it parses every file in lexical
// order with one hclparse.Parser, decodes in phases (top-level structure,
// variables, then providers, apps and connections with an EvalContext that
// offers var.*, env(), file() and go-cty's stdlib), and reports every problem
// at once as hcl.Diagnostics with file:line:col. LoadFiles does the same for
// a given list of files, and Format is the canonical formatter behind
// `oauthform fmt`.
package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
)

// FileSuffix is the suffix of configuration files.
const FileSuffix = ".oauth.hcl"

// DefaultStatePath is the state location relative to the configuration
// directory when the oauthform block does not set state_path.
const DefaultStatePath = ".oauthform/state.db"

// Backend types of the oauthform block's backend "TYPE" block.
const (
	// BackendLocal is the state in a local bbolt file, the default.
	BackendLocal = "local"
	// BackendPG is the state in a PostgreSQL database, shared by a team.
	BackendPG = "pg"
)

// DefaultPGSchema is the PostgreSQL schema of the pg backend when its
// block does not set schema_name.
const DefaultPGSchema = "oauthform"

// DefaultRefreshBefore is a connection's refresh margin when it sets none.
const DefaultRefreshBefore = 10 * time.Minute

// DefaultUsername is the user name git's credential helper answers with
// a token when the connection sets none: the convention of git hosts
// that take OAuth tokens as passwords (GitLab, Bitbucket, Gitea).
const DefaultUsername = "oauth2"

// Config is a loaded, validated configuration. Invariant: when Load returns
// no error diagnostics, every App has a Profile that passed Validate, every
// Connection points at an App of this Config, and every name is unique.
type Config struct {
	// Dir is the directory the files were read from.
	Dir string
	// Settings from the oauthform block.
	Settings Settings
	// Variables by name, with their resolved values.
	Variables map[string]*Variable
	// Providers by name: every built-in plus those declared or overridden
	// in provider blocks.
	Providers map[string]*providers.Profile
	// Apps by name.
	Apps map[string]*App
	// Connections by name.
	Connections map[string]*Connection

	files map[string]*hcl.File
	// sources are the configuration files' names, in order (files also
	// holds -var-file files).
	sources []string
	// index, once known (the connections came from the cache, or a new
	// cache was encoded), is where every block is; with the cache, files
	// holds only the other blocks.
	index *Index
	// issuers holds where each provider block sets its issuer.
	issuers map[string]hcl.Range
}

// IssuerRange returns where provider name's block sets its issuer, for
// diagnostics about its discovery.
func (c *Config) IssuerRange(name string) (hcl.Range, bool) {
	r, ok := c.issuers[name]
	return r, ok
}

// Files returns the parsed source files by name, for rendering diagnostics
// with source snippets (hcl.NewDiagnosticTextWriter).
func (c *Config) Files() map[string]*hcl.File { return c.files }

// Settings is the oauthform block.
type Settings struct {
	// StatePath is the state file of the local backend, relative to Dir
	// unless absolute: state_path, or the path of a backend "local" block,
	// or DefaultStatePath. It is set, and unused, with the pg backend.
	StatePath string
	// Backend is the backend block; nil when there is none, which means
	// the local backend at StatePath.
	Backend *Backend
	// Encryption is nil when tokens are not sealed at rest.
	Encryption *Encryption
	// GiveUpAfter is how long transient refresh failures last before a
	// connection is marked failing, for every connection that sets none
	// (give_up_after; 0: DefaultGiveUpAfter).
	GiveUpAfter time.Duration
	// OnFailure is a program and its arguments (on_failure; nil: none),
	// run without a shell once per connection that becomes failing or
	// needs_reconnect during a refresh.
	OnFailure []string
	DeclRange hcl.Range
}

// DefaultGiveUpAfter is how long transient refresh failures last before a
// connection is marked failing when give_up_after is set nowhere.
const DefaultGiveUpAfter = 96 * time.Hour

// Backend is the oauthform.backend "TYPE" block: where the state lives.
// state_path and a backend block exclude each other.
type Backend struct {
	// Type is BackendLocal or BackendPG.
	Type string
	// Path is the local backend's path as written ("" for the default);
	// Settings.StatePath holds the one to use.
	Path string
	// ConnStr is the pg backend's connection string (URL or keyword/value
	// form). It may hold a password: it is a Secret, may come from a
	// sensitive variable, and is never printed.
	ConnStr secret.Secret
	// Schema is the pg backend's schema (schema_name), DefaultPGSchema
	// unless set; a valid unquoted PostgreSQL identifier.
	Schema string
	// DeclRange is the block header; TypeRange its label.
	DeclRange hcl.Range
	TypeRange hcl.Range
}

// VariableSource says where a variable's value came from, for messages.
type VariableSource string

// Variable sources, from highest to lowest precedence.
const (
	SourceCLI     VariableSource = "-var"
	SourceVarFile VariableSource = "-var-file"
	SourceEnv     VariableSource = "environment (OAUTHFORM_VAR_*)"
	SourceDefault VariableSource = "default"
)

// Variable is a declared variable and its resolved value.
type Variable struct {
	Name        string
	Type        cty.Type
	Sensitive   bool
	Description string
	// Value is the resolved value, unmarked: check Sensitive before
	// printing it. cty.NilVal when none could be found (which is an error
	// diagnostic), or, with Inputs.Validate, an unknown value of Type for
	// a sensitive variable with no value (Source is then "").
	Value     cty.Value
	Source    VariableSource
	DeclRange hcl.Range
}

// App is a registered OAuth application.
type App struct {
	Name string
	// Provider is the provider name as written; Profile is its resolved
	// profile (shared by every app of that provider, do not modify).
	Provider     string
	Profile      *providers.Profile
	ClientID     string
	ClientSecret secret.Secret
	// RedirectURI is empty only when every connection of the app uses a
	// grant without a browser callback (device_code, client_credentials).
	RedirectURI string
	// DeclRange is the block header; NameRange its label.
	DeclRange hcl.Range
	NameRange hcl.Range
}

// Connection is one grant the configuration needs.
type Connection struct {
	Name string
	// App is nil only when Load reported an error for the reference.
	App *App
	// Scopes as declared, order kept, duplicates removed; never nil.
	Scopes []string
	// Params are extra authorize parameters; never nil.
	Params map[string]string
	// RefreshBefore is the refresh margin (DefaultRefreshBefore if unset).
	RefreshBefore time.Duration
	// TokenLifetime is the lifetime to assume for an access token whose
	// answer says none (token_lifetime); zero means the provider's
	// (providers.Profile.AssumedLifetime).
	TokenLifetime time.Duration
	// Grant is how the connection is obtained (grant; default
	// providers.GrantAuthorizationCode). Load has checked, offline, that
	// the provider offers it: a device_code provider has a device
	// endpoint or an issuer, a client_credentials app is confidential.
	Grant providers.Grant
	// KeepAlive refreshes a token whose refresh token has not been used
	// for that long (keep_alive; 0: the provider's KeepAlive), for
	// providers that expire idle refresh tokens.
	KeepAlive time.Duration
	// GiveUpAfter is the connection's give_up_after (0: the oauthform
	// block's); see EffectiveGiveUpAfter.
	GiveUpAfter time.Duration
	// Username is what `oauthform credential git` answers as the user
	// name beside the token (username; DefaultUsername if unset).
	Username string
	// DeclRange is the block header; NameRange its label.
	DeclRange hcl.Range
	NameRange hcl.Range
}

// EffectiveKeepAlive is the connection's keep_alive, else its provider's
// (0: a refresh token is never refreshed for idleness alone).
func (c *Connection) EffectiveKeepAlive() time.Duration {
	if c.KeepAlive > 0 {
		return c.KeepAlive
	}
	if c.App != nil && c.App.Profile != nil {
		return c.App.Profile.KeepAlive
	}
	return 0
}

// EffectiveGiveUpAfter is how long the transient refresh failures of
// connection c last before it is marked failing: its give_up_after, else
// the oauthform block's, else DefaultGiveUpAfter.
func (c *Config) EffectiveGiveUpAfter(conn *Connection) time.Duration {
	if conn != nil && conn.GiveUpAfter > 0 {
		return conn.GiveUpAfter
	}
	if c != nil && c.Settings.GiveUpAfter > 0 {
		return c.Settings.GiveUpAfter
	}
	return DefaultGiveUpAfter
}

// Inputs are the values given to Load from outside the files.
type Inputs struct {
	// Vars are -var NAME=VALUE flags in command-line order (later wins).
	Vars []string
	// VarFiles are -var-file paths in command-line order (later wins),
	// relative to the working directory of the process.
	VarFiles []string
	// Environ is the process environment as KEY=VALUE (OAUTHFORM_VAR_* and
	// env()); nil means os.Environ().
	Environ []string
	// Validate loads for `oauthform validate`, which must work without
	// secrets (CI validates with none): a sensitive variable that has no
	// value is unknown rather than an error. Type checks still apply to
	// the expressions that use it; checks of its value are skipped. plan,
	// apply and every other command leave it false and require a value.
	Validate bool
}
