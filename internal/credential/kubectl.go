package credential

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/oauthform/oauthform/internal/secret"
)

// The ExecCredential API versions kubectl's exec plugins speak
// (k8s.io/client-go/pkg/apis/clientauthentication).
const (
	KubeV1      = "client.authentication.k8s.io/v1"
	KubeV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// ExecInfoEnv is the variable kubectl sets for an exec plugin: an
// ExecCredential whose apiVersion is the version it wants back.
const ExecInfoEnv = "KUBERNETES_EXEC_INFO"

// KubeAPIVersion returns the apiVersion requested in execInfo (the value
// of KUBERNETES_EXEC_INFO), v1 when it is empty, as kubelogin does. An
// unknown version is an error naming the supported ones.
func KubeAPIVersion(execInfo string) (string, error) {
	if execInfo == "" {
		return KubeV1, nil
	}
	var info struct {
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal([]byte(execInfo), &info); err != nil {
		return "", fmt.Errorf("reading %s: not a JSON ExecCredential: %w", ExecInfoEnv, err)
	}
	switch info.APIVersion {
	case KubeV1, KubeV1beta1:
		return info.APIVersion, nil
	case "":
		return KubeV1, nil
	}
	return "", fmt.Errorf("reading %s: kubectl asks for apiVersion %q; oauthform answers %s and %s", ExecInfoEnv, info.APIVersion, KubeV1, KubeV1beta1)
}

// ExecCredential returns the ExecCredential document kubectl reads from
// an exec plugin's standard output: the token, and its expiry (RFC 3339)
// so that kubectl asks again before it expires.
func ExecCredential(apiVersion string, token secret.Secret, expiry time.Time) ([]byte, error) {
	type status struct {
		ExpirationTimestamp string `json:"expirationTimestamp,omitempty"`
		Token               string `json:"token"`
	}
	doc := struct {
		Kind       string   `json:"kind"`
		APIVersion string   `json:"apiVersion"`
		Spec       struct{} `json:"spec"`
		Status     status   `json:"status"`
	}{Kind: "ExecCredential", APIVersion: apiVersion, Status: status{Token: token.Reveal()}}
	if !expiry.IsZero() {
		doc.Status.ExpirationTimestamp = expiry.UTC().Format(time.RFC3339)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the ExecCredential: %w", err)
	}
	return append(b, '\n'), nil
}
