package command

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
)

// ConfigCacheEnv turns the configuration cache off ("off") for a command;
// "" and "on" leave it on.
const ConfigCacheEnv = "OAUTHFORM_CONFIG_CACHE"

// configCachePath is where the configuration cache (config.LoadCached)
// is kept, beside the index; validate's, which loads without secrets,
// has its own file.
const configCachePath = ".oauthform/config-cache"

// configCache returns the cache options of a load (validate: for
// `oauthform validate`); ok is false when the cache is off.
func (g *globals) configCache(validate bool) (opts config.CacheOptions, ok bool, diags hcl.Diagnostics) {
	switch v := os.Getenv(ConfigCacheEnv); v {
	case "", "on":
	case "off":
		return opts, false, nil
	default:
		return opts, false, errDiag("Invalid environment", fmt.Sprintf(
			"%s is %q; it takes \"off\" (load every configuration file in full) or \"on\" (the default).", ConfigCacheEnv, v))
	}
	opts.Path = configCachePath
	if validate {
		opts.Path += "-validate"
	}
	opts.Build = g.buildIdentity()
	return opts, true, nil
}

// buildIdentity identifies this oauthform binary for the cache: its
// version and revision, and its executable's size and modification
// time, which a rebuild changes even when the version does not (a
// development build).
func (g *globals) buildIdentity() string {
	id := g.version + " " + g.revision
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			id += fmt.Sprintf(" %s %d %d", exe, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return id
}

// writeConfigCache writes the configuration cache a full load left for
// the end of the command. Failing only costs the next command a full load.
func writeConfigCache(g *globals) {
	if g.cacheAfter == nil {
		return
	}
	if err := state.MakeDir(filepath.Dir(configCachePath)); err != nil {
		g.log.Debug("configuration cache not written", "error", err)
		return
	}
	if err := g.cacheAfter.Write(); err != nil {
		g.log.Debug("configuration cache not written", "error", err)
	}
}

// configIndexPath is where the configuration index (config.Index) is
// kept: in the configuration directory's state folder, which ignores
// itself in git.
const configIndexPath = ".oauthform/config-index.json"

// writeConfigIndex indexes cfg, loaded in full without errors, for the
// next command that needs one connection. It is a cache: failing to write
// it only costs the next command a full load.
func writeConfigIndex(g *globals, cfg *config.Config) {
	if cfg == nil {
		return
	}
	idx := config.NewIndex(cfg)
	if idx == nil {
		return
	}
	if err := state.MakeDir(filepath.Dir(configIndexPath)); err != nil {
		g.log.Debug("configuration index not written", "error", err)
		return
	}
	if err := config.WriteIndex(configIndexPath, idx); err != nil {
		g.log.Debug("configuration index not written", "error", err)
	}
}
