package plan

import "github.com/oauthform/oauthform/internal/state"

// resealReason is why every record of the state prior is resealed under
// the configured key (a rotation, or recording enforcement), "" when it
// is not.
func resealReason(prior *state.Snapshot, opts Options) Reason {
	switch {
	case prior.UnderFallback:
		return ReasonReseal
	case opts.Enforce && opts.Encrypt && prior.Encrypted && !prior.Enforced:
		return ReasonEnforce
	}
	return ""
}
