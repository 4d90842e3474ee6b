package apply

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// CheckOutcome is what checking one connection's grant found.
type CheckOutcome struct {
	Conn string
	// Checked: the check call was made and the provider answered it
	// (Check says how); false with Skipped or Err set.
	Checked bool
	Check   plan.Check
	// Skipped says why the connection was not checked ("": it was).
	Skipped string
	// Err is a check that could not tell (network, 5xx, no client).
	Err error
}

// Checker calls the check_url of connected connections (plan -check,
// refresh -check): a grant the provider no longer accepts answers 401.
// It sends one request per connection with a valid access token, at most
// Parallelism at once, and writes nothing.
type Checker struct {
	Config *config.Config
	// NewClient builds the provider client of an app.
	NewClient func(app *config.App) (*providers.Client, error)
	// Parallelism bounds the checks in flight (0: 10).
	Parallelism int
}

// Check checks the connections names of snap (every recorded one when
// names is empty) at now and returns their outcomes sorted by name.
func (c *Checker) Check(ctx context.Context, snap *state.Snapshot, names []string, now time.Time) []CheckOutcome {
	if len(names) == 0 {
		for n := range snap.Records {
			names = append(names, n)
		}
	}
	par := c.Parallelism
	if par <= 0 {
		par = 10
	}
	slots := make(chan struct{}, par)
	out := make([]CheckOutcome, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		out[i] = CheckOutcome{Conn: name}
		conn, rec := c.Config.Connections[name], snap.Records[name]
		if out[i].Skipped = checkSkip(conn, rec, now); out[i].Skipped != "" {
			continue
		}
		wg.Add(1)
		go func(o *CheckOutcome) {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				o.Err = ctx.Err()
				return
			}
			defer func() { <-slots }()
			c.checkOne(ctx, o, conn, rec)
		}(&out[i])
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Conn < out[j].Conn })
	return out
}

// checkSkip says why a connection is not checked ("": it is).
func checkSkip(conn *config.Connection, rec *state.Record, now time.Time) string {
	switch {
	case rec == nil:
		return "not connected"
	case conn == nil || conn.App == nil:
		return "not declared"
	case rec.Sealed:
		return "its tokens are sealed and no passphrase was given"
	case rec.Status == state.StatusNeedsReconnect:
		return "already needs a reconnect"
	case rec.Access.IsZero():
		return "no access token"
	case !rec.Expiry.IsZero() && !now.Before(rec.Expiry):
		return "the access token has expired: a refresh renews it, the check would prove nothing"
	}
	return ""
}

func (c *Checker) checkOne(ctx context.Context, o *CheckOutcome, conn *config.Connection, rec *state.Record) {
	client, err := c.NewClient(conn.App)
	if err != nil {
		o.Err = err
		return
	}
	if err := client.DiscoverCached(ctx, cachedEndpoints(rec)); err != nil {
		o.Err = err
		return
	}
	if client.Profile.CheckURL == "" {
		o.Skipped = "the provider " + client.Profile.Name + " has no check_url"
		return
	}
	id, err := client.Check(ctx, rec.Access)
	var pe *providers.Error
	switch {
	case err == nil:
		o.Checked, o.Check = true, plan.Check{Status: 200, Meta: metaDrift(client.Profile.Metadata, rec.Meta, id.Value)}
	case errors.As(err, &pe) && pe.Kind == providers.KindInvalidToken:
		o.Checked, o.Check = true, plan.Check{Revoked: true, Status: pe.Status}
	default:
		o.Err = err
	}
}

// metaDrift compares the record's metadata lists of objects with ids
// (Burner's connected_burners) with the check's answer, a list of the
// account's objects with ids: an entry whose id the provider no longer
// lists is gone (a burner deleted or disconnected). It returns, for each
// field that changed, the list without the gone entries; nil when none
// changed or the answer is not such a list.
func metaDrift(fields []string, meta map[string]any, answer any) map[string]any {
	list, ok := answer.([]any)
	if !ok {
		return nil
	}
	live := map[string]bool{}
	for _, v := range list {
		if id, ok := objectID(v); ok {
			live[id] = true
		}
	}
	var out map[string]any
	for _, f := range fields {
		entries, ok := meta[f].([]any)
		if !ok {
			continue
		}
		kept := []any{}
		for _, e := range entries {
			if id, ok := objectID(e); !ok || live[id] {
				kept = append(kept, e)
			}
		}
		if len(kept) != len(entries) {
			if out == nil {
				out = map[string]any{}
			}
			out[f] = kept
		}
	}
	return out
}

// objectID is the "id" of a JSON object, as text.
func objectID(v any) (string, bool) {
	m, ok := v.(map[string]any)
	if !ok || m["id"] == nil {
		return "", false
	}
	return fmt.Sprint(m["id"]), true
}
