package emulator

import (
	"context"
	"net"
	"strings"
	"testing"
)

func TestBrowserErrors(t *testing.T) {
	// Nothing listens: the consent page cannot be loaded, and the error
	// does not carry the URL (its state).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	u := "http://" + addr + "/authorize?state=secret-state-value&client_id=x"
	err = Browser{}.Open(context.Background(), u)
	if err == nil {
		t.Fatal("Open succeeded with nothing listening")
	}
	if strings.Contains(err.Error(), "secret-state-value") {
		t.Errorf("the error carries the URL: %v", err)
	}
}
