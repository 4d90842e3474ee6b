package command

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
			want: planArgs{lock: true, parallelism: 10},
		},
		"check": {
			args: []string{"-check", "-parallelism=3"},
			want: planArgs{lock: true, check: true, parallelism: 3},
		},
		"bad parallelism": {args: []string{"-parallelism=0"}, wantErr: "Invalid -parallelism"},
		"everything": {
			args: []string{"-out=p.plan", "-json", "-detailed-exitcode", "-target=a", "-target", "b",
				"-refresh-only", "-lock=false", "-lock-timeout=30s", "-var", "x=1", "-var-file=v.hcl"},
			want: planArgs{out: "p.plan", json: true, detailedExitcode: true, targets: []string{"a", "b"},
				mode: plan.RefreshOnly, lockTimeout: 30 * time.Second, parallelism: 10,
				vars: varFlags{vars: multiFlag{"x=1"}, varFiles: multiFlag{"v.hcl"}}},
		},
		"destroy":            {args: []string{"-destroy"}, want: planArgs{lock: true, mode: plan.Destroy, parallelism: 10}},
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

func TestParseFlagsInterleaved(t *testing.T) {
	tests := map[string]struct {
		args     []string
		wantJSON bool
		wantVars []string
		wantPos  []string
	}{
		"flags first":       {args: []string{"-json", "a"}, wantJSON: true, wantPos: []string{"a"}},
		"flags after":       {args: []string{"a", "-json"}, wantJSON: true, wantPos: []string{"a"}},
		"flags between":     {args: []string{"a", "-var", "x=1", "b", "-json", "c"}, wantJSON: true, wantVars: []string{"x=1"}, wantPos: []string{"a", "b", "c"}},
		"value not a name":  {args: []string{"-var", "x=1", "a"}, wantVars: []string{"x=1"}, wantPos: []string{"a"}},
		"double dash":       {args: []string{"a", "--", "-json", "b"}, wantPos: []string{"a", "-json", "b"}},
		"lone dash":         {args: []string{"-", "-json"}, wantJSON: true, wantPos: []string{"-"}},
		"no positional":     {args: []string{"-json"}, wantJSON: true},
		"nothing":           {},
		"repeated flag set": {args: []string{"a", "-var=x=1", "b", "-var=y=2"}, wantVars: []string{"x=1", "y=2"}, wantPos: []string{"a", "b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fs := newFlagSet("show")
			asJSON := fs.Bool("json", false, "")
			var vf varFlags
			vf.register(fs)
			help, diags := parseFlags(fs, tc.args, "help")
			if help || diags.HasErrors() {
				t.Fatalf("parseFlags(%q) = help %v, diags %v", tc.args, help, diags)
			}
			if *asJSON != tc.wantJSON {
				t.Errorf("-json = %v, want %v", *asJSON, tc.wantJSON)
			}
			if d := cmp.Diff(tc.wantVars, []string(vf.vars), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("-var (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantPos, fs.Args(), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("fs.Args() (-want +got):\n%s", d)
			}
		})
	}
	t.Run("help after a name", func(t *testing.T) {
		fs := newFlagSet("show")
		if help, _ := parseFlags(fs, []string{"a", "-help"}, "help"); !help {
			t.Error("-help after a positional argument was not seen")
		}
	})
	t.Run("unknown flag after a name", func(t *testing.T) {
		fs := newFlagSet("show")
		if _, diags := parseFlags(fs, []string{"a", "-jsno"}, "help"); !diags.HasErrors() || diags[0].Summary != "Invalid command line" {
			t.Errorf("diags = %v, want Invalid command line", diags)
		}
	})
}

// TestPositionalThenFlags: the commands that take names accept their flags
// after them.
func TestPositionalThenFlags(t *testing.T) {
	ta, _, diags := parseTokenArgs([]string{"sms_main", "-json", "-min-valid=5m"})
	if diags.HasErrors() || ta.conn != "sms_main" || !ta.json || ta.minValid != 5*time.Minute {
		t.Errorf("parseTokenArgs = %+v, %v", ta, diags)
	}
	ta, _, diags = parseTokenArgs([]string{"-json", "sms_main", "-header"})
	if !diags.HasErrors() || diags[0].Summary != "Incompatible options" {
		t.Errorf("token -json NAME -header: diags = %v, want Incompatible options", diags)
	}
	if _, _, diags = parseTokenArgs([]string{"a", "-json", "b"}); !diags.HasErrors() || diags[0].Summary != "Unexpected argument" {
		t.Errorf("token a -json b: diags = %v, want Unexpected argument", diags)
	}
	a, _, diags := parseOpArgs("apply", []string{"-auto-approve", "saved.plan", "-parallelism=3"})
	if diags.HasErrors() || a.planFile != "saved.plan" || !a.autoApprove || a.parallelism != 3 {
		t.Errorf("parseOpArgs = %+v, %v", a, diags)
	}
	eo, _, diags := parseEmulateArgs([]string{"-auto-approve", "sms77", "-latency=1ms"})
	if diags.HasErrors() || eo.provider != "sms77" || !eo.opts.AutoApprove {
		t.Errorf("parseEmulateArgs = %+v, %v", eo, diags)
	}
}
