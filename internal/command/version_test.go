package command

import (
	"runtime/debug"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	clone := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	installed := &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}}
	for _, tc := range []struct {
		name                 string
		ldVersion, ldRev     string
		info                 *debug.BuildInfo
		ok                   bool
		wantVersion, wantRev string
	}{
		{"go build in a clone", "", "", clone, true, DevVersion, "abc123-dirty"},
		{"go install @v0.3.1", "", "", installed, true, "0.3.1", ""},
		{"release build (-ldflags)", "v1.0.0", "def456", clone, true, "1.0.0", "def456"},
		{"ldflags revision unknown", "1.0.0", "none", clone, true, "1.0.0", "abc123-dirty"},
		{"no build info", "", "", nil, false, DevVersion, ""},
	} {
		v, r := BuildVersion(tc.ldVersion, tc.ldRev, tc.info, tc.ok)
		if v != tc.wantVersion || r != tc.wantRev {
			t.Errorf("%s: got %q %q, want %q %q", tc.name, v, r, tc.wantVersion, tc.wantRev)
		}
	}
}
