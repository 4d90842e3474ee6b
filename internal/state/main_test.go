package state_test

import (
	"os"
	"testing"

	"github.com/oauthform/oauthform/internal/state/statetest"
)

func TestMain(m *testing.M) { os.Exit(statetest.Main(m)) }
