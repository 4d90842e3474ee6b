package apply

import "testing"

func TestHasSettingsBlock(t *testing.T) {
	for src, want := range map[string]bool{
		"oauthform {\n  state_path = \"x\"\n}\n":       true,
		"  oauthform{\n}":                              true,
		"app \"a\" {}\n\toauthform   {\n}":             true,
		"# oauthform {\n":                              false,
		"connection \"oauthform\" {}\n":                false,
		"variable \"x\" { default = \"oauthform\" }\n": false,
		"oauthform_x {\n":                              false,
		"":                                             false,
	} {
		if got := hasSettingsBlock([]byte(src)); got != want {
			t.Errorf("hasSettingsBlock(%q) = %v, want %v", src, got, want)
		}
	}
}
