package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
)

// A grant obtained outside oauthform (here: issued by the emulator, as a
// token response) is imported: the next plan shows no change, a forced
// refresh works with the imported refresh token, and the provider sees no
// reused refresh token. A second import needs Replace.
func TestImport(t *testing.T) {
	w := newWorld(t)
	conns := `
connection "c" {
  app = app.sms77
  scopes = ["sms", "analytics"]
}
`
	if err := os.WriteFile(filepath.Join(w.dir, "main.oauth.hcl"), []byte(w.providerBlocks()+conns), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(w.dir, config.Inputs{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	emu := w.emus["sms77"]
	ts, err := emu.IssueTokens("id-sms77", []string{"sms", "analytics"})
	if err != nil {
		t.Fatal(err)
	}
	conn := cfg.Connections["c"]
	client := &providers.Client{Profile: cfg.Providers["sms77"], ClientID: "id-sms77", ClientSecret: conn.App.ClientSecret,
		RedirectURI: redirect, Now: func() time.Time { return w.now }}
	ctx := context.Background()
	imp := func(doc string, replace bool) (*ImportResult, error) {
		tok, err := client.ImportToken(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		return Import(ctx, w.store, ImportRequest{Conn: "c", Connection: conn, Client: client, Token: tok,
			Replace: replace, Dir: w.dir, Now: w.now})
	}
	doc := fmt.Sprintf(`{"access_token":%q,"refresh_token":%q,"token_type":"Bearer","expires_in":3600}`, ts.AccessToken, ts.RefreshToken)
	res, err := imp(doc, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.ScopesAssumed || res.Replaced || strings.Join(res.Record.GrantedScopes, " ") != "sms analytics" {
		t.Errorf("result = %+v; want the declared scopes assumed granted", res)
	}
	snap, err := w.store.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, diags := plan.Diff(cfg, snap, w.now, plan.Options{})
	if diags.HasErrors() || len(p.Actions) != 0 {
		t.Fatalf("plan after import: %s %v; want no change", kinds(p), diags)
	}

	r := &Refresher{Store: w.store, Now: func() time.Time { return w.now }}
	got, err := r.Ensure(ctx, "c", client, 2*time.Hour)
	if err != nil || !got.Refreshed {
		t.Fatalf("forced refresh of the imported grant: %+v, %v", got, err)
	}
	if st := emu.Stats(); st.Refreshes != 1 || st.Rejections != 0 {
		t.Errorf("emulator stats %+v; want one refresh, no rejection", st)
	}

	if _, err := imp(doc, false); !errors.Is(err, ErrAlreadyConnected) {
		t.Errorf("import over a connected record: %v, want ErrAlreadyConnected", err)
	}
	ts2, err := emu.IssueTokens("id-sms77", []string{"sms"})
	if err != nil {
		t.Fatal(err)
	}
	res, err = imp(fmt.Sprintf(`{"access_token":%q,"refresh_token":%q,"expires_in":3600,"scope":"sms"}`, ts2.AccessToken, ts2.RefreshToken), true)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Replaced || res.ScopesAssumed || res.Record.Access.Reveal() != ts2.AccessToken {
		t.Errorf("replace: %+v", res)
	}
	stored, err := w.store.Get(ctx, "c")
	if err != nil || stored.Access.Reveal() != ts2.AccessToken || strings.Join(stored.GrantedScopes, " ") != "sms" {
		t.Errorf("stored after replace: %+v, %v", stored, err)
	}
}

// git's erase after a refused password marks the current token expired
// (the next get refreshes it); an older password changes nothing.
func TestMarkRejected(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC))
	st := f.store(t)
	ctx := context.Background()
	rec, err := st.Get(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if marked, err := MarkRejected(ctx, st, "c", secret.New("an-older-token"), f.now); err != nil || marked {
		t.Errorf("another password: marked %v, %v", marked, err)
	}
	marked, err := MarkRejected(ctx, st, "c", rec.Access, f.now)
	if err != nil || !marked {
		t.Fatalf("the current token: marked %v, %v", marked, err)
	}
	after, err := st.Get(ctx, "c")
	if err != nil || !after.Expiry.Equal(f.now) || after.LastError == nil || after.Refresh.IsZero() {
		t.Fatalf("record after erase: %+v, %v", after, err)
	}
	res, err := f.refresher(t).Ensure(ctx, "c", f.client, time.Minute)
	if err != nil || !res.Refreshed || res.Record.Access.Equal(rec.Access) || res.Record.LastError != nil {
		t.Errorf("the next get: %+v, %v; want a refresh with a new token", res, err)
	}
}
