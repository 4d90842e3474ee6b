package credential

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

func TestReadGitRequest(t *testing.T) {
	in := "protocol=https\r\nhost=example.test\nwwwauth[]=Basic\nwwwauth[]=\ncapability[]=authtype\nfuture_key=whatever\npassword=p=ss\n\nafter=ignored\n"
	req, err := ReadGitRequest(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"protocol": "https", "host": "example.test", "future_key": "whatever", "password": "p=ss",
		"wwwauth[]": "", "capability[]": "authtype", "after": "",
	} {
		if got := req.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if req.Password().Reveal() != "p=ss" {
		t.Error("Password()")
	}
	if _, err := ReadGitRequest(strings.NewReader("host=x\nsecret-token-value\n")); err == nil || strings.Contains(err.Error(), "secret-token-value") {
		t.Errorf("a line without '=': %v", err)
	}
}

func TestGitCredentialWrite(t *testing.T) {
	var b bytes.Buffer
	exp := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	if err := (&GitCredential{Username: "oauth2", Password: secret.New("tok"), Expiry: exp}).Write(&b); err != nil {
		t.Fatal(err)
	}
	if want := "username=oauth2\npassword=tok\npassword_expiry_utc=1796302800\n"; b.String() != want {
		t.Errorf("answer %q, want %q", b.String(), want)
	}
	for _, c := range []GitCredential{
		{Username: "a\nb", Password: secret.New("tok")},
		{Username: "oauth2", Password: secret.New("to\nk")},
		{Username: "oauth2"},
	} {
		if err := c.Write(&bytes.Buffer{}); err == nil || strings.Contains(err.Error(), "to\nk") {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestExecCredential(t *testing.T) {
	for info, want := range map[string]string{
		"": KubeV1,
		`{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}`: KubeV1beta1,
		`{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":true}}`:       KubeV1,
	} {
		got, err := KubeAPIVersion(info)
		if err != nil || got != want {
			t.Errorf("KubeAPIVersion(%s) = %q, %v; want %q", info, got, err, want)
		}
	}
	if _, err := KubeAPIVersion(`{"apiVersion":"client.authentication.k8s.io/v1alpha1"}`); err == nil {
		t.Error("v1alpha1 accepted")
	}
	exp := time.Date(2026, 12, 3, 13, 0, 0, 0, time.FixedZone("x", 3600))
	b, err := ExecCredential(KubeV1beta1, secret.New("tok"), exp)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kind, APIVersion string
		Status           struct{ Token, ExpirationTimestamp string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "ExecCredential" || doc.APIVersion != KubeV1beta1 || doc.Status.Token != "tok" || doc.Status.ExpirationTimestamp != "2026-12-03T12:00:00Z" {
		t.Errorf("ExecCredential = %s", b)
	}
}

func TestCurlConfig(t *testing.T) {
	got, err := CurlConfig("", secret.New(`a"b\c`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `header = "Authorization: Bearer a\"b\\c"` + "\n"; got != want {
		t.Errorf("CurlConfig = %q, want %q", got, want)
	}
	if _, err := CurlConfig("Bearer", secret.New("a\nb")); err == nil {
		t.Error("a token with a newline was accepted")
	}
}

func TestEnv(t *testing.T) {
	got := Env([]string{"PATH=/bin", "OAUTHFORM_TOKEN=stale", "HOME=/h"}, map[string]string{"OAUTHFORM_TOKEN": "fresh"})
	if strings.Join(got, " ") != "PATH=/bin HOME=/h OAUTHFORM_TOKEN=fresh" {
		t.Errorf("Env = %q", got)
	}
}
