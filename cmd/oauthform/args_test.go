package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/oauthform/oauthform/internal/plan"
)

func TestParsePlanArgs(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    planArgs
		wantErr string
	}{
		"defaults": {
			want: planArgs{lock: true},
		},
		"everything": {
			args: []string{"-out=p.plan", "-json", "-detailed-exitcode", "-target=a", "-target", "b",
				"-refresh-only", "-lock=false", "-lock-timeout=30s", "-var", "x=1", "-var-file=v.hcl"},
			want: planArgs{out: "p.plan", json: true, detailedExitcode: true, targets: []string{"a", "b"},
				mode: plan.RefreshOnly, lockTimeout: 30 * time.Second,
				vars: varFlags{vars: multiFlag{"x=1"}, varFiles: multiFlag{"v.hcl"}}},
		},
		"destroy":            {args: []string{"-destroy"}, want: planArgs{lock: true, mode: plan.Destroy}},
		"bad lock timeout":   {args: []string{"-lock-timeout=soon"}, wantErr: "Invalid -lock-timeout"},
		"negative timeout":   {args: []string{"-lock-timeout=-1s"}, wantErr: "Invalid -lock-timeout"},
		"positional":         {args: []string{"sms_main"}, wantErr: "Unexpected argument"},
		"unknown flag":       {args: []string{"-tagret=x"}, wantErr: "Invalid command line"},
		"destroy and others": {args: []string{"-destroy", "-refresh-only"}, wantErr: "Incompatible options"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, help, diags := parsePlanArgs(tc.args)
			if help {
				t.Fatal("help reported")
			}
			if tc.wantErr != "" {
				if !diags.HasErrors() || diags[0].Summary != tc.wantErr {
					t.Fatalf("diags = %v, want summary %q", diags, tc.wantErr)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("unexpected diags: %v", diags)
			}
			if d := cmp.Diff(tc.want, *got, cmp.AllowUnexported(planArgs{}, varFlags{}), cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("parsePlanArgs(%q) (-want +got):\n%s", tc.args, d)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 10 * time.Minute: "10m", 90 * time.Minute: "1h30m", 45 * time.Second: "45s",
		7*24*time.Hour + 2*time.Hour: "7d2h", -5 * time.Minute: "-5m", 500 * time.Millisecond: "500ms",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
